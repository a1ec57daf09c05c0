import Foundation
import Testing
@testable import HourmeterCore

/// The edge agent's pure parts: the fast Hampel filter against a plain one, alarm hysteresis,
/// health profiles, interval assembly, deterministic events and the simulator.
@Suite struct EdgeTests {
    /// The textbook Hampel filter: sort every window, sort the deviations.
    static func referenceHampel(_ values: [Double], halfWindow: Int, threshold: Double) -> (values: [Double], replaced: Int) {
        var output = values, replaced = 0
        guard values.count > 2 * halfWindow else { return (values, 0) }
        for index in halfWindow..<(values.count - halfWindow) {
            let window = values[(index - halfWindow)...(index + halfWindow)].sorted()
            let median = window[halfWindow]
            let mad = window.map { abs($0 - median) }.sorted()[halfWindow]
            if abs(values[index] - median) > 1.4826 * threshold * mad, mad > 0 {
                output[index] = median
                replaced += 1
            }
        }
        return (output, replaced)
    }

    @Test(arguments: [1, 2, 3, 4, 7])
    func hampelMatchesTheTextbookFilter(halfWindow: Int) {
        var random = SeededRandom(seed: 0x4A3E, UInt64(halfWindow))
        for round in 0..<40 {
            let count = 2 * halfWindow + 1 + Int(random.next() % 400)
            var values = (0..<count).map { _ in random.gaussian() }
            // Spikes, repeated values (ties in the sorted window) and flat runs (MAD 0).
            for _ in 0..<(count / 20) { values[Int(random.next() % UInt64(count))] = 30 * random.gaussian() }
            for _ in 0..<(count / 10) { values[Int(random.next() % UInt64(count))] = 0.5 }
            if round % 5 == 0 { for index in 0..<min(count, 3 * halfWindow) { values[index] = 1 } }
            let fast = SignalCleaning.hampel(values, halfWindow: halfWindow, threshold: 3)
            let reference = Self.referenceHampel(values, halfWindow: halfWindow, threshold: 3)
            #expect(fast.values == reference.values && fast.replaced == reference.replaced, "half window \(halfWindow), round \(round)")
        }
    }

    @Test func vibrationAnalysisFindsTheVelocityOfASineAndCountsWhatItCleans() {
        // 25 Hz acceleration of amplitude A m/s² is a velocity of RMS A/(ω√2)·1000 mm/s.
        let samplesPerSecond = 4096.0, omega = 2 * Double.pi * 25, amplitude = 0.6
        var samples = (0..<8192).map { amplitude * sin(omega * Double($0) / samplesPerSecond) }
        samples[1000] = .nan
        samples[2000] = 900  // outside the ±500 m/s² range
        samples[3000] = 8    // a spike within range: the Hampel filter replaces it
        let analysis = VibrationAnalysis(samples: samples, samplesPerSecond: samplesPerSecond)
        let expected = amplitude / omega / 2.0.squareRoot() * 1000
        #expect(abs(analysis.velocityRMS - expected) / expected < 0.03, "\(analysis.velocityRMS) vs \(expected)")
        #expect(analysis.droppedNonFinite == 1 && analysis.droppedOutOfRange == 1 && analysis.outliersReplaced >= 1)
        #expect(abs(analysis.acceleration.kurtosis - 1.5) < 0.05)
    }

