import AsyncHTTPClient
import Foundation
import HourmeterCore
import HourmeterStore
import NIOHTTP1
import Testing

/// The real `hourmeter edge` binary against the real `hourmeter serve` binary: the agent is
/// killed mid-upload and restarted, or the server is stopped while the agent runs and started
/// again later. Afterwards the server holds exactly what the agent measured, each event once,
/// and that is exactly what a clean run over the same input measures.
@Suite(.serialized) struct EdgeAgentTests {
    typealias CLI = CommandLineTests
    static let simulation = ["--simulate", "bearing-wear", "--seed", "5", "--serial", "EX-1", "--serial", "EX-2", "--serial", "EX-3",
                             "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-04T00:00:00Z", "--interval", "300",
                             "--samples-per-second", "512", "--wear-days", "3"]

    struct Server {
        let dataDir: String
        let port: Int
        var process: Process
        let maker: String
        var base: String { "http://127.0.0.1:\(port)" }
    }

    /// A server with a tenant, a maker key and the meters that count what the agent sends.
    static func startServer() async throws -> Server {
        let (dataDir, port, base, process, maker) = try await CLI.freshServer(tenant: "Edge")
        for meter in [#"{"slug":"windows","eventType":"device.telemetry","aggregation":"COUNT"}"#,
                      #"{"slug":"usage_events","eventType":"device.usage","aggregation":"COUNT"}"#,
                      #"{"slug":"run_seconds","eventType":"device.usage","aggregation":"SUM","valueProperty":"$.run_seconds","groupBy":{"state":"$.state"}}"#] {
            #expect(try await CLI.send(.POST, base + "/api/v1/meters", key: maker, body: meter).status == 201)
        }
        return Server(dataDir: dataDir, port: port, process: process, maker: maker)
    }

    static func agent(_ server: Server, queueDir: String, extra: [String] = [], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["edge", "--queue-dir", queueDir, "--server", server.base, "--key", server.maker, "--batch", "20", "--max-backoff", "1"] + simulation + extra
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// What the server counts: windows, usage events and run seconds by state.
    static func serverTotals(_ server: Server) async throws -> (windows: Int, usage: Int, seconds: [String: ExactDecimal]) {
        func query(_ slug: String, _ extra: String = "") async throws -> [[String: Any]] {
            let response = try await CLI.send(.GET, server.base + "/api/v1/meters/\(slug)/query?from=2026-10-31T00:00:00Z&to=2026-11-05T00:00:00Z\(extra)", key: server.maker)
            return (try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as! [String: Any])["data"] as! [[String: Any]]
        }
        let windows = try await query("windows").reduce(0) { $0 + ($1["value"] as! NSNumber).intValue }
        let usage = try await query("usage_events").reduce(0) { $0 + ($1["value"] as! NSNumber).intValue }
        var seconds: [String: ExactDecimal] = [:]
        for row in try await query("run_seconds", "&groupBy=state") {
            let state = (row["groupBy"] as? [String: Any])?["state"] as? String ?? "?"
            seconds[state] = try seconds[state, default: .zero].adding(ExactDecimal("\(row["value"] as! NSNumber)")!)
        }
        return (windows, usage, seconds)
    }

    struct Status: Equatable {
        var windows: Int, usage: Int, pending: Int, rejected: Int
        var seconds: [String: ExactDecimal]
    }

    static func status(queueDir: String) throws -> Status {
        let result = try CLI.run(["edge", "status", "--queue-dir", queueDir])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let measured = object["measured"] as? [String: Int] ?? [:]
        let seconds = (object["run_seconds"] as? [String: String] ?? [:]).compactMapValues { ExactDecimal($0) }
        return Status(windows: measured["device.telemetry"] ?? 0, usage: measured["device.usage"] ?? 0,
                      pending: object["pending"] as? Int ?? -1, rejected: object["rejected"] as? Int ?? -1, seconds: seconds)
    }

    /// What a clean run over the same input measures (no server involved).
    static func reference() throws -> Status {
        let queueDir = temporaryDirectory()
        let result = try CLI.run(["edge", "--queue-dir", queueDir, "--no-upload"] + simulation)
        #expect(result.status == 0)
        return try status(queueDir: queueDir)
    }

    static func expectServerHoldsExactly(_ measured: Status, _ server: Server) async throws {
        let expected = try Self.reference()
        #expect(measured.windows == expected.windows && measured.usage == expected.usage && measured.seconds == expected.seconds)
        #expect(measured.pending == 0 && measured.rejected == 0)
        let totals = try await serverTotals(server)
        #expect(totals.windows == expected.windows, "server \(totals.windows) windows, measured \(expected.windows)")
        #expect(totals.usage == expected.usage, "server \(totals.usage) usage events, measured \(expected.usage)")
        #expect(totals.seconds == expected.seconds, "server \(totals.seconds), measured \(expected.seconds)")
        #expect(expected.windows == 3 * 864)
    }

    static func waitForExit(_ process: Process, seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate(); Issue.record("the agent did not finish in \(seconds) s") }
    }

