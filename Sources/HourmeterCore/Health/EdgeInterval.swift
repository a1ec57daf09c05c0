import Crypto
import Foundation

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
    /// Power drawn (kW); each sample holds until the next one or the interval's end.
    public var loads: [TimedValue]
    /// The signal the state follows when it is not the power: motor current (A) or spindle
    /// speed (rpm), held the same way. Nil: the state follows `loads`.
    public var stateSignal: [TimedValue]?
    /// Where accounting ends (offset, seconds) when the input ended inside the interval; nil:
    /// at the interval's end.
    public var accountedUntil: Double?
    /// Vibration samples dropped before resampling (they must not be blended into neighbours).
    public var droppedNonFinite = 0
    public var droppedOutOfRange = 0

    public struct TimedValue: Sendable, Equatable {
        public var offset: Double
        public var value: Double
        public init(offset: Double, value: Double) { self.offset = offset; self.value = value }
    }

    public init(serial: String, startMicros: Int64, seconds: Int, vibration: [Double], samplesPerSecond: Double,
                temperatures: [TimedValue], loads: [TimedValue], stateSignal: [TimedValue]? = nil) {
        self.serial = serial
        self.startMicros = startMicros
        self.seconds = seconds
        self.vibration = vibration
        self.samplesPerSecond = samplesPerSecond
        self.temperatures = temperatures
        self.loads = loads
        self.stateSignal = stateSignal
    }
}

/// How the agent judges and reports: cleaning, the health profile it reports zone and index
/// with (the server judges again with the device model's own), and the load thresholds of
/// the device states.
public struct EdgeSettings: Sendable {
    public var cleaning = CleaningSettings()
    public var profile = HealthProfile.standard
    /// Where idle, running and peak begin on the state signal (kW for power, the default; A for
    /// current; rpm for speed), and the hysteresis below each as a fraction of the threshold.
    public var idleFrom = 0.5, runningFrom = 5.0, peakFrom = 40.0, stateHysteresis = 0.1
    /// Longest a power or state-signal sample is held (seconds): past it, without a newer
    /// sample, time is not accounted rather than invented.
    public var maxHoldSeconds = 120.0
    /// Physically possible power or state-signal values; others are sensor faults, ignored.
    public var signalRange: ClosedRange<Double> = 0...1_000_000
    /// Fewer vibration samples than this in a window: no features, zone or index are reported
    /// (a silent accelerometer is not a healthy machine).
    public var minimumVibrationSamples = 64
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
    /// For `device.usage`: what it measured, as written in `json`.
    public var usage: Usage?

    public struct Usage: Sendable, Equatable {
        public var state: String
        public var runSeconds: String
        public var energyKWh: String
    }
}

/// Turns an interval into CloudEvents: one `device.telemetry` (features, index, zone, state)
/// and one `device.usage` per state the device spent time in (run seconds and energy).
///
/// Ids are the SHA-256 of serial, type, interval start and state: processing the same input
/// again gives the same events with the same ids, which the server stores once. Quantities a
/// bill may price (`run_seconds`, `run_hours`, `energy_kwh`) are decimal strings, fixed to 3,
/// 6 and 6 decimals, so the meter reads them exactly (plans usually price hours); features are
/// JSON numbers rounded to 6 decimals.
public enum EdgeEvents {
    public static let telemetryType = "device.telemetry"
    public static let usageType = "device.usage"

    public static func source(serial: String) -> String { "hourmeter-edge/\(serial)" }