    @Test func zoneAlarmsRiseEscalateAndClearWithHysteresis() {
        let profile = HealthProfile.standard  // group 2 rigid: 1.4 / 2.8 / 4.5 mm/s; clear below 2.52
        var open: [AlarmKind: OpenAlarm] = [:]
        func step(_ velocity: Double, index: Double = 80) -> [AlarmTransition] {
            let assessment = HealthAssessment(velocityRMS: velocity, zone: profile.boundaries.zone(ofVelocityRMS: velocity), index: index)
            let transitions = HealthAlarms.evaluate(open: open, assessment: assessment, profile: profile)
            for transition in transitions {
                switch transition {
                case .raised(let kind, let severity), .updated(let kind, let severity, _): open[kind] = OpenAlarm(kind: kind, severity: severity)
                case .cleared(let kind): open[kind] = nil
                }
            }
            return transitions
        }
        #expect(step(2.79).isEmpty)                                          // zone B: nothing
        #expect(step(2.8) == [.raised(.vibrationZone, severity: "C")])       // the B/C boundary is zone C
        #expect(step(3.0) == [.updated(.vibrationZone, severity: "C", escalated: false)])
        #expect(step(4.5) == [.updated(.vibrationZone, severity: "D", escalated: true)])
        #expect(step(3.0) == [.updated(.vibrationZone, severity: "D", escalated: false)])  // never de-escalated
        #expect(step(2.7).isEmpty && step(2.53).isEmpty)                     // zone B but within the margin: stays open
        #expect(step(2.8) == [.updated(.vibrationZone, severity: "D", escalated: false)])  // one alarm, updated
        #expect(step(2.51) == [.cleared(.vibrationZone)])
        #expect(step(2.6).isEmpty && open.isEmpty)
        // Index: below 50 raises, 50…59.9 keeps it, 60 clears.
        #expect(step(1, index: 49.9) == [.raised(.healthIndex, severity: "low")])
        #expect(step(1, index: 55).isEmpty && step(1, index: 59.9).isEmpty)
        #expect(step(1, index: 60) == [.cleared(.healthIndex)])
        #expect(AlarmTransition.updated(.healthIndex, severity: "low", escalated: false).eventType == nil)
    }

