#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A simulated machine for `hourmeter edge --simulate` and the demo: raw samples as a real
/// sensor box would produce them (noise, the odd spike and dropout included), so the whole
/// cleaning and feature path runs on them.
///
/// Deterministic: the interval starting at t is drawn from a generator seeded by (seed, serial,
/// t ÷ interval) alone, and the bearing's wear depends only on t's distance from the wear's
/// start, so any interval can be produced again without the ones before it, whatever range a
/// run covers: a resumed or repeated agent produces exactly what it would have.
public struct DeviceSimulator: Sendable {
    public enum Scenario: String, Sendable, CaseIterable {
        /// Zone A vibration, normal temperature, a working day of idle, running and some peak.
        case healthy
        /// Starts healthy; a bearing defect grows over `wearDays` from `wearStartMicros`:
        /// vibration climbs through zones B and C into D, impacts raise the kurtosis, the
        /// bearing warms.
        case bearingWear = "bearing-wear"
        /// Driven beyond its rating: long stretches at peak load, hot, vibration in zone B–C.
        case overload
    }

    public var scenario: Scenario
    public var seed: UInt64
    public var serial: String
    public var intervalSeconds: Int
    /// Seconds of vibration sampled at the start of each interval.
    public var windowSeconds: Double
    public var samplesPerSecond: Double
    /// When the bearing starts to wear, and how many days until it is worn out.
    public var wearStartMicros: Int64
    public var wearDays: Double

    public init(scenario: Scenario, seed: UInt64, serial: String, intervalSeconds: Int = 60, windowSeconds: Double = 1,
                samplesPerSecond: Double = 2048, wearStartMicros: Int64 = 0, wearDays: Double = 14) {
        self.scenario = scenario
        self.seed = seed
        self.serial = serial
        self.intervalSeconds = intervalSeconds
        self.windowSeconds = windowSeconds
        self.samplesPerSecond = samplesPerSecond
        self.wearStartMicros = wearStartMicros
        self.wearDays = wearDays
    }

    var intervalMicros: Int64 { Int64(intervalSeconds) * 1_000_000 }

    /// The starts of the intervals within `[from, to)`, aligned to the interval length.
    public func intervalStarts(fromMicros: Int64, toMicros: Int64) -> StrideTo<Int64> {
        let first = (fromMicros + intervalMicros - 1) / intervalMicros * intervalMicros
        return stride(from: first, to: toMicros - intervalMicros + 1, by: Int(intervalMicros))
    }

    /// Shaft speed: 1500 rpm.
    static let shaftHz = 25.0
    /// Outer-race defect frequency of the simulated bearing.
    static let bearingDefectHz = 87.0

    /// The interval starting at `start` (a multiple of the interval length).
    public func interval(at start: Int64) -> EdgeInterval {
        var random = SeededRandom(seed: seed, Self.fnv1a(serial), UInt64(bitPattern: start / intervalMicros))
        let progress = min(1, max(0, Double(start - wearStartMicros) / (wearDays * 86_400_000_000)))
        let hour = Int((start / 3_600_000_000) % 24)

        // Load over the interval from the hour of the (UTC) day, and temperature: a sample every
        // 10 s, or 60 per interval for long intervals (the box reports in proportion).
        let every = Double(max(10, intervalSeconds / 60))
        var loads: [EdgeInterval.TimedValue] = []
        var offset = 0.0
        while offset < Double(intervalSeconds) {
            loads.append(.init(offset: offset, value: load(hour: hour, random: &random)))
            offset += every
        }
        let meanLoad = loads.reduce(0) { $0 + $1.value } / Double(max(1, loads.count))

        // Vibration: velocity RMS from the load and the scenario, as a shaft sine with a
        // harmonic, plus noise, plus bearing impacts when worn.
        let loadFactor = meanLoad < 0.5 ? 0.05 : min(1.4, 0.35 + meanLoad / 30)
        var velocityRMS: Double, impacts: Double, temperature: Double
        switch scenario {
        case .healthy:
            velocityRMS = 0.9 * loadFactor; impacts = 0; temperature = 38 + meanLoad * 0.4
        case .bearingWear:
            let wear = progress * progress
            velocityRMS = (0.9 + 5.5 * wear) * max(loadFactor, meanLoad < 0.5 ? 0.05 : 0.8)
            impacts = 12 * wear * (meanLoad < 0.5 ? 0 : 1)
            temperature = 40 + meanLoad * 0.4 + 25 * wear
        case .overload:
            velocityRMS = 2.4 * loadFactor; impacts = 0; temperature = 55 + meanLoad * 0.5
        }
        let count = Int(windowSeconds * samplesPerSecond)
        var vibration = [Double](repeating: 0, count: count)
        let omega = 2 * Double.pi * Self.shaftHz
        // Velocity amplitude √2·v (mm/s) at ω gives acceleration amplitude ω·√2·v/1000 (m/s²).
        let amplitude = omega * 2.0.squareRoot() * velocityRMS / 1000
        let phase = random.unit() * 2 * Double.pi
        let impactPeriod = Int(samplesPerSecond / Self.bearingDefectHz)
        for sample in 0..<count {
            let t = Double(sample) / samplesPerSecond
            var value = amplitude * sin(omega * t + phase) + 0.3 * amplitude * sin(2 * omega * t)
            value += 0.02 * random.gaussian() + 0.05 * amplitude * random.gaussian()
            vibration[sample] = value
        }
        // Bearing impacts ring the structure: a decaying burst at a resonance near a quarter of
        // the sampling frequency, a dozen samples long. (A one-sample spike would be a sensor
        // glitch, and the Hampel filter would rightly remove it.)
        if impacts > 0, impactPeriod > 0 {
            var at = 0
            while at < count {
                let strength = impacts * (0.5 + random.unit())
                // A ring shorter than the gap between impacts, so they stay impacts at any sampling.
                for k in 0..<min(max(3, min(12, impactPeriod / 2)), count - at) {
                    vibration[at + k] += strength * exp(-Double(k) / 3) * sin(2 * Double.pi * 0.23 * Double(k) + 0.4)
                }
                at += impactPeriod
            }
        }
        // A sensor box's faults: a rare dropout (NaN), a rare electrical spike.
        if count > 0, random.unit() < 0.05 { vibration[Int(random.next() % UInt64(count))] = .nan }
        if count > 0, random.unit() < 0.1 { vibration[Int(random.next() % UInt64(count))] = 900 }

        var temperatures: [EdgeInterval.TimedValue] = []
        offset = 0
        while offset < Double(intervalSeconds) {
            temperatures.append(.init(offset: offset, value: temperature + 0.3 * random.gaussian()))
            offset += every
        }
        return EdgeInterval(serial: serial, startMicros: start, seconds: intervalSeconds, vibration: vibration,
                            samplesPerSecond: samplesPerSecond, temperatures: temperatures, loads: loads)
    }

    /// kW by hour of day: off at night, a day shift with a lunch break idling, some peaks.
    func load(hour: Int, random: inout SeededRandom) -> Double {
        let working = (7..<19).contains(hour)
        guard working else { return 0 }
        if hour == 12 { return 1.5 + random.unit() }
        let draw = random.unit()
        switch scenario {
        case .overload:
            return draw < 0.55 ? 48 + 10 * random.unit() : 22 + 8 * random.unit()
        case .healthy, .bearingWear:
            if draw < 0.1 { return 42 + 6 * random.unit() }
            if draw < 0.2 { return 1 + 2 * random.unit() }
            return 15 + 10 * random.unit()
        }
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}
