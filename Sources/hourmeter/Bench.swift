import ArgumentParser
import AsyncHTTPClient
import Foundation
import HourmeterCore
import HourmeterServer
import HourmeterStore
import Hummingbird
import Logging
import NIOCore

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure ingest, query and rating speed on this machine; figures are printed, not asserted.",
        subcommands: [BenchIngest.self, BenchQuery.self, BenchRate.self, BenchBilling.self, BenchEdge.self])
}

/// Shared by the benchmarks: a real server on loopback over a real database, a tenant and a
/// maker key, and the meters a machine maker would define.
struct BenchServer {
    let store: Store
    let baseURL: String
    let key: String

    static func withServer<T: Sendable>(
        database: DatabaseOptions, port: Int, logger: Logger,
        _ body: @Sendable (BenchServer, String) async throws -> T
    ) async throws -> T {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hourmeter-bench-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let location = try database.benchLocation(scratch: scratch + "/data")
        say("database: \(location)")
        var configuration = ServerConfiguration()
        configuration.port = port
        configuration.limits.maxEventFutureSeconds = 3600
        let serverConfiguration = configuration
        return try await Store.withStore(location, logger: logger, nowMicros: configuration.nowMicros()) { store in
            let tenant = try await store.tenants.createTenant(name: "bench \(UUID().uuidString.prefix(8))", nowMicros: serverConfiguration.nowMicros())
            let material = APIKeyMaterial.generate()
            _ = try await store.tenants.createAPIKey(tenantID: tenant.id, role: .maker, name: "bench", keyHash: material.hash, nowMicros: serverConfiguration.nowMicros())
            for (slug, aggregation, value, groups) in [("run_seconds", "SUM", "$.run_seconds", ["state": "$.state"]), ("usage_events", "COUNT", nil, [:])] {
                let definition = try MeterDefinition(slug: slug, eventType: "machine.usage", aggregation: aggregation, valueProperty: value, groupBy: groups)
                _ = try await store.meters.createMeter(tenantID: tenant.id, definition: definition, nowMicros: serverConfiguration.nowMicros())
            }
            // The server logs only when asked (HOURMETER_LOG_LEVEL), so logging does not skew the figures.
            let serverLogger = Environment.string("HOURMETER_LOG_LEVEL") == nil ? Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }) : logger
            let app = buildApplication(store: store, configuration: serverConfiguration, logger: serverLogger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService(gracefulShutdownSignals: []) }
                let server = BenchServer(store: store, baseURL: "http://127.0.0.1:\(port)", key: material.secret)
                try await server.waitUntilUp()
                let result = try await body(server, scratch)
                group.cancelAll()
                return result
            }
        }
    }

    func waitUntilUp() async throws { try await waitForServer(baseURL) }
}