    @Test func anAgentKilledMidUploadResumesAndTheServerCountsEachEventOnce() async throws {
        let server = try await Self.startServer()
        defer { server.process.terminate() }
        let queueDir = temporaryDirectory()
        // 1. Dies right after the server committed its third batch, before the queue knew.
        let crashing = try Self.agent(server, queueDir: queueDir, environment: ["HOURMETER_EDGE_CRASH_AFTER_UPLOADS": "3"])
        try await Self.waitForExit(crashing, seconds: 120)
        #expect(crashing.terminationStatus == 86)
        let afterCrash = try await Self.serverTotals(server)
        #expect(afterCrash.windows + afterCrash.usage == 60)  // three batches of 20
        // 2. Killed with SIGKILL somewhere in the middle of its uploads.
        let killed = try Self.agent(server, queueDir: queueDir)
        for _ in 0..<600 where killed.isRunning {
            let now = try await Self.serverTotals(server)
            if now.windows + now.usage > afterCrash.windows + afterCrash.usage + 200 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(killed.isRunning, "the agent finished before it could be killed; the test needs more data")
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        let afterKill = try await Self.serverTotals(server)
        #expect(afterKill.windows + afterKill.usage > 260 && afterKill.windows < 3 * 864)
        // 3. Restarted: finishes, and the server holds each measured event once.
        let finishing = try Self.agent(server, queueDir: queueDir)
        try await Self.waitForExit(finishing, seconds: 300)
        #expect(finishing.terminationStatus == 0)
        try await Self.expectServerHoldsExactly(try Self.status(queueDir: queueDir), server)
    }

    @Test func anAgentOutlivesAServerOutageAndDeliversEverythingOnce() async throws {
        var server = try await Self.startServer()
        defer { server.process.terminate() }
        let queueDir = temporaryDirectory()
        let agent = try Self.agent(server, queueDir: queueDir)
        for _ in 0..<600 {
            let totals = try await Self.serverTotals(server)
            if totals.windows + totals.usage > 100 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        server.process.terminate()  // SIGTERM: the server stops while the agent keeps measuring and retrying
        server.process.waitUntilExit()
        try await Task.sleep(for: .seconds(3))
        #expect(agent.isRunning, "the agent must wait for the server, not give up")
        let queued = try Self.status(queueDir: queueDir)
        #expect(queued.pending > 0)
        server.process = try CLI.startServer(dataDir: server.dataDir, port: server.port)
        try await CLI.waitUntilUp(server.base)
        try await Self.waitForExit(agent, seconds: 300)
        #expect(agent.terminationStatus == 0)
        try await Self.expectServerHoldsExactly(try Self.status(queueDir: queueDir), server)
    }

    /// A sensor log as CSV: three minutes of a 25 Hz vibration whose velocity is 3.0 mm/s RMS
    /// (zone C for group 2 rigid), 45 °C, 20 kW; plus a header, a dropout, a malformed line and
    /// an unknown channel.
    static func sensorLog() -> String {
        var lines = ["timestamp,channel,value"]
        let start = 1_793_520_000.0  // 2026-10-31T08:00:00Z, a whole minute
        let omega = 2 * Double.pi * 25, amplitude = omega * 2.0.squareRoot() * 3.0 / 1000
        for minute in 0..<3 {
            let base = start + Double(minute * 60)
            for sample in 0..<1000 {
                let t = Double(sample) / 1000
                lines.append(String(format: "%.6f,vibration,%.9f", base + t, amplitude * sin(omega * t)))
            }
            for second in stride(from: 0, to: 60, by: 10) {
                lines.append("\(RFC3339.format(microseconds: Int64((base + Double(second)) * 1_000_000))),load,20")
                lines.append("\(Int(base) + second),temperature,45")
            }
        }
        lines.insert("\(start + 0.5005),vibration,nan", at: 600)
        lines.insert("not a sample", at: 700)
        lines.insert("\(start + 2),humidity,40", at: 800)
        return lines.joined(separator: "\n") + "\n"
    }

    static func events(in queueDir: String, type: String) async throws -> [[String: Any]] {
        let queue = try await EdgeQueue.open(directory: queueDir, logger: testLogger, exclusive: false)
        let bodies = try await queue.bodies(type: type)
        await queue.close()
        return try bodies.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    @Test func aSensorLogFromAFileOrStdinGivesTheSameEvents() async throws {
        let log = Self.sensorLog()
        let file = temporaryDirectory() + ".csv"
        try log.write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = temporaryDirectory(), fromStdin = temporaryDirectory()
        let arguments = ["--serial", "CNC-7", "--no-upload", "--samples-per-second", "1000"]
        let result = try CLI.run(["edge", "--input", file, "--queue-dir", fromFile] + arguments)
        #expect(result.status == 0 && result.output.contains("1 malformed lines, 1 samples of unknown or unused channels"), "\(result.output)")
        // The same log through stdin.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["edge", "--input", "-", "--queue-dir", fromStdin] + arguments
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(log.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let telemetry = try await Self.events(in: fromFile, type: EdgeEvents.telemetryType)
        #expect(telemetry.count == 3)
        for event in telemetry {
            let data = try #require(event["data"] as? [String: Any])
            let velocity = try #require(data["velocity_rms_mm_s"] as? Double)
            #expect(abs(velocity - 3.0) < 0.09, "\(velocity)")
            #expect(data["zone"] as? String == "C" && data["state"] as? String == "running")
            #expect(((data["temperature_c"] as? [String: Any])?["mean"] as? Double) == 45)
            #expect(abs(((data["acceleration"] as? [String: Any])?["kurtosis"] as? Double ?? 0) - 1.5) < 0.05)
        }
        #expect(telemetry.contains { (($0["data"] as? [String: Any])?["cleaning"] as? [String: Any])?["dropped_non_finite"] as? Int == 1 })
        let usage = try await Self.events(in: fromFile, type: EdgeEvents.usageType)
        // 20 kW for each minute; the log ends at 08:02:50, its last sample, and so does the time
        // accounted (nothing is invented past the input).
        let measured = usage.map { (($0["data"] as? [String: Any])?["run_seconds"] as? String ?? "", ($0["data"] as? [String: Any])?["energy_kwh"] as? String ?? "") }
        #expect(measured.map(\.0) == ["60.000", "60.000", "50.000"] && measured.map(\.1) == ["0.333333", "0.333333", "0.277778"], "\(measured)")
        // Deterministic ids: the same input gives the same events, whichever way it came in.
        let again = try await Self.events(in: fromStdin, type: EdgeEvents.telemetryType) + (try await Self.events(in: fromStdin, type: EdgeEvents.usageType))
        #expect(Set(again.map { $0["id"] as! String }) == Set((telemetry + usage).map { $0["id"] as! String }))
        // Run again on the first queue: every interval is already done, nothing is added.
        let rerun = try CLI.run(["edge", "--input", file, "--queue-dir", fromFile] + arguments)
        #expect(rerun.status == 0 && rerun.output.contains("0 late and 0 future-dated samples dropped, 3037 samples of intervals already sent skipped"), "\(rerun.output)")
        #expect(try Self.status(queueDir: fromFile).windows == 3)
    }
}
