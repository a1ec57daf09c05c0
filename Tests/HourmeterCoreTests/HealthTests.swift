import Foundation
import Testing
@testable import HourmeterCore

private func sine(amplitude: Double, frequency: Double, samplesPerSecond: Double, seconds: Double) -> [Double] {
    (0..<Int(samplesPerSecond * seconds)).map { amplitude * sin(2 * Double.pi * frequency * Double($0) / samplesPerSecond) }
}

@Suite struct HealthTests {
    @Test func sineFeaturesMatchTheirClosedForms() {
        // Whole periods of a sine of amplitude 3: RMS 3/√2, crest √2, kurtosis 1.5, skewness 0.
        let features = WindowFeatures(sine(amplitude: 3, frequency: 50, samplesPerSecond: 10_000, seconds: 1))
        #expect(abs(features.rms - 3 / 2.0.squareRoot()) < 1e-9)
        #expect(abs(features.crestFactor - 2.0.squareRoot()) < 1e-6)
        #expect(abs(features.kurtosis - 1.5) < 1e-6 && abs(features.excessKurtosis + 1.5) < 1e-6)
        #expect(abs(features.skewness) < 1e-9 && abs(features.mean) < 1e-9)
        #expect(abs(features.peak - 3) < 1e-6 && abs(features.peakToPeak - 6) < 1e-6)
        #expect(abs(features.standardDeviation - features.rms) < 1e-9)
    }

    @Test func gaussianNoiseHasKurtosisNearThree() {
        var random = SeededRandom(seed: 42)
        let noise: [Double] = (0..<200_000).map { _ in random.gaussian() }
        let features = WindowFeatures(noise)
        #expect(abs(features.kurtosis - 3) < 0.05 && abs(features.excessKurtosis) < 0.05)
        #expect(abs(features.standardDeviation - 1) < 0.01 && abs(features.skewness) < 0.03)
    }

    @Test func cleaningCountsWhatItDropsAndReplacesSpikes() {
        let dropped = SignalCleaning.dropInvalid([1, .nan, 2, .infinity, -500, 3], range: -100...100)
        #expect(dropped.values == [1, 2, 3] && dropped.nonFinite == 2 && dropped.outOfRange == 1)
        var values = sine(amplitude: 1, frequency: 5, samplesPerSecond: 1_000, seconds: 1)
        values[300] = 40  // a spike
        let filtered = SignalCleaning.hampel(values, halfWindow: 5, threshold: 3)
        #expect(filtered.replaced == 1 && abs(filtered.values[300] - values[299]) < 0.1)
        // Linear resampling of a ramp stays on the ramp.
        let resampled = SignalCleaning.resample(times: [0, 0.3, 1], values: [0, 3, 10], samplesPerSecond: 10)
        #expect(resampled.count == 11 && abs(resampled[5] - 5) < 1e-9 && abs(resampled[10] - 10) < 1e-9)
    }

    @Test func velocityFromASineAcceleration() {
        // a(t) = A sin(ωt) integrates to v = −A/ω cos(ωt): RMS A/(ω√2). 100 Hz, A = 10 m/s².
        let samplesPerSecond = 20_000.0, frequency = 100.0
        let velocity = VibrationVelocity.fromAcceleration(sine(amplitude: 10, frequency: frequency, samplesPerSecond: samplesPerSecond, seconds: 2), samplesPerSecond: samplesPerSecond, cutoffHz: 2)
        let settled = Array(velocity.suffix(Int(samplesPerSecond)))  // after the filter settles
        let expected = 10 / (2 * Double.pi * frequency) / 2.0.squareRoot() * 1000  // mm/s
        #expect(abs(WindowFeatures(settled).rms - expected) / expected < 0.02)
    }

    @Test(arguments: [(2.29, SeverityZone.a), (2.3, .b), (4.49, .b), (4.5, .c), (7.09, .c), (7.1, .d), (30, .d)])
    func zonesChangeExactlyAtTheirBoundaries(velocity: Double, zone: SeverityZone) throws {
        let boundaries = try #require(ZoneBoundaries.iso10816(group: 1, foundation: .rigid))
        #expect(boundaries.zone(ofVelocityRMS: velocity) == zone)
    }

    @Test func theTableAndTheHealthIndex() throws {
        #expect(ZoneBoundaries.iso10816(group: 1, foundation: .flexible) == ZoneBoundaries(ab: 3.5, bc: 7.1, cd: 11.0))
        #expect(ZoneBoundaries.iso10816(group: 2, foundation: .rigid) == ZoneBoundaries(ab: 1.4, bc: 2.8, cd: 4.5))
        #expect(ZoneBoundaries.iso10816(group: 2, foundation: .flexible) == ZoneBoundaries(ab: 2.3, bc: 4.5, cd: 7.1))
        #expect(ZoneBoundaries.iso10816(group: 3, foundation: .rigid) == nil)
        let boundaries = try #require(ZoneBoundaries.iso10816(group: 1, foundation: .rigid))
        // Healthy: every score 1 → 100. At the C/D boundary, kurtosis 8, temperature at its limit → 0.
        #expect(HealthIndex.compute(velocityRMS: 1, kurtosis: 3, temperature: 40, boundaries: boundaries, normalTemperature: 60, maximumTemperature: 90) == 100)
        #expect(HealthIndex.compute(velocityRMS: 7.1, kurtosis: 8, temperature: 90, boundaries: boundaries, normalTemperature: 60, maximumTemperature: 90) == 0)
        // Halfway on velocity only: (7.1 − 2.3)/2 above A/B → velocity score 0.5 → 100 − 30 = 70.
        #expect(HealthIndex.compute(velocityRMS: 4.7, kurtosis: 3, temperature: 40, boundaries: boundaries, normalTemperature: 60, maximumTemperature: 90) == 70)
    }

    @Test func stateHasHysteresisAndAccountsTimeAndEnergy() {
        var machine = DeviceStateMachine(idleFrom: 1, runningFrom: 10, peakFrom: 50, hysteresis: 0.2)
        // Hovering around the running threshold does not flap: 10 enters running, 9 and 8.5 stay
        // (≥ 8), 7.9 leaves; peak stays down to 40; idle stays down to 0.8, and 0 is off.
        for (load, expected) in [(0.5, DeviceStateMachine.State.off), (10, .running), (9, .running), (8.5, .running), (7.9, .idle),
                                 (9.9, .idle), (10, .running), (55, .peak), (48.5, .peak), (39.9, .running), (0.9, .off),
                                 (2, .idle), (0.85, .idle), (0, .off)] {
            machine.observe(load: load, seconds: 60)
            #expect(machine.state == expected, "load \(load)")
        }
        #expect(machine.seconds[.running] == 5 * 60 && machine.seconds[.peak] == 120 && machine.seconds[.idle] == 240 && machine.seconds[.off] == 180)
        // Energy in running: (10 + 9 + 8.5 + 10 + 39.9) kW × 1 min = 77.4 kW·min = 1.29 kWh.
        #expect(abs((machine.energy[.running] ?? 0) - 77.4 / 60) < 1e-9)
    }
}
