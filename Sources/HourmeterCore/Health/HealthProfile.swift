/// How a device model's health is judged: its vibration zone boundaries, its temperature
/// limits and the index below which an alarm is raised. Stored per device model; the server
/// judges every telemetry window with its device's profile, so a maker can tighten the
/// limits of one model without touching the agents in the field.
public struct HealthProfile: Sendable, Equatable {
    public var boundaries: ZoneBoundaries
    /// °C up to which temperature costs the index nothing.
    public var normalTemperature: Double
    /// °C at which the temperature score reaches 0.
    public var maximumTemperature: Double
    /// An index below this raises a `health_index` alarm.
    public var alarmIndexBelow: Double

    public init(boundaries: ZoneBoundaries, normalTemperature: Double, maximumTemperature: Double, alarmIndexBelow: Double) {
        self.boundaries = boundaries
        self.normalTemperature = normalTemperature
        self.maximumTemperature = maximumTemperature
        self.alarmIndexBelow = alarmIndexBelow
    }

    /// Without a device model's own profile: ISO 10816-3 group 2 (medium machines,
    /// 15–300 kW, which excavators, scanners and machine tools are) on a rigid foundation;
    /// bearings normal to 60 °C and failing at 90 °C; an alarm below index 50.
    public static let standard = HealthProfile(boundaries: ZoneBoundaries.iso10816(group: 2, foundation: .rigid)!,
                                               normalTemperature: 60, maximumTemperature: 90, alarmIndexBelow: 50)

    /// The zone and index of one window, reported together.
    public func assess(velocityRMS: Double, kurtosis: Double, temperature: Double) -> HealthAssessment {
        HealthAssessment(
            velocityRMS: velocityRMS,
            zone: boundaries.zone(ofVelocityRMS: velocityRMS),
            index: HealthIndex.compute(velocityRMS: velocityRMS, kurtosis: kurtosis, temperature: temperature, boundaries: boundaries,
                                       normalTemperature: normalTemperature, maximumTemperature: maximumTemperature))
    }
}

public struct HealthAssessment: Sendable, Equatable {
    public var velocityRMS: Double
    public var zone: SeverityZone
    /// 0 (failed) … 100 (as new), one decimal.
    public var index: Double
}
