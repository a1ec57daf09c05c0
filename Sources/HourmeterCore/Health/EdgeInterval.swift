import Crypto

/// One measuring interval of one device as the edge agent collected it: a short window of
/// vibration at a fixed sampling frequency, and the temperature and load samples of the whole
/// interval (offsets in seconds from its start).
public struct EdgeInterval: Sendable {
    public var serial: String
    public var startMicros: Int64
    public var seconds: Int
    /// Acceleration (m/s²) at `samplesPerSecond`, already resampled.
    public var vibration: [Double]
    public var samplesPerSecond: Double
    public var temperatures: [TimedValue]
    /// Load (kW); each sample holds until the next one or the interval's end.
    public var loads: [TimedValue]

    public struct TimedValue: Sendable, Equatable {
        public var offset: Double
        public var value: Double
        public init(offset: Double, value: Double) { self.offset = offset; self.value = value }
    }

    public init(serial: String, startMicros: Int64, seconds: Int, vibration: [Double], samplesPerSecond: Double,
                temperatures: [TimedValue], loads: [TimedValue]) {
        self.serial = serial
        self.startMicros = startMicros
        self.seconds = seconds
        self.vibration = vibration
        self.samplesPerSecond = samplesPerSecond
        self.temperatures = temperatures
        self.loads = loads
    }
}

/// How the agent judges and reports: cleaning, the health profile it reports zone and index
/// with (the server judges again with the device model's own), and the load thresholds of
/// the device states.
public struct EdgeSettings: Sendable {
    public var cleaning = CleaningSettings()
    public var profile = HealthProfile.standard
    /// kW at which idle, running and peak begin, and the hysteresis below each.
    public var idleFrom = 0.5, runningFrom = 5.0, peakFrom = 40.0, stateHysteresis = 1.0
    public init() {}

    public func stateMachine(resumingIn state: DeviceStateMachine.State = .off) -> DeviceStateMachine {
        DeviceStateMachine(idleFrom: idleFrom, runningFrom: runningFrom, peakFrom: peakFrom, hysteresis: stateHysteresis, state: state)
    }
}

/// A CloudEvent the agent will upload, written once as its final JSON text.
public struct EdgeEvent: Sendable, Equatable {
    public var id: String
    public var type: String
    public var timeMicros: Int64
    public var json: String
}

/// Turns an interval into CloudEvents: one `device.telemetry` (features, index, zone, state)
/// and one `device.usage` per state the device spent time in (run seconds and energy).
///
/// Ids are the SHA-256 of serial, type, interval start and state: processing the same input
/// again gives the same events with the same ids, which the server stores once. Quantities a
/// bill may price (`run_seconds`, `energy_kwh`) are decimal strings, fixed to 3 and 6
/// decimals, so the meter reads them exactly; features are JSON numbers rounded to 6 decimals.
public enum EdgeEvents {
    public static let telemetryType = "device.telemetry"
    public static let usageType = "device.usage"

    public static func source(serial: String) -> String { "hourmeter-edge/\(serial)" }

    public static func build(_ interval: EdgeInterval, settings: EdgeSettings, state machine: inout DeviceStateMachine) -> [EdgeEvent] {
        let vibration = VibrationAnalysis(samples: interval.vibration, samplesPerSecond: interval.samplesPerSecond, settings: settings.cleaning)
        let temperatures = interval.temperatures.filter { $0.value.isFinite }
        let trend = TemperatureTrend.meanAndSlopePerHour(times: temperatures.map(\.offset), values: temperatures.map(\.value))
        let assessment = settings.profile.assess(velocityRMS: vibration.velocityRMS, kurtosis: vibration.acceleration.kurtosis,
                                                 temperature: temperatures.isEmpty ? settings.profile.normalTemperature : trend.mean)
        // Load: each sample holds until the next.
        let loads = interval.loads.filter { $0.value.isFinite && $0.offset >= 0 && $0.offset < Double(interval.seconds) }.sorted { $0.offset < $1.offset }
        for (index, sample) in loads.enumerated() {
            let end = index + 1 < loads.count ? loads[index + 1].offset : Double(interval.seconds)
            machine.observe(load: sample.value, seconds: end - sample.offset)
        }
        let totals = machine.takeTotals()

        let acceleration = vibration.acceleration
        var data: [String: Any] = [
            "interval_seconds": interval.seconds,
            "samples": acceleration.count,
            "velocity_rms_mm_s": rounded(vibration.velocityRMS),
            "acceleration": [
                "mean": rounded(acceleration.mean), "standard_deviation": rounded(acceleration.standardDeviation),
                "rms": rounded(acceleration.rms), "peak": rounded(acceleration.peak), "peak_to_peak": rounded(acceleration.peakToPeak),
                "crest_factor": rounded(acceleration.crestFactor), "kurtosis": rounded(acceleration.kurtosis),
                "excess_kurtosis": rounded(acceleration.excessKurtosis), "skewness": rounded(acceleration.skewness),
            ] as [String: Any],
            "cleaning": ["dropped_non_finite": vibration.droppedNonFinite, "dropped_out_of_range": vibration.droppedOutOfRange,
                         "outliers_replaced": vibration.outliersReplaced],
            "health_index": assessment.index,
            "zone": assessment.zone.rawValue,
            "state": machine.state.rawValue,
        ]
        if !temperatures.isEmpty {
            data["temperature_c"] = ["mean": rounded(trend.mean), "slope_per_hour": rounded(trend.slopePerHour)]
        }
        var events = [event(interval, type: telemetryType, discriminator: "", data: data)]
        for state in DeviceStateMachine.State.allCases {
            guard let seconds = totals.seconds[state], seconds > 0 else { continue }
            let energy = totals.energy[state] ?? 0
            events.append(event(interval, type: usageType, discriminator: state.rawValue, data: [
                "state": state.rawValue,
                "run_seconds": fixed(seconds, digits: 3),
                "energy_kwh": fixed(energy, digits: 6),
            ]))
        }
        return events
    }

    static func event(_ interval: EdgeInterval, type: String, discriminator: String, data: [String: Any]) -> EdgeEvent {
        let identity = "\(interval.serial)|\(type)|\(interval.startMicros)|\(discriminator)"
        let id = Array(SHA256.hash(data: Array(identity.utf8)).prefix(16)).hexString
        let json = JSONText.serialize([
            "specversion": "1.0", "id": id, "source": source(serial: interval.serial), "type": type,
            "subject": interval.serial, "time": RFC3339.format(microseconds: interval.startMicros), "data": data,
        ] as [String: Any])
        return EdgeEvent(id: id, type: type, timeMicros: interval.startMicros, json: json)
    }

    static func rounded(_ value: Double) -> Double {
        guard value.isFinite else { return 0 }
        return (value * 1_000_000).rounded() / 1_000_000
    }

    /// A non-negative quantity as a decimal string with `digits` decimals (rounded half away
    /// from zero in the binary value's own digits: measured, not money).
    static func fixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let units = Int64((max(0, value) * scale).rounded())
        var fraction = String(units % Int64(scale))
        fraction = String(repeating: "0", count: digits - fraction.count) + fraction
        return "\(units / Int64(scale)).\(fraction)"
    }
}
