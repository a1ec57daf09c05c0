import ArgumentParser
import Foundation
import HourmeterCore
import HourmeterStore

/// `hourmeter edge`: the agent that runs beside a machine. It turns raw samples (CSV files,
/// stdin, or a simulated device) into `device.telemetry` and `device.usage` CloudEvents,
/// writes each to its durable queue first, and uploads the queue in batches.
struct Edge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The edge agent: clean raw samples, compute health and usage, queue durably, upload in batches.",
        subcommands: [EdgeRun.self, EdgeStatus.self], defaultSubcommand: EdgeRun.self)
}

struct EdgeQueueOption: ParsableArguments {
    @Option(help: "Folder of the agent's durable queue (one agent per folder).") var queueDir = "./.hourmeter-edge"
}

struct EdgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Measure (from --input files/stdin or --simulate) and upload until everything measured is on the server.")

    @OptionGroup var queue: EdgeQueueOption
    @Option(help: "Server base URL.") var server = "http://127.0.0.1:8080"
    @Option(help: "API key (maker or operator) to upload with; HOURMETER_EDGE_KEY when not given.") var key: String?
    @Option(help: "CSV files of timestamp,channel,value ('-' for stdin); channels vibration (m/s²), temperature (°C), load (kW), current (A), speed (rpm).")
    var input: [String] = []
    @Option(help: "Simulate devices instead: healthy, bearing-wear or overload.") var simulate: DeviceSimulator.Scenario?
    @Option(help: "Seed of the simulation (same seed, same samples, same event ids).") var seed: UInt64 = 1
    @Option(help: "Device serial (repeat to simulate several; one for --input).") var serial: [String] = []
    @Option(help: "Simulation start (RFC 3339); default one day before --to.") var from: String?
    @Option(help: "Simulation end (RFC 3339); default now, rounded down to the interval.") var to: String?
    @Option(help: "Simulation: when the bearing starts to wear (RFC 3339); default --from.") var wearFrom: String?
    @Option(help: "Simulation: days from the start of wear until the bearing is worn out.") var wearDays = 14.0
    @Option(help: "Seconds per measuring interval.") var interval = 60
    @Option(help: "Seconds of vibration analysed at the start of each interval.") var window = 1.0
    @Option(help: "Vibration samples per second after resampling.") var samplesPerSecond = 2048.0
    @Option(help: "What the device state follows in --input: load (power, kW), current (A) or speed (rpm).") var stateSignal: IntervalAssembler.Channel = .load
    @Option(help: "State thresholds on that signal: idle from (default 0.5 kW).") var idleFrom: Double?
    @Option(help: "Running from (default 5 kW).") var runningFrom: Double?
    @Option(help: "Peak from (default 40 kW).") var peakFrom: Double?
    @Option(help: "How far below its threshold, as a fraction of it, the signal must fall to leave a state (default 0.1).") var stateHysteresis: Double?
    @Option(help: "Events per upload request.") var batch = 500
    @Option(help: "Longest wait between upload attempts, in seconds.") var maxBackoff = 30.0
    @Option(help: "Days uploaded events stay in the queue as the record of what was sent.") var keepUploadedDays = 7
    @Flag(help: "Only measure into the queue; upload later.") var noUpload = false
    @Flag(help: "Queue the events the server refused earlier again before uploading.") var retryRejected = false

    func validate() throws {
        if simulate == nil && input.isEmpty { throw ValidationError("give --input FILE (or -) or --simulate SCENARIO") }
        if simulate != nil && !input.isEmpty { throw ValidationError("--input and --simulate are exclusive") }
        if serial.isEmpty { throw ValidationError("give --serial (the device's serial, the events' subject)") }
        if !input.isEmpty && serial.count != 1 { throw ValidationError("--input reads one device: give one --serial") }
        guard (1...86_400).contains(interval) else { throw ValidationError("--interval must be 1…86400 seconds") }
        guard window > 0, window <= Double(interval), samplesPerSecond >= 1, samplesPerSecond <= 100_000 else {
            throw ValidationError("--window must be within the interval and --samples-per-second 1…100000")
        }
        guard (1...10_000).contains(batch) else { throw ValidationError("--batch must be 1…10000") }
        guard wearDays.isFinite, wearDays > 0 else { throw ValidationError("--wear-days must be more than 0") }
        guard maxBackoff.isFinite, (0.1...3600).contains(maxBackoff) else { throw ValidationError("--max-backoff must be 0.1…3600 seconds") }
        guard (0...3650).contains(keepUploadedDays) else { throw ValidationError("--keep-uploaded-days must be 0…3650") }
        guard [IntervalAssembler.Channel.load, .current, .speed].contains(stateSignal) else { throw ValidationError("--state-signal must be load, current or speed") }
        if simulate != nil && stateSignal != .load { throw ValidationError("a simulated device reports power: --state-signal is for --input") }
        if stateSignal != .load && (idleFrom == nil || runningFrom == nil || peakFrom == nil) {
            throw ValidationError("with --state-signal \(stateSignal.rawValue) give --idle-from, --running-from and --peak-from in its unit")
        }
        let settings = edgeSettings
        guard settings.idleFrom > 0, settings.idleFrom < settings.runningFrom, settings.runningFrom < settings.peakFrom,
              settings.stateHysteresis >= 0, settings.stateHysteresis < 1 else {
            throw ValidationError("state thresholds must increase (0 < idle < running < peak) and the hysteresis be a fraction from 0 to below 1")
        }
    }

    func run() async throws {
        let logger = makeLogger("edge")
        let queue = try await EdgeQueue.open(directory: self.queue.queueDir, logger: logger)
        let producerDone = ManagedFlag()
        let apiKey = key ?? Environment.string("HOURMETER_EDGE_KEY")
        if !noUpload && apiKey == nil { throw ValidationError("give --key or set HOURMETER_EDGE_KEY (or --no-upload)") }
        let uploader = EdgeUploader(queue: queue, baseURL: server, key: apiKey ?? "", batch: batch, maxBackoff: maxBackoff,
                                    keepUploadedSeconds: Int64(keepUploadedDays) * 86_400)
        if retryRejected { say("edge: \(try await queue.requeueRejected()) refused events queued again") }
        let measure = self
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { producerDone.set() }
                    try await measure.produce(into: queue)
                }
                if !noUpload {
                    group.addTask {
                        do { try await uploader.run(until: producerDone) } catch let fatal as EdgeUploader.Fatal {
                            // Everything measured is in the queue; stop now rather than wait for
                            // a producer that may be blocked reading stdin.
                            FileHandle.standardError.write(Data("edge: \(fatal.description)\n".utf8))
                            Foundation.exit(2)
                        }
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            await queue.close()
            throw error
        }
        let status = try await queue.status()
        await queue.close()
        say("edge: measured \(status.measured.values.reduce(0, +)) events; uploaded \(status.uploaded), pending \(status.pending), rejected \(status.rejected)")
    }

    var edgeSettings: EdgeSettings {
        var settings = EdgeSettings()
        if let idleFrom { settings.idleFrom = idleFrom }
        if let runningFrom { settings.runningFrom = runningFrom }
        if let peakFrom { settings.peakFrom = peakFrom }
        if let stateHysteresis { settings.stateHysteresis = stateHysteresis }
        return settings
    }

    func produce(into queue: EdgeQueue) async throws {
        let settings = edgeSettings
        if let simulate {
            let end = try to.map(Self.instant) ?? (Int64(Date().timeIntervalSince1970) / Int64(interval) * Int64(interval) * 1_000_000)
            let start = try from.map(Self.instant) ?? end - 86_400_000_000
            guard end > start else { throw ValidationError("--from must be before --to") }
            let wearStart = try wearFrom.map(Self.instant) ?? start
            for device in serial {
                let simulator = DeviceSimulator(scenario: simulate, seed: seed, serial: device, intervalSeconds: interval, windowSeconds: window,
                                                samplesPerSecond: samplesPerSecond, wearStartMicros: wearStart, wearDays: wearDays)
                try await Self.simulate(simulator, fromMicros: start, toMicros: end, settings: settings, queue: queue)
            }
        } else {
            try await readInputs(settings: settings, queue: queue)
        }
    }

    /// Interval by interval from where the last run of the same simulated device stopped; the
    /// queue and the progress move together every 100 intervals (or at the end).
    static func simulate(_ simulator: DeviceSimulator, fromMicros: Int64, toMicros: Int64, settings: EdgeSettings, queue: EdgeQueue) async throws {
        let stream = "simulate:\(simulator.serial):\(simulator.scenario.rawValue):\(simulator.seed):\(simulator.intervalSeconds):"
            + "\(simulator.windowSeconds):\(simulator.samplesPerSecond):\(simulator.wearStartMicros):\(simulator.wearDays)"
        let resumed = try await queue.progress(stream: stream)
        var machine = settings.stateMachine(resumingIn: resumed.flatMap { DeviceStateMachine.State(rawValue: $0.state) } ?? .off)
        // Intervals up to the recorded position were queued by an earlier run.
        let starts = simulator.intervalStarts(fromMicros: max(fromMicros, resumed?.position ?? .min), toMicros: toMicros)
        let step = Int64(simulator.intervalSeconds) * 1_000_000
        var pending: [EdgeEvent] = []
        var next: Int64?
        for start in starts {
            pending += EdgeEvents.build(simulator.interval(at: start), settings: settings, state: &machine)
            next = start + step
            if pending.count >= 300 {
                try await queue.enqueue(pending, stream: stream, progress: .init(position: start + step, state: machine.state.rawValue))
                pending = []
            }
        }
        if !pending.isEmpty, let next {
            try await queue.enqueue(pending, stream: stream, progress: .init(position: next, state: machine.state.rawValue))
        }
    }

    func readInputs(settings: EdgeSettings, queue: EdgeQueue) async throws {
        let device = serial[0]
        let stream = "input:\(device)"
        let resumed = try await queue.progress(stream: stream).map(InputProgress.init)
        var machine = settings.stateMachine(resumingIn: resumed?.state ?? .off)
        var assembler = IntervalAssembler(serial: device, intervalSeconds: interval, windowSeconds: window,
                                          samplesPerSecond: samplesPerSecond, stateChannel: stateSignal, resumeAfterMicros: resumed?.lastStart)
        assembler.carried = resumed?.carried
        // A sample more than five minutes ahead of this machine's clock is a clock glitch.
        assembler.latestMicros = Int64(Date().timeIntervalSince1970 * 1_000_000) + 300_000_000
        var malformed = 0
        func emit(_ interval: EdgeInterval) async throws {
            let events = EdgeEvents.build(interval, settings: settings, state: &machine)
            let progress = InputProgress(lastStart: interval.startMicros, state: machine.state, carried: assembler.carried)
            try await queue.enqueue(events, stream: stream, progress: progress.stored)
        }
        for path in input {
            let handle: FileHandle
            if path == "-" { handle = FileHandle.standardInput } else {
                guard let opened = FileHandle(forReadingAtPath: path) else { throw ValidationError("cannot read \(path)") }
                handle = opened
            }
            var lineNumber = 0
            for try await line in LineReader(handle: handle) {
                lineNumber += 1
                guard let sample = Self.sample(line) else {
                    if !(lineNumber == 1 && line.lowercased().hasPrefix("timestamp")) && !line.isEmpty { malformed += 1 }
                    continue
                }
                if let finished = assembler.add(timeMicros: sample.time, channel: sample.channel, value: sample.value) {
                    try await emit(finished)
                }
            }
        }
        if let last = assembler.finish() { try await emit(last) }
        say("edge: input read; \(malformed) malformed lines, \(assembler.unknownChannel) samples of unknown or unused channels, "
            + "\(assembler.late) late and \(assembler.future) future-dated samples dropped, \(assembler.skippedAsDone) samples of intervals already sent skipped")
    }

    /// `timestamp,channel,value`; the timestamp RFC 3339 or seconds since the epoch.
    static func sample(_ line: Substring) -> (time: Int64, channel: Substring, value: Double)? {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        guard fields.count == 3 else { return nil }
        let stamp = fields[0].trimmingCharacters(in: .whitespaces)
        let time: Int64
        if let seconds = Double(stamp), seconds.isFinite, abs(seconds) < 1e11 { time = Int64((seconds * 1_000_000).rounded()) }
        else if let micros = RFC3339.parseMicroseconds(stamp) { time = micros }
        else { return nil }
        let valueText = fields[2].trimmingCharacters(in: .whitespaces)
        // "nan" and "inf" are read (and then dropped and counted by the cleaning), not refused.
        guard let value = Double(valueText) else { return nil }
        return (time, Substring(fields[1].trimmingCharacters(in: .whitespaces)), value)
    }

    static func instant(_ text: String) throws -> Int64 {
        guard let micros = RFC3339.parseMicroseconds(text) else { throw ValidationError("\"\(text)\" is not an RFC 3339 timestamp") }
        return micros
    }
}