    public static func build(_ interval: EdgeInterval, settings: EdgeSettings, state machine: inout DeviceStateMachine) -> [EdgeEvent] {
        let temperatures = interval.temperatures.filter { $0.value.isFinite }
        let trend = TemperatureTrend.meanAndSlopePerHour(times: temperatures.map(\.offset), values: temperatures.map(\.value))

        // The state signal drives the state; power is accounted to it. Each sample holds until
        // the next one of its signal (at most `maxHoldSeconds`); the interval is cut wherever
        // either signal changes. The state reported with the vibration is the one its window
        // was taken in (a machine switched on later in the interval was at rest then).
        let end = min(Double(interval.seconds), interval.accountedUntil ?? Double(interval.seconds))
        func usable(_ samples: [EdgeInterval.TimedValue]) -> [EdgeInterval.TimedValue] {
            samples.filter { settings.signalRange.contains($0.value) && $0.offset >= 0 && $0.offset < end }.sorted { $0.offset < $1.offset }
        }
        let windowEnd = interval.samplesPerSecond > 0 ? Double(interval.vibration.count) / interval.samplesPerSecond : 0
        var windowState = machine.state
        let power = usable(interval.loads)
        let driverSignal = interval.stateSignal.map(usable) ?? power
        let cuts = Array(Set(driverSignal.map(\.offset) + power.map(\.offset))).sorted().filter { $0 >= (driverSignal.first?.offset ?? .infinity) }
        var driver = 0, drawn = -1
        for (index, cut) in cuts.enumerated() {
            while driver + 1 < driverSignal.count, driverSignal[driver + 1].offset <= cut { driver += 1 }
            while drawn + 1 < power.count, power[drawn + 1].offset <= cut { drawn += 1 }
            let next = index + 1 < cuts.count ? cuts[index + 1] : end
            let held = min(next, driverSignal[driver].offset + settings.maxHoldSeconds) - cut
            let powerHeld = drawn >= 0 && cut - power[drawn].offset < settings.maxHoldSeconds ? power[drawn].value : 0
            if held > 0 { machine.observe(load: driverSignal[driver].value, seconds: held, power: powerHeld) }
            if cut < max(windowEnd, 1e-9) { windowState = machine.state }
        }
        let totals = machine.takeTotals()

        var data: [String: Any] = [
            "interval_seconds": interval.seconds,
            "state": windowState.rawValue,
            "state_at_end": machine.state.rawValue,
        ]
        if interval.vibration.count >= settings.minimumVibrationSamples {
            let vibration = VibrationAnalysis(samples: interval.vibration, samplesPerSecond: interval.samplesPerSecond, settings: settings.cleaning)
            let acceleration = vibration.acceleration
            let assessment = settings.profile.assess(velocityRMS: vibration.velocityRMS, kurtosis: acceleration.kurtosis,
                                                     temperature: temperatures.isEmpty ? settings.profile.normalTemperature : trend.mean)
            data["samples"] = acceleration.count
            data["velocity_rms_mm_s"] = rounded(vibration.velocityRMS)
            data["acceleration"] = [
                "mean": rounded(acceleration.mean), "standard_deviation": rounded(acceleration.standardDeviation),
                "rms": rounded(acceleration.rms), "peak": rounded(acceleration.peak), "peak_to_peak": rounded(acceleration.peakToPeak),
                "crest_factor": rounded(acceleration.crestFactor), "kurtosis": rounded(acceleration.kurtosis),
                "excess_kurtosis": rounded(acceleration.excessKurtosis), "skewness": rounded(acceleration.skewness),
            ] as [String: Any]
            data["cleaning"] = ["dropped_non_finite": vibration.droppedNonFinite + interval.droppedNonFinite,
                                "dropped_out_of_range": vibration.droppedOutOfRange + interval.droppedOutOfRange,
                                "outliers_replaced": vibration.outliersReplaced]
            data["health_index"] = assessment.index
            data["zone"] = assessment.zone.rawValue
        } else {
            // Too little vibration to judge: say so, and report no zone or index.
            data["samples"] = interval.vibration.count
            data["cleaning"] = ["dropped_non_finite": interval.droppedNonFinite, "dropped_out_of_range": interval.droppedOutOfRange,
                                "outliers_replaced": 0]
        }
        if !temperatures.isEmpty {
            data["temperature_c"] = ["mean": rounded(trend.mean), "slope_per_hour": rounded(trend.slopePerHour)]
        }
        var events = [event(interval, type: telemetryType, discriminator: "", data: data)]
        for state in DeviceStateMachine.State.allCases {
            guard let seconds = totals.seconds[state], seconds > 0 else { continue }
            let usage = EdgeEvent.Usage(state: state.rawValue, runSeconds: fixed(seconds, digits: 3), energyKWh: fixed(totals.energy[state] ?? 0, digits: 6))
            var built = event(interval, type: usageType, discriminator: state.rawValue, data: [
                "state": usage.state, "run_seconds": usage.runSeconds, "energy_kwh": usage.energyKWh,
                "run_hours": fixed(seconds / 3600, digits: 6),
            ])
            built.usage = usage
            events.append(built)
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

    /// A non-negative quantity as a decimal string with `digits` decimals, correctly rounded
    /// from the binary value (measured, not money; the meter reads the string exactly). Never
    /// traps: a sensor's absurd value prints as a long number rather than stopping the agent.
    static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite, value > 0 else { return String(format: "%.*f", digits, 0.0) }
        return String(format: "%.*f", digits, value)
    }
}