/// Polls `/readyz` (the database answers) until the server at `base` is up, for about 10 s.
func waitForServer(_ base: String) async throws {
    for _ in 0..<200 {
        var request = HTTPClientRequest(url: base + "/readyz")
        request.method = .GET
        if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(1)), response.status == .ok { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw ValidationError("the server at \(base) did not start")
}

enum Percentiles {
    static func describe(_ samples: [Duration]) -> String {
        let sorted = samples.sorted()
        func at(_ fraction: Double) -> String {
            let value = sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
            return String(format: "%.2f ms", Double(value.components.seconds) * 1000 + Double(value.components.attoseconds) / 1e15)
        }
        return "p50 \(at(0.5)), p99 \(at(0.99)), max \(at(1.0))"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Send N CloudEvents over keep-alive HTTP from concurrent clients; print events/s, latency and the bare-insert ceiling.")

    @Option(help: "Events to send.") var events = 1_000_000
    @Option(help: "Events per request.") var batch = 1_000
    @Option(help: "Concurrent client connections.") var clients = 4
    @Option(help: "Loopback port for the benchmark server.") var port = 18080
    @Option(help: "Subjects (machines) the events spread over.") var subjects = 1_000
    @Flag(help: "Skip the bare-insert ceiling measurement.") var skipCeiling = false
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("bench")
        let now = ServerConfiguration.systemClock()
        say("generating \(events) events (random UUID ids, \(subjects) subjects, the last hour)…")
        let rows = (0..<events).map { index in
            WriteCeiling.Row(
                id: UUID().uuidString, source: "bench", type: "machine.usage", subject: "machine-\(index % subjects)",
                timeMicros: now - 3_600_000_000 + Int64(index) * 3_600_000_000 / Int64(events),
                data: "{\"run_seconds\":\(30 + index % 31),\"energy_kwh\":\"1.25\",\"state\":\"\(["idle", "running", "peak"][index % 3])\"}")
        }
        let bodies: [ByteBuffer] = stride(from: 0, to: rows.count, by: batch).map { rows[$0..<min($0 + batch, rows.count)] }.map { chunk in
            var text = "["
            for (offset, row) in chunk.enumerated() {
                if offset > 0 { text += "," }
                text += "{\"specversion\":\"1.0\",\"id\":\"\(row.id)\",\"source\":\"\(row.source)\",\"type\":\"\(row.type)\",\"subject\":\"\(row.subject)\",\"time\":\"\(RFC3339.format(microseconds: row.timeMicros))\",\"data\":\(row.data)}"
            }
            return ByteBuffer(string: text + "]")
        }
        let batchSize = batch, clientCount = clients, eventCount = events
        let (elapsed, latencies) = try await BenchServer.withServer(database: database, port: port, logger: logger) { server, _ in
            let next = Counter()
            let start = ContinuousClock.now
            let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for _ in 0..<clientCount {
                    group.addTask {
                        var samples: [Duration] = []
                        while let index = next.take(below: bodies.count) {
                            var request = HTTPClientRequest(url: server.baseURL + "/api/v1/events")
                            request.method = .POST
                            request.headers.add(name: "Authorization", value: "Bearer \(server.key)")
                            request.headers.add(name: "Content-Type", value: "application/cloudevents-batch+json")
                            request.body = .bytes(bodies[index])
                            let sent = ContinuousClock.now
                            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            guard response.status == .noContent else { throw ValidationError("ingest answered \(response.status)") }
                            samples.append(ContinuousClock.now - sent)
                        }
                        return samples
                    }
                }
                var all: [Duration] = []
                for try await samples in group { all += samples }
                return all
            }
            return (ContinuousClock.now - start, latencies)
        }
        let rate = Double(eventCount) / Percentiles.seconds(elapsed)
        say(String(format: "ingest: %d events in %.2f s = %.0f events/s (batches of %d, %d clients, durable, deduplicated, 2 meters)",
                     eventCount, Percentiles.seconds(elapsed), rate, batchSize, clientCount))
        say("request latency: \(Percentiles.describe(latencies))")
        guard !skipCeiling else { return }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hourmeter-ceiling-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let location = try database.benchLocation(scratch: scratch)
        let ceiling = try await WriteCeiling.measure(location, scratchDirectory: scratch, rows: rows, rowsPerTransaction: batchSize, logger: logger)
        say(String(format: "ceiling: bare multi-row INSERT of the same rows, no index, %d-row transactions: %.0f rows/s", batchSize, ceiling))
        say(String(format: "ingest/ceiling: %.2f", rate / ceiling))
    }
}

/// Hands out work items to concurrent clients.
final class Counter: Sendable {
    private let value = Mutex(0)
    func take(below limit: Int) -> Int? {
        value.withLock { current in
            guard current < limit else { return nil }
            defer { current += 1 }
            return current
        }
    }
}

import Synchronization