    @Test func healthProfilesReadTheStandardTableOrAMakersOwnBoundaries() throws {
        let flexible = try HealthProfile(document: ["iso_group": 1, "foundation": "flexible", "alarm_index_below": 40])
        #expect(flexible.boundaries == ZoneBoundaries(ab: 3.5, bc: 7.1, cd: 11.0) && flexible.alarmIndexBelow == 40)
        let own = try HealthProfile(document: ["zone_boundaries_mm_s": ["ab": 2, "bc": 4, "cd": 6.5], "temperature_limit_c": 110])
        #expect(own.boundaries.zone(ofVelocityRMS: 4) == .c && own.maximumTemperature == 110 && own.normalTemperature == 60)
        #expect(try HealthProfile(document: own.document) == own)
        let bad: [([String: Any], String)] = [
            (["iso_group": 3], "health_profile.iso_group"),
            (["foundation": "concrete"], "health_profile.foundation"),
            (["zone_boundaries_mm_s": ["ab": 4, "bc": 2, "cd": 6]], "health_profile.zone_boundaries_mm_s"),
            (["zone_boundaries_mm_s": ["ab": 1, "bc": 2]], "health_profile.zone_boundaries_mm_s.cd"),
            (["iso_group": 1, "zone_boundaries_mm_s": ["ab": 1, "bc": 2, "cd": 3]], "health_profile.zone_boundaries_mm_s"),
            (["temperature_normal_c": 80, "temperature_limit_c": 70], "health_profile.temperature_limit_c"),
            (["alarm_index_below": "50"], "health_profile.alarm_index_below"),
            (["alarm_index_below": true], "health_profile.alarm_index_below"),
            (["zones": 1], "health_profile.zones"),
        ]
        for (document, field) in bad {
            #expect(throws: HealthProfileError.self, "\(document)") { try HealthProfile(document: document) }
            do { _ = try HealthProfile(document: document) } catch { #expect(error.field == field, "\(document)") }
        }
    }

    @Test func intervalsCloseWhenTheNextBeginsAndLateSamplesAreCounted() {
        let base: Int64 = 1_790_000_040_000_000  // a multiple of 60 s
        var assembler = IntervalAssembler(serial: "M-1", intervalSeconds: 60, windowSeconds: 1, samplesPerSecond: 100)
        for step in 0..<200 {  // 2 s of vibration at 100/s: only the first second is kept
            #expect(assembler.add(timeMicros: base + Int64(step) * 10_000, channel: "vibration", value: Double(step)) == nil)
        }
        #expect(assembler.add(timeMicros: base + 5_000_000, channel: "load", value: 20) == nil)
        #expect(assembler.add(timeMicros: base + 6_000_000, channel: "temp", value: 41.5) == nil)
        #expect(assembler.add(timeMicros: base + 7_000_000, channel: "humidity", value: 3) == nil)
        let first = assembler.add(timeMicros: base + 61_000_000, channel: "load", value: 0)
        #expect(first?.startMicros == base && first?.vibration.count == 100 && first?.vibration[50] == 50)
        #expect(first?.loads == [.init(offset: 5, value: 20)] && first?.temperatures == [.init(offset: 6, value: 41.5)])
        #expect(assembler.add(timeMicros: base + 30_000_000, channel: "load", value: 9) == nil)  // belongs to the closed interval
        #expect(assembler.late == 1 && assembler.unknownChannel == 1)
        #expect(assembler.finish()?.startMicros == base + 60_000_000)
        // Resuming after an interval skips its samples.
        var resumed = IntervalAssembler(serial: "M-1", intervalSeconds: 60, windowSeconds: 1, samplesPerSecond: 100, resumeAfterMicros: base)
        #expect(resumed.add(timeMicros: base + 1_000, channel: "load", value: 1) == nil && resumed.skippedAsDone == 1)
        #expect(resumed.finish() == nil)
    }

    @Test func theSameInputGivesTheSameEventsAndUsageAddsUpToTheInterval() throws {
        let day: Int64 = 86_400_000_000, minute: Int64 = 60_000_000
        let midnight = 1_790_000_040_000_000 / day * day
        let simulator = DeviceSimulator(scenario: .healthy, seed: 9, serial: "EX-9", intervalSeconds: 60)
        let settings = EdgeSettings()
        var first = settings.stateMachine(), second = settings.stateMachine()
        let noon = midnight + (12 * 60 + 30) * minute  // a working interval
        let once = EdgeEvents.build(simulator.interval(at: noon - minute), settings: settings, state: &first)
            + EdgeEvents.build(simulator.interval(at: noon), settings: settings, state: &first)
        let again = EdgeEvents.build(simulator.interval(at: noon - minute), settings: settings, state: &second)
            + EdgeEvents.build(simulator.interval(at: noon), settings: settings, state: &second)
        #expect(once == again)
        #expect(Set(once.map(\.id)).count == once.count)
        let usage = once.filter { $0.type == EdgeEvents.usageType && $0.timeMicros == noon }
        var seconds = ExactDecimal.zero
        for event in usage {
            let data = try #require((try JSONSerialization.jsonObject(with: Data(event.json.utf8)) as? [String: Any])?["data"] as? [String: Any])
            let text = try #require(data["run_seconds"] as? String)  // a decimal string: exact for the meter
            seconds = try seconds.adding(try #require(ExactDecimal(text)))
            #expect(data["energy_kwh"] is String)
        }
        #expect(seconds == ExactDecimal(60))
        let telemetry = try #require(once.last { $0.type == EdgeEvents.telemetryType })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(telemetry.json.utf8)) as? [String: Any])
        #expect(object["subject"] as? String == "EX-9" && object["source"] as? String == "hourmeter-edge/EX-9")
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["zone"] as? String == "A" && (data["health_index"] as? Double ?? 0) > 90)
        #expect((data["acceleration"] as? [String: Any])?["excess_kurtosis"] != nil)
    }

    @Test func theScenariosBehaveAsNamed() {
        let day: Int64 = 86_400_000_000
        let start: Int64 = 1_790_000_040_000_000 / day * day
        func operatingZones(_ scenario: DeviceSimulator.Scenario) -> (first: SeverityZone, last: SeverityZone, peakSeconds: Double) {
            let simulator = DeviceSimulator(scenario: scenario, seed: 3, serial: "S-1", intervalSeconds: 3600, wearStartMicros: start, wearDays: 20)
            let settings = EdgeSettings()
            var machine = settings.stateMachine()
            var zones: [SeverityZone] = []
            var peak = 0.0
            for at in simulator.intervalStarts(fromMicros: start, toMicros: start + 20 * day) {
                let interval = simulator.interval(at: at)
                for load in interval.loads where load.value >= settings.peakFrom { peak += 10; _ = load }
                let events = EdgeEvents.build(interval, settings: settings, state: &machine)
                let data = (try? JSONSerialization.jsonObject(with: Data(events[0].json.utf8)) as? [String: Any])?["data"] as? [String: Any]
                if let state = data?["state"] as? String, state == "running" || state == "peak", let zone = (data?["zone"] as? String).flatMap(SeverityZone.init) {
                    zones.append(zone)
                }
            }
            return (zones.first ?? .a, zones.last ?? .a, peak)
        }
        let healthy = operatingZones(.healthy), worn = operatingZones(.bearingWear), overload = operatingZones(.overload)
        #expect(healthy.first == .a && healthy.last == .a)
        #expect(worn.first == .a && worn.last == .d)
        #expect(overload.peakSeconds > 3 * healthy.peakSeconds)
        // Deterministic: an interval drawn again is the same, whatever was drawn before.
        // Compared bit for bit: a simulated dropout is a NaN, which == would call unequal to itself.
        func bits(_ simulator: DeviceSimulator, _ at: Int64) -> [UInt64] { simulator.interval(at: at).vibration.map(\.bitPattern) }
        let simulator = DeviceSimulator(scenario: .bearingWear, seed: 3, serial: "S-1", wearStartMicros: start)
        let at = start + 700 * 60_000_000
        #expect(bits(simulator, at) == bits(simulator, at))
        #expect(bits(simulator, at) != bits(DeviceSimulator(scenario: .bearingWear, seed: 4, serial: "S-1", wearStartMicros: start), at))
        // Resuming mid-day with the state the agent saved gives what one run over the day gives.
        let settings = EdgeSettings()
        let starts = Array(simulator.intervalStarts(fromMicros: start + 6 * 3_600_000_000, toMicros: start + 10 * 3_600_000_000))
        var whole = settings.stateMachine()
        let oneRun = starts.flatMap { EdgeEvents.build(simulator.interval(at: $0), settings: settings, state: &whole) }
        var before = settings.stateMachine()
        var resumed = starts[..<100].flatMap { EdgeEvents.build(simulator.interval(at: $0), settings: settings, state: &before) }
        var after = settings.stateMachine(resumingIn: before.state)
        resumed += starts[100...].flatMap { EdgeEvents.build(simulator.interval(at: $0), settings: settings, state: &after) }
        #expect(resumed == oneRun)
    }
}

@Suite struct StateSignalTests {
    /// A CNC machine whose state follows spindle speed (rpm) while its power is metered apart:
    /// seconds by state come from the speed, energy from the power held at each moment.
    @Test func theStateCanFollowSpeedWhilePowerIsAccounted() throws {
        var settings = EdgeSettings()
        settings.idleFrom = 10; settings.runningFrom = 500; settings.peakFrom = 6000; settings.stateHysteresis = 0.1
        var machine = settings.stateMachine()
        let interval = EdgeInterval(
            serial: "CNC-1", startMicros: 1_790_000_040_000_000, seconds: 60, vibration: [], samplesPerSecond: 1000, temperatures: [],
            loads: [.init(offset: 0, value: 2), .init(offset: 30, value: 12)],                              // kW
            stateSignal: [.init(offset: 0, value: 0), .init(offset: 20, value: 3000), .init(offset: 50, value: 7000)])  // rpm
        let events = EdgeEvents.build(interval, settings: settings, state: &machine)
        var usage: [String: (String, String)] = [:]
        for event in events where event.type == EdgeEvents.usageType {
            let data = try #require((try JSONSerialization.jsonObject(with: Data(event.json.utf8)) as? [String: Any])?["data"] as? [String: Any])
            usage[data["state"] as! String] = (data["run_seconds"] as! String, data["energy_kwh"] as! String)
        }
        // off 0–20 s at 2 kW; running 20–50 s (2 kW to 30 s, then 12 kW); peak 50–60 s at 12 kW.
        #expect(usage["off"]?.0 == "20.000" && usage["off"]?.1 == "0.011111")
        #expect(usage["running"]?.0 == "30.000" && usage["running"]?.1 == "0.072222")  // (2·10 + 12·20) / 3600
        #expect(usage["peak"]?.0 == "10.000" && usage["peak"]?.1 == "0.033333")
        #expect(machine.state == .peak)
        // The assembler keeps the chosen signal and counts the other as unused.
        var assembler = IntervalAssembler(serial: "CNC-1", intervalSeconds: 60, windowSeconds: 1, samplesPerSecond: 100, stateChannel: .speed)
        _ = assembler.add(timeMicros: 1_790_000_040_000_000, channel: "rpm", value: 1200)
        _ = assembler.add(timeMicros: 1_790_000_040_000_000, channel: "current", value: 30)
        let finished = assembler.finish()
        let assembled = try #require(finished)
        #expect(assembled.stateSignal == [.init(offset: 0, value: 1200)] && assembler.unknownChannel == 1)
    }

