import AsyncHTTPClient
import Foundation
import HourmeterCore
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
                             "--samples-per-second", "512"]

    struct Server {
        let dataDir: String
        let port: Int
        var process: Process
        let maker: String
        var base: String { "http://127.0.0.1:\(port)" }
    }

    /// A server with a tenant, a maker key and the meters that count what the agent sends.
    static func startServer() async throws -> Server {
        let dataDir = temporaryDirectory()
        let key = try #require(try CLI.run(["keys", "create", "--role", "operator", "--data-dir", dataDir]).output.split(separator: "\n").last.map(String.init))
        let port = Int.random(in: 20_000..<40_000)
        let process = try CLI.startServer(dataDir: dataDir, port: port)
        let base = "http://127.0.0.1:\(port)"
        try await CLI.waitUntilUp(base)
        let maker = try await CLI.tenantMakerKey(base, operatorKey: key, name: "Edge")
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
}