struct BenchQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Load a month of events, then time 31-day hourly meter queries for one subject.")

    @Option(help: "Events to load, spread evenly over 31 days.") var events = 10_000_000
    @Option(help: "Subjects (machines).") var subjects = 1_000
    @Option(help: "Queries to time.") var queries = 300
    @Option(help: "Loopback port for the benchmark server.") var port = 18081
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("bench")
        let eventCount = events, subjectCount = subjects, queryCount = queries
        let day: Int64 = 86_400
        let now = ServerConfiguration.systemClock() / 1_000_000
        let monthStart = (now / day - 32) * day
        let monthEnd = monthStart + 31 * day
        try await BenchServer.withServer(database: database, port: port, logger: logger) { server, _ in
            let tenantID = try await server.store.tenants.apiKey(hash: APIKeyMaterial.hash(of: server.key))!.tenantID
            say("loading \(eventCount) events over 31 days and \(subjectCount) subjects…")
            let loadStart = ContinuousClock.now
            let span = (monthEnd - monthStart) * 1_000_000
            let perBatch = 10_000
            let next = Counter()
            let batches = (eventCount + perBatch - 1) / perBatch
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        while let batchIndex = next.take(below: batches) {
                            let first = batchIndex * perBatch
                            let events = (first..<min(eventCount, first + perBatch)).map { index in
                                UsageEvent(id: "evt-\(index)", source: "bench-load", type: "machine.usage", subject: "machine-\(index % subjectCount)",
                                           timeMicros: monthStart * 1_000_000 + Int64((Double(index) / Double(eventCount) * Double(span)).rounded(.down)), timeGiven: true,
                                           dataContentType: nil, data: Array("{\"run_seconds\":\(30 + index % 31),\"state\":\"running\"}".utf8))
                            }
                            _ = try await server.store.events.ingest(tenantID: tenantID, events: events, receivedMicros: ServerConfiguration.systemClock())
                            if batchIndex % 100 == 99 { say("  \(min(eventCount, (batchIndex + 1) * perBatch)) loaded") }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let loadSeconds = Percentiles.seconds(ContinuousClock.now - loadStart)
            say(String(format: "loaded in %.1f s (%.0f events/s through the store)", loadSeconds, Double(eventCount) / loadSeconds))
            var latencies: [Duration] = []
            let from = RFC3339.format(microseconds: monthStart * 1_000_000), to = RFC3339.format(microseconds: monthEnd * 1_000_000)
            // The first read folds the last loaded batches into the rollups; time it apart.
            var warmUp = HTTPClientRequest(url: server.baseURL + "/api/v1/meters/run_seconds/query?from=\(from)&to=\(to)&windowSize=HOUR&subject=machine-0")
            warmUp.headers.add(name: "Authorization", value: "Bearer \(server.key)")
            let warmStart = ContinuousClock.now
            _ = try await HTTPClient.shared.execute(warmUp, timeout: .seconds(600)).body.collect(upTo: 64 << 20)
            say(String(format: "first query (folds what the load left pending): %.0f ms", Percentiles.seconds(ContinuousClock.now - warmStart) * 1000))
            var generator = SystemRandomNumberGenerator()
            var windows = 0
            for _ in 0..<queryCount {
                let subject = "machine-\(Int.random(in: 0..<subjectCount, using: &generator))"
                var request = HTTPClientRequest(url: server.baseURL + "/api/v1/meters/run_seconds/query?from=\(from)&to=\(to)&windowSize=HOUR&subject=\(subject)")
                request.headers.add(name: "Authorization", value: "Bearer \(server.key)")
                let sent = ContinuousClock.now
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                let body = try await response.body.collect(upTo: 64 << 20)
                latencies.append(ContinuousClock.now - sent)
                guard response.status == .ok else { throw ValidationError("query answered \(response.status)") }
                windows = String(buffer: body).components(separatedBy: "\"windowStart\"").count - 1
            }
            say("31-day hourly query for one subject (\(queryCount) queries, \(windows) windows in the last answer): \(Percentiles.describe(latencies))")
        }
    }
}

/// Prints a line at once, also when stdout is a file (benchmarks report progress).
func say(_ text: String) {
    print(text)
    fflush(nil)
}

extension DatabaseOptions {
    /// PostgreSQL when one is named; otherwise a fresh SQLite folder, never the user's data.
    func benchLocation(scratch: String) throws -> DatabaseLocation {
        database != nil || Environment.string("HOURMETER_DATABASE_URL") != nil ? try location() : .sqlite(directory: scratch)
    }
}