    /// Usage is what the samples say, no more: no time before an interval's first sample unless
    /// the previous interval's last value carries into it, no sample held past its limit, and
    /// an interval the input ended in is accounted up to its last sample.
    @Test func usageIsAccountedFromSamplesWithoutInventingTime() throws {
        let settings = EdgeSettings()  // running from 5 kW; a sample holds at most 120 s
        func seconds(_ interval: EdgeInterval) throws -> [String: String] {
            var machine = settings.stateMachine()
            var result: [String: String] = [:]
            for event in EdgeEvents.build(interval, settings: settings, state: &machine) where event.usage != nil {
                result[event.usage!.state] = event.usage!.runSeconds
            }
            return result
        }
        let base: Int64 = 1_790_000_040_000_000 / 300_000_000 * 300_000_000
        let late = EdgeInterval(serial: "M", startMicros: base, seconds: 300, vibration: [], samplesPerSecond: 1000, temperatures: [],
                                loads: [.init(offset: 30, value: 20), .init(offset: 100, value: 20)])
        #expect(try seconds(late) == ["running": "190.000"])  // nothing before 30 s; 30 → 100, then 100 → 220 (held at most 120 s)
        var ended = late
        ended.accountedUntil = 150
        #expect(try seconds(ended) == ["running": "120.000"])
        // The assembler carries the last load into the next interval when it follows directly.
        var assembler = IntervalAssembler(serial: "M", intervalSeconds: 300, windowSeconds: 1, samplesPerSecond: 100)
        _ = assembler.add(timeMicros: base + 250_000_000, channel: "load", value: 20)
        let closed = assembler.add(timeMicros: base + 330_000_000, channel: "load", value: 30)
        let next = try #require(closed)
        #expect(next.loads == [.init(offset: 250, value: 20)])
        let last = assembler.finish()
        let following = try #require(last)
        #expect(following.loads == [.init(offset: 0, value: 20), .init(offset: 30, value: 30)] && following.accountedUntil == 30)
        #expect(try seconds(following) == ["running": "30.000"])
        // Negative times (before 1970) still align to the interval.
        var old = IntervalAssembler(serial: "M", intervalSeconds: 60, windowSeconds: 1, samplesPerSecond: 100)
        _ = old.add(timeMicros: -1, channel: "load", value: 1)
        #expect(old.finish()?.startMicros == -60_000_000)
        // A sample dated far ahead is dropped and counted; it does not close the interval.
        var glitch = IntervalAssembler(serial: "M", intervalSeconds: 60, windowSeconds: 1, samplesPerSecond: 100)
        glitch.latestMicros = base + 600_000_000
        _ = glitch.add(timeMicros: base, channel: "load", value: 1)
        #expect(glitch.add(timeMicros: base + 100 * 365 * 86_400_000_000, channel: "load", value: 1) == nil && glitch.future == 1)
        #expect(glitch.add(timeMicros: base + 10_000_000, channel: "load", value: 2) == nil && glitch.late == 0)
    }

