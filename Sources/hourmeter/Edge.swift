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
    @Option(help: "CSV files of timestamp,channel,value ('-' for stdin); channels vibration (m/s²), temperature (°C), load (kW).")
    var input: [String] = []
    @Option(help: "Simulate devices instead: healthy, bearing-wear or overload.") var simulate: DeviceSimulator.Scenario?
    @Option(help: "Seed of the simulation (same seed, same samples, same event ids).") var seed: UInt64 = 1
    @Option(help: "Device serial (repeat to simulate several; one for --input).") var serial: [String] = []
    @Option(help: "Simulation start (RFC 3339); default one day before --to.") var from: String?
    @Option(help: "Simulation end (RFC 3339); default now, rounded down to the interval.") var to: String?
    @Option(help: "Seconds per measuring interval.") var interval = 60
    @Option(help: "Seconds of vibration analysed at the start of each interval.") var window = 1.0
    @Option(help: "Vibration samples per second after resampling.") var samplesPerSecond = 2048.0
    @Option(help: "Events per upload request.") var batch = 500
    @Option(help: "Longest wait between upload attempts, in seconds.") var maxBackoff = 30.0
    @Option(help: "Days uploaded events stay in the queue as the record of what was sent.") var keepUploadedDays = 7
    @Flag(help: "Only measure into the queue; upload later.") var noUpload = false

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
    }

    func run() async throws {
        let logger = makeLogger("edge")
        let queue = try await EdgeQueue.open(directory: self.queue.queueDir, logger: logger)
        let producerDone = ManagedFlag()
        let apiKey = key ?? Environment.string("HOURMETER_EDGE_KEY")
        if !noUpload && apiKey == nil { throw ValidationError("give --key or set HOURMETER_EDGE_KEY (or --no-upload)") }
        let uploader = EdgeUploader(queue: queue, baseURL: server, key: apiKey ?? "", batch: batch, maxBackoff: maxBackoff,
                                    keepUploadedSeconds: Int64(keepUploadedDays) * 86_400)
        let measure = self
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { producerDone.set() }
                    try await measure.produce(into: queue)
                }
                if !noUpload {
                    group.addTask { try await uploader.run(until: producerDone) }
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

    func produce(into queue: EdgeQueue) async throws {
        var settings = EdgeSettings()
        settings.cleaning = CleaningSettings()
        if let simulate {
            let end = try to.map(Self.instant) ?? (Int64(Date().timeIntervalSince1970) / Int64(interval) * Int64(interval) * 1_000_000)
            let start = try from.map(Self.instant) ?? end - 86_400_000_000
            guard end > start else { throw ValidationError("--from must be before --to") }
            for device in serial {
                let simulator = DeviceSimulator(scenario: simulate, seed: seed, serial: device, fromMicros: start, toMicros: end,
                                                intervalSeconds: interval, windowSeconds: window, samplesPerSecond: samplesPerSecond)
                try await Self.simulate(simulator, settings: settings, queue: queue)
            }
        } else {
            try await readInputs(settings: settings, queue: queue)
        }
    }

    /// Interval by interval from where the last run stopped; the queue and the progress move
    /// together every 100 intervals (or at the end).
    static func simulate(_ simulator: DeviceSimulator, settings: EdgeSettings, queue: EdgeQueue) async throws {
        let stream = "simulate:\(simulator.serial):\(simulator.scenario.rawValue):\(simulator.seed):\(simulator.fromMicros):\(simulator.intervalSeconds)"
        let resumed = try await queue.progress(stream: stream)
        var machine = settings.stateMachine(resumingIn: resumed.flatMap { DeviceStateMachine.State(rawValue: $0.state) } ?? .off)
        var index = Int(resumed?.position ?? 0)
        var pending: [EdgeEvent] = []
        while index < simulator.intervalCount {
            pending += EdgeEvents.build(simulator.interval(index), settings: settings, state: &machine)
            index += 1
            if index % 100 == 0 || index == simulator.intervalCount {
                try await queue.enqueue(pending, stream: stream, progress: .init(position: Int64(index), state: machine.state.rawValue))
                pending = []
            }
        }
    }

    func readInputs(settings: EdgeSettings, queue: EdgeQueue) async throws {
        let device = serial[0]
        let stream = "input:\(device)"
        let resumed = try await queue.progress(stream: stream)
        var machine = settings.stateMachine(resumingIn: resumed.flatMap { DeviceStateMachine.State(rawValue: $0.state) } ?? .off)
        var assembler = IntervalAssembler(serial: device, intervalSeconds: interval, windowSeconds: window,
                                          samplesPerSecond: samplesPerSecond, resumeAfterMicros: resumed?.position)
        var malformed = 0
        func emit(_ interval: EdgeInterval) async throws {
            let events = EdgeEvents.build(interval, settings: settings, state: &machine)
            try await queue.enqueue(events, stream: stream, progress: .init(position: interval.startMicros, state: machine.state.rawValue))
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
        say("edge: input read; \(malformed) malformed lines, \(assembler.unknownChannel) samples of unknown channels, \(assembler.late) late samples dropped, \(assembler.skippedAsDone) samples of intervals already sent skipped")
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

extension DeviceSimulator.Scenario: ExpressibleByArgument {}

struct EdgeStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the queue's counts and the usage it measured (JSON), e.g. to compare with the server's.")

    @OptionGroup var queue: EdgeQueueOption

    func run() async throws {
        let queue = try await EdgeQueue.open(directory: self.queue.queueDir, logger: makeLogger("edge"), exclusive: false)
        let status = try await queue.status()
        var seconds: [String: ExactDecimal] = [:], energy: [String: ExactDecimal] = [:]
        for body in try await queue.bodies(type: EdgeEvents.usageType) {
            guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let data = object["data"] as? [String: Any], let state = data["state"] as? String else { continue }
            seconds[state, default: .zero] = try seconds[state, default: .zero].adding(ExactDecimal(data["run_seconds"] as? String ?? "0") ?? .zero)
            energy[state, default: .zero] = try energy[state, default: .zero].adding(ExactDecimal(data["energy_kwh"] as? String ?? "0") ?? .zero)
        }
        await queue.close()
        say(JSONText.serialize([
            "measured": status.measured, "pending": status.pending, "uploaded": status.uploaded, "rejected": status.rejected,
            "run_seconds": seconds.mapValues { $0.description }, "energy_kwh": energy.mapValues { $0.description },
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
