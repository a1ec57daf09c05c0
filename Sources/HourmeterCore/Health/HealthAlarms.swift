/// Alarms on a device's health, one open alarm per device and kind. A pure state machine: the
/// server feeds it each new telemetry window in time order and records what it returns.
///
/// Raising is immediate; clearing needs the device to recover past a margin (hysteresis), so
/// a machine hovering at a boundary raises one alarm that stays open rather than a storm of
/// raise/clear pairs:
/// - `vibration_zone`: raised on entering zone C or D; escalated from C to D; cleared once the
///   velocity is below 90 % of the B/C boundary.
/// - `health_index`: raised when the index falls below the profile's threshold; cleared once it
///   is back at the threshold + 10.
public enum AlarmKind: String, Sendable, CaseIterable {
    case vibrationZone = "vibration_zone"
    case healthIndex = "health_index"
}

/// What an open alarm remembers between windows.
public struct OpenAlarm: Sendable, Equatable {
    public var kind: AlarmKind
    /// "C" or "D" for a zone alarm, "low" for an index alarm.
    public var severity: String
    public init(kind: AlarmKind, severity: String) { self.kind = kind; self.severity = severity }
}

public enum AlarmTransition: Sendable, Equatable {
    case raised(AlarmKind, severity: String)
    /// Still open and seen again in this window; `severity` may be worse than before (escalated).
    case updated(AlarmKind, severity: String, escalated: Bool)
    case cleared(AlarmKind)

    public var kind: AlarmKind {
        switch self {
        case .raised(let kind, _), .updated(let kind, _, _), .cleared(let kind): kind
        }
    }

    /// The event type recorded for it (`alarm.raised`, `alarm.escalated`, `alarm.cleared`);
    /// nil for a repeat, which only updates the open alarm.
    public var eventType: String? {
        switch self {
        case .raised: "alarm.raised"
        case .updated(_, _, let escalated): escalated ? "alarm.escalated" : nil
        case .cleared: "alarm.cleared"
        }
    }
}

public enum HealthAlarms {
    /// How far below the B/C boundary (as a fraction of it) the velocity must fall to clear.
    public static let zoneClearMargin = 0.1
    /// How far above the threshold the index must rise to clear.
    public static let indexClearMargin = 10.0

    /// The transitions one window causes, given the alarms open before it.
    public static func evaluate(open: [AlarmKind: OpenAlarm], assessment: HealthAssessment, profile: HealthProfile) -> [AlarmTransition] {
        var transitions: [AlarmTransition] = []
        // Vibration zone.
        let zoneSeverity = assessment.zone >= .c ? assessment.zone.rawValue : nil
        if let current = open[.vibrationZone] {
            if let zoneSeverity {
                let worse = zoneSeverity > current.severity
                transitions.append(.updated(.vibrationZone, severity: worse ? zoneSeverity : current.severity, escalated: worse))
            } else if assessment.velocityRMS < profile.boundaries.bc * (1 - zoneClearMargin) {
                transitions.append(.cleared(.vibrationZone))
            }  // between: recovering, but not past the margin; the alarm stays as it is
        } else if let zoneSeverity {
            transitions.append(.raised(.vibrationZone, severity: zoneSeverity))
        }
        // Health index.
        let low = assessment.index < profile.alarmIndexBelow
        if open[.healthIndex] != nil {
            if assessment.index >= profile.alarmIndexBelow + indexClearMargin {
                transitions.append(.cleared(.healthIndex))
            } else if low {
                transitions.append(.updated(.healthIndex, severity: "low", escalated: false))
            }
        } else if low {
            transitions.append(.raised(.healthIndex, severity: "low"))
        }
        return transitions
    }
}
