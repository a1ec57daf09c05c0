/// Groups a device's raw samples (time, channel, value), as they stream in, into measuring
/// intervals aligned to multiples of `intervalSeconds` since the epoch. Vibration is kept for
/// the first `windowSeconds` of each interval and resampled to `samplesPerSecond`;
/// temperature and load are kept for the whole interval.
///
/// Input is expected roughly in time order, as a sensor produces it: a sample for an interval
/// already emitted is counted as late and dropped (its interval's events are gone), never
/// folded into a later one.
public struct IntervalAssembler: Sendable {
    public let serial: String
    public let intervalSeconds: Int
    public let windowSeconds: Double
    public let samplesPerSecond: Double
    /// Intervals starting at or before this were emitted by an earlier run; their samples are skipped.
    public var resumeAfterMicros: Int64?

    public private(set) var late = 0
    public private(set) var unknownChannel = 0
    public private(set) var skippedAsDone = 0

    var start: Int64?
    var vibrationTimes: [Double] = []
    var vibrationValues: [Double] = []
    var temperatures: [EdgeInterval.TimedValue] = []
    var loads: [EdgeInterval.TimedValue] = []

    public enum Channel: Sendable {
        case vibration, temperature, load
        /// The names a CSV may use for each channel.
        public init?(name: Substring) {
            switch name.lowercased() {
            case "vibration", "acceleration", "accel": self = .vibration
            case "temperature", "temp": self = .temperature
            case "load", "power": self = .load
            default: return nil
            }
        }
    }

    public init(serial: String, intervalSeconds: Int, windowSeconds: Double, samplesPerSecond: Double, resumeAfterMicros: Int64? = nil) {
        self.serial = serial
        self.intervalSeconds = intervalSeconds
        self.windowSeconds = windowSeconds
        self.samplesPerSecond = samplesPerSecond
        self.resumeAfterMicros = resumeAfterMicros
    }

    var intervalMicros: Int64 { Int64(intervalSeconds) * 1_000_000 }

    /// Adds a sample; returns the previous interval when this sample starts a new one.
    public mutating func add(timeMicros: Int64, channel name: Substring, value: Double) -> EdgeInterval? {
        guard let channel = Channel(name: name) else { unknownChannel += 1; return nil }
        let intervalStart = timeMicros - ((timeMicros % intervalMicros) + intervalMicros) % intervalMicros
        if let resumeAfterMicros, intervalStart <= resumeAfterMicros { skippedAsDone += 1; return nil }
        var finished: EdgeInterval?
        if let start {
            if intervalStart < start { late += 1; return nil }
            if intervalStart > start { finished = finish() }
        }
        if start == nil { start = intervalStart }
        let offset = Double(timeMicros - intervalStart) / 1_000_000
        switch channel {
        case .vibration:
            if offset < windowSeconds { vibrationTimes.append(offset); vibrationValues.append(value) }
        case .temperature: temperatures.append(.init(offset: offset, value: value))
        case .load: loads.append(.init(offset: offset, value: value))
        }
        return finished
    }

    /// The interval being collected, complete as far as the input goes (at its end); nil when empty.
    public mutating func finish() -> EdgeInterval? {
        guard let start else { return nil }
        // Resampling needs increasing times; a sensor's own order is kept for equal stamps.
        let order = vibrationTimes.indices.sorted { (vibrationTimes[$0], $0) < (vibrationTimes[$1], $1) }
        var times: [Double] = [], values: [Double] = []
        for index in order where times.last.map({ vibrationTimes[index] > $0 }) ?? true {
            times.append(vibrationTimes[index])
            values.append(vibrationValues[index])
        }
        let vibration = times.count >= 2 ? SignalCleaning.resample(times: times, values: values, samplesPerSecond: samplesPerSecond) : []
        let interval = EdgeInterval(serial: serial, startMicros: start, seconds: intervalSeconds, vibration: vibration,
                                    samplesPerSecond: samplesPerSecond, temperatures: temperatures, loads: loads)
        self.start = nil
        vibrationTimes = []; vibrationValues = []; temperatures = []; loads = []
        return interval
    }
}