    /// Invalid vibration is dropped before resampling (never blended into neighbours); a window
    /// with too little vibration reports no zone or index rather than a perfect one; an absurd
    /// power value is ignored, not a crash.
    @Test func badSensorDataIsCountedNotJudged() throws {
        var assembler = IntervalAssembler(serial: "M", intervalSeconds: 60, windowSeconds: 1, samplesPerSecond: 100)
        let base: Int64 = 1_790_000_040_000_000 / 60_000_000 * 60_000_000
        for step in 0..<100 {
            let value: Double = step == 40 ? 900 : step == 41 ? .nan : sin(Double(step) / 5)
            _ = assembler.add(timeMicros: base + Int64(step) * 10_000, channel: "vibration", value: value)
        }
        _ = assembler.add(timeMicros: base, channel: "load", value: 3.4e38)
        let closedInterval = assembler.finish()
        let interval = try #require(closedInterval)
        #expect(interval.droppedOutOfRange == 1 && interval.droppedNonFinite == 1 && interval.vibration.allSatisfy { abs($0) <= 1 })
        var machine = EdgeSettings().stateMachine()
        let events = EdgeEvents.build(interval, settings: EdgeSettings(), state: &machine)
        #expect(events.count == 1)  // the absurd load is no usage
        let data = try #require((try JSONSerialization.jsonObject(with: Data(events[0].json.utf8)) as? [String: Any])?["data"] as? [String: Any])
        #expect(data["zone"] != nil && (data["cleaning"] as? [String: Any])?["dropped_out_of_range"] as? Int == 1)
        let silent = EdgeInterval(serial: "M", startMicros: base, seconds: 60, vibration: Array(repeating: 0, count: 10), samplesPerSecond: 100,
                                  temperatures: [], loads: [.init(offset: 0, value: 20)])
        let quiet = try #require((try JSONSerialization.jsonObject(with: Data(EdgeEvents.build(silent, settings: EdgeSettings(), state: &machine)[0].json.utf8)) as? [String: Any])?["data"] as? [String: Any])
        #expect(quiet["zone"] == nil && quiet["health_index"] == nil && quiet["velocity_rms_mm_s"] == nil && quiet["samples"] as? Int == 10)
        #expect(EdgeEvents.fixed(.infinity, digits: 3) == "0.000" && EdgeEvents.fixed(1e30, digits: 1).hasPrefix("1000000000000000019884624838656"))
    }

    /// The state reported with the vibration is the state its window was taken in.
    @Test func telemetryCarriesTheStateOfItsVibrationWindow() throws {
        var machine = EdgeSettings().stateMachine()
        let interval = EdgeInterval(serial: "M", startMicros: 0, seconds: 60, vibration: Array(repeating: 0.1, count: 100).enumerated().map { sin(Double($0.offset)) * $0.element },
                                    samplesPerSecond: 100, temperatures: [], loads: [.init(offset: 0, value: 0), .init(offset: 30, value: 20)])
        let data = try #require((try JSONSerialization.jsonObject(with: Data(EdgeEvents.build(interval, settings: EdgeSettings(), state: &machine)[0].json.utf8)) as? [String: Any])?["data"] as? [String: Any])
        #expect(data["state"] as? String == "off" && data["state_at_end"] as? String == "running")
    }
}

