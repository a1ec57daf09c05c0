/// Groups a device's raw samples (time, channel, value), as they stream in, into measuring
/// intervals aligned to multiples of `intervalSeconds` since the epoch. Vibration is kept for
/// the first `windowSeconds` of each interval and resampled to `samplesPerSecond`;
/// temperature, power and the state signal (current or speed, when the state follows one of
/// them) are kept for the whole interval. Invalid vibration samples (NaN, infinite, out of
/// range) are dropped and counted before resampling, so none is blended into its neighbours.
/// The last power and state-signal samples carry into the next interval when it follows
/// directly (a machine's load does not reset at a minute boundary). The interval still open
/// when the input ends is emitted with its time accounted up to its last sample; samples for it
/// in a later run count as already sent.
///
/// Input is expected roughly in time order, as a sensor produces it: a sample for an interval
/// already emitted is counted as late and dropped (its interval's events are gone), never
/// folded into a later one. A sample stamped beyond `latestMicros` (a clock glitch far in the
/// future) is counted and dropped, so it cannot close the interval and silence the device.
public struct IntervalAssembler: Sendable {
    public let serial: String
    public let intervalSeconds: Int
    public let windowSeconds: Double
    public let samplesPerSecond: Double
    /// The channel the device state follows (`.load` for power).
    public let stateChannel: Channel
    /// Intervals starting at or before this were emitted by an earlier run; their samples are skipped.
    public var resumeAfterMicros: Int64?
    /// Samples after this are clock glitches (the agent sets the wall clock plus a margin).
    public var latestMicros: Int64 = .max
    /// Physically possible acceleration (m/s²).
    public var vibrationRange: ClosedRange<Double> = -500...500

    public private(set) var late = 0
    public private(set) var future = 0
    public private(set) var unknownChannel = 0
    public private(set) var skippedAsDone = 0
    /// What carries into the next interval: its start and the last power and state-signal values.
    public var carried: Carry?

    public struct Carry: Sendable, Equatable {
        public var nextStartMicros: Int64
        public var load: Double?
        public var signal: Double?
        public init(nextStartMicros: Int64, load: Double?, signal: Double?) {
            self.nextStartMicros = nextStartMicros
            self.load = load
            self.signal = signal
        }
    }

    var start: Int64?
    var vibrationTimes: [Double] = []
    var vibrationValues: [Double] = []
    var temperatures: [EdgeInterval.TimedValue] = []
    var loads: [EdgeInterval.TimedValue] = []
    var stateSignal: [EdgeInterval.TimedValue] = []
    var lastOffset = 0.0
    var droppedNonFinite = 0
    var droppedOutOfRange = 0

    public enum Channel: String, Sendable, CaseIterable {
        /// Acceleration, m/s².
        case vibration
        /// °C.
        case temperature
        /// Power drawn, kW.
        case load
        /// Motor current, A.
        case current
        /// Shaft or spindle speed, rpm.
        case speed

        /// The names a CSV may use for each channel.
        public init?(name: Substring) {
            switch name.lowercased() {
            case "vibration", "acceleration", "accel": self = .vibration
            case "temperature", "temp": self = .temperature
            case "load", "power": self = .load
            case "current": self = .current
            case "speed", "rpm": self = .speed
            default: return nil
            }
        }
    }

    public init(serial: String, intervalSeconds: Int, windowSeconds: Double, samplesPerSecond: Double, stateChannel: Channel = .load,
                resumeAfterMicros: Int64? = nil) {
        self.serial = serial
        self.stateChannel = stateChannel
        self.intervalSeconds = intervalSeconds
        self.windowSeconds = windowSeconds
        self.samplesPerSecond = samplesPerSecond
        self.resumeAfterMicros = resumeAfterMicros
    }

    var intervalMicros: Int64 { Int64(intervalSeconds) * 1_000_000 }

    /// Adds a sample; returns the previous interval when this sample starts a new one.
    public mutating func add(timeMicros: Int64, channel name: Substring, value: Double) -> EdgeInterval? {
        guard let channel = Channel(name: name) else { unknownChannel += 1; return nil }
        if timeMicros > latestMicros { future += 1; return nil }
        let intervalStart = timeMicros - ((timeMicros % intervalMicros) + intervalMicros) % intervalMicros
        if let resumeAfterMicros, intervalStart <= resumeAfterMicros { skippedAsDone += 1; return nil }
        var finished: EdgeInterval?
        if let start {
            if intervalStart < start { late += 1; return nil }
            if intervalStart > start { finished = close(accountedUntil: nil) }
        }
        if start == nil { begin(intervalStart) }
        let offset = Double(timeMicros - intervalStart) / 1_000_000
        lastOffset = max(lastOffset, offset)
        switch channel {
        case .vibration:
            guard offset < windowSeconds else { break }
            if !value.isFinite { droppedNonFinite += 1 } else if !vibrationRange.contains(value) { droppedOutOfRange += 1 } else {
                vibrationTimes.append(offset)
                vibrationValues.append(value)
            }
        case .temperature: temperatures.append(.init(offset: offset, value: value))
        case .load: loads.append(.init(offset: offset, value: value))
        case .current, .speed:
            // Only the signal the state follows is kept; the other is not used.
            if channel == stateChannel { stateSignal.append(.init(offset: offset, value: value)) } else { unknownChannel += 1 }
        }
        return finished
    }

    /// The interval still open when the input ends, accounted up to its last sample; nil when none.
    public mutating func finish() -> EdgeInterval? {
        guard start != nil else { return nil }
        return close(accountedUntil: lastOffset)
    }

    /// Starts collecting the interval at `intervalStart`, with the values carried from the one
    /// just before it.
    mutating func begin(_ intervalStart: Int64) {
        start = intervalStart
        lastOffset = 0
        if let carried, carried.nextStartMicros == intervalStart {
            if let load = carried.load { loads.append(.init(offset: 0, value: load)) }
            if let signal = carried.signal { stateSignal.append(.init(offset: 0, value: signal)) }
        }
    }

    mutating func close(accountedUntil: Double?) -> EdgeInterval {
        let start = self.start!
        // Resampling needs increasing times; a sensor's own order is kept for equal stamps.
        let order = vibrationTimes.indices.sorted { (vibrationTimes[$0], $0) < (vibrationTimes[$1], $1) }
        var times: [Double] = [], values: [Double] = []
        for index in order where times.last.map({ vibrationTimes[index] > $0 }) ?? true {
            times.append(vibrationTimes[index])
            values.append(vibrationValues[index])
        }
        let vibration = times.count >= 2 ? SignalCleaning.resample(times: times, values: values, samplesPerSecond: samplesPerSecond) : []
        var interval = EdgeInterval(serial: serial, startMicros: start, seconds: intervalSeconds, vibration: vibration,
                                    samplesPerSecond: samplesPerSecond, temperatures: temperatures, loads: loads,
                                    stateSignal: stateChannel == .load ? nil : stateSignal)
        interval.accountedUntil = accountedUntil
        interval.droppedNonFinite = droppedNonFinite
        interval.droppedOutOfRange = droppedOutOfRange
        let last = { (samples: [EdgeInterval.TimedValue]) in samples.max { $0.offset < $1.offset }?.value }
        carried = Carry(nextStartMicros: start + intervalMicros, load: last(loads), signal: last(stateSignal))
        self.start = nil
        vibrationTimes = []; vibrationValues = []; temperatures = []; loads = []; stateSignal = []
        droppedNonFinite = 0; droppedOutOfRange = 0
        return interval
    }
}
