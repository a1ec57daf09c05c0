import ArgumentParser
import Foundation
import HourmeterCore

/// `hourmeter bench edge`: how many raw vibration samples one core cleans and turns into
/// features per second (drop invalid, Hampel filter, window features, velocity by integration
/// and its RMS: `VibrationAnalysis`, the agent's whole per-window hot path).
struct BenchEdge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "Samples/s of cleaning plus features on one core (target ≥ 20,000,000).")

    @Option(help: "Samples per window (the agent's default is 1 s at 2048/s).") var windowSamples = 2048
    @Option(help: "Windows per pass.") var windows = 10_000
    @Option(help: "Passes; the best is reported.") var passes = 3
    @Option(help: "Samples each side of the Hampel window.") var hampelHalfWindow = 3
    @Flag(help: "Also time each stage alone.") var stages = false

    func run() async throws {
        // Raw windows from the bearing-wear simulation (noise, impacts, spikes, dropouts), made
        // before timing starts; 64 distinct ones cycled keeps generation out of the figure.
        let simulator = DeviceSimulator(scenario: .bearingWear, seed: 7, serial: "BENCH-1", intervalSeconds: 3600,
                                        windowSeconds: Double(windowSamples) / 2048, samplesPerSecond: 2048,
                                        wearStartMicros: 1_793_520_000_000_000, wearDays: 64 / 24)
        let raw = (0..<64).map { simulator.interval(at: 1_793_520_000_000_000 + Int64(($0 * 7) % 64) * 3_600_000_000).vibration }
        var settings = CleaningSettings()
        settings.hampelHalfWindow = hampelHalfWindow
        say("bench edge: \(windows) windows of \(windowSamples) samples per pass, Hampel half-window \(hampelHalfWindow), one core")
        var best = 0.0
        var checksum = 0.0
        for pass in 1...passes {
            let start = ContinuousClock.now
            var samples = 0
            for index in 0..<windows {
                let analysis = VibrationAnalysis(samples: raw[index % raw.count], samplesPerSecond: 2048, settings: settings)
                samples += raw[index % raw.count].count
                checksum += analysis.velocityRMS + analysis.acceleration.kurtosis
            }
            let seconds = Percentiles.seconds(ContinuousClock.now - start)
            let rate = Double(samples) / seconds
            best = max(best, rate)
            say(String(format: "pass %d: %d samples in %.3f s = %.1f M samples/s", pass, samples, seconds, rate / 1e6))
        }
        if stages {
            func time(_ name: String, _ body: ([Double]) -> Double) {
                let start = ContinuousClock.now
                var sink = 0.0
                for index in 0..<windows { sink += body(raw[index % raw.count]) }
                let seconds = Percentiles.seconds(ContinuousClock.now - start)
                say(String(format: "  %@: %.1f M samples/s [%.1f]", name, Double(windows * windowSamples) / seconds / 1e6, sink))
            }
            time("dropInvalid") { SignalCleaning.dropInvalid($0, range: -500...500).values.last ?? 0 }
            let valid = raw.map { SignalCleaning.dropInvalid($0, range: -500...500).values }
            var i = 0
            time("hampel") { _ in i += 1; return SignalCleaning.hampel(valid[i % valid.count], halfWindow: hampelHalfWindow, threshold: 3).values.last ?? 0 }
            time("features") { _ in i += 1; return WindowFeatures(valid[i % valid.count]).kurtosis }
            time("velocity") { _ in i += 1; return VibrationVelocity.fromAcceleration(valid[i % valid.count], samplesPerSecond: 2048).last ?? 0 }
        }
        say(String(format: "edge: best %.1f M samples/s of cleaning plus features on one core (target ≥ 20 M) [checksum %.3f]", best / 1e6, checksum))
    }
}