/// Where a device's input stands, as kept in the queue's progress row: the last interval
/// emitted, the state machine's state and what carries into the next interval.
struct InputProgress {
    var lastStart: Int64
    var state: DeviceStateMachine.State
    var carried: IntervalAssembler.Carry?

    init(lastStart: Int64, state: DeviceStateMachine.State, carried: IntervalAssembler.Carry?) {
        self.lastStart = lastStart
        self.state = state
        self.carried = carried
    }

    /// Read from "state|next start|load|signal" (empty parts: nothing carried).
    init(_ stored: EdgeQueue.Progress) {
        let parts = stored.state.split(separator: "|", omittingEmptySubsequences: false)
        lastStart = stored.position
        state = parts.first.flatMap { DeviceStateMachine.State(rawValue: String($0)) } ?? .off
        if parts.count == 4, let next = Int64(parts[1]) {
            carried = IntervalAssembler.Carry(nextStartMicros: next, load: Double(parts[2]), signal: Double(parts[3]))
        }
    }

    var stored: EdgeQueue.Progress {
        let carry = carried.map { "|\($0.nextStartMicros)|\($0.load.map { "\($0)" } ?? "")|\($0.signal.map { "\($0)" } ?? "")" } ?? ""
        return EdgeQueue.Progress(position: lastStart, state: state.rawValue + carry)
    }
}

extension DeviceSimulator.Scenario: ExpressibleByArgument {}
extension IntervalAssembler.Channel: ExpressibleByArgument {}

struct EdgeStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the queue's counts and the usage it measured (JSON), e.g. to compare with the server's.")

    @OptionGroup var queue: EdgeQueueOption

    func run() async throws {
        let queue = try await EdgeQueue.open(directory: self.queue.queueDir, logger: makeLogger("edge"), exclusive: false)
        let status = try await queue.status()
        let totals = try await queue.totals()
        let seconds = totals.mapValues { $0.runSeconds.description }, energy = totals.mapValues { $0.energyKWh.description }
        await queue.close()
        say(JSONText.serialize([
            "measured": status.measured, "pending": status.pending, "uploaded": status.uploaded, "rejected": status.rejected,
            "run_seconds": seconds, "energy_kwh": energy,
        ] as [String: Any]))
    }
}

/// A flag one task sets and another reads.
final class ManagedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Lines of a file or stdin, read in 64 KiB chunks as they arrive (so a pipe streams).
struct LineReader: AsyncSequence {
    typealias Element = Substring
    let handle: FileHandle

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle
        var buffer: [UInt8] = []
        var lines: [Substring] = []
        var finished = false

        mutating func next() async throws -> Substring? {
            while lines.isEmpty {
                if finished { return nil }
                let chunk = try handle.read(upToCount: 65_536) ?? Data()
                if chunk.isEmpty {
                    finished = true
                    if !buffer.isEmpty { lines.append(Substring(String(decoding: buffer, as: UTF8.self))); buffer = [] }
                    break
                }
                buffer += chunk
                if let last = buffer.lastIndex(of: UInt8(ascii: "\n")) {
                    let text = String(decoding: buffer[..<last], as: UTF8.self)
                    lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }.reversed()
                    buffer.removeSubrange(...last)
                }
            }
            return lines.popLast()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }
}

import Synchronization
