import Foundation
import HourmeterCore
import HourmeterStore
import Logging
import Testing

/// The engines the conformance suite runs on: SQLite always; PostgreSQL when
/// HOURMETER_TEST_POSTGRES_URL is set. With HOURMETER_REQUIRE_POSTGRES=1 a missing URL is a
/// failure (see `postgresIsConfiguredWhenRequired`), not a silent skip.
enum TestEngine: String, CustomTestStringConvertible, Sendable, CaseIterable {
    case sqlite, postgres

    var testDescription: String { rawValue }

    static var postgresURL: String? {
        let url = ProcessInfo.processInfo.environment["HOURMETER_TEST_POSTGRES_URL"]
        return url?.isEmpty == false ? url : nil
    }

    static var available: [TestEngine] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A fresh place for one test: a new SQLite folder, or the shared test database (tests
    /// isolate themselves by working in their own tenants).
    func makeLocation() -> DatabaseLocation {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hourmeter-test-\(UUID().uuidString)").path
            return .sqlite(directory: directory)
        case .postgres:
            return .postgres(url: TestEngine.postgresURL!)
        }
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return logger
}()

func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

func withTestStore<T: Sendable>(_ location: DatabaseLocation, _ body: @Sendable (Store) async throws -> T) async throws -> T {
    try await Store.withStore(location, logger: testLogger, nowMicros: now(), body)
}

/// A tenant of its own for each test, so tests can share one PostgreSQL database.
func makeTenant(_ store: Store, _ name: String = "test") async throws -> String {
    try await store.tenants.createTenant(name: name, nowMicros: now()).id
}

func event(_ id: String, subject: String = "machine-1", type: String = "machine.usage", time: String, data: String?, source: String = "test") -> UsageEvent {
    UsageEvent(id: id, source: source, type: type, subject: subject, timeMicros: RFC3339.parseMicroseconds(time)!, timeGiven: true,
               dataContentType: nil, data: data.map { Array($0.utf8) })
}

func meter(_ slug: String, _ aggregation: String, value: String? = nil, type: String = "machine.usage", groups: [String: String] = [:]) throws -> MeterDefinition {
    try MeterDefinition(slug: slug, eventType: type, aggregation: aggregation, valueProperty: value, groupBy: groups)
}

func seconds(_ time: String) -> Int64 { RFC3339.parseMicroseconds(time)! / 1_000_000 }

func usageQuery(from: String, to: String, window: WindowSize? = nil, zone: String = "UTC", subjects: [String] = [], groupBy: [String] = [], filter: [String: String] = [:]) throws -> UsageQuery {
    UsageQuery(fromSeconds: seconds(from), toSeconds: seconds(to),
               windows: try WindowPlan(from: seconds(from), to: seconds(to), size: window, timeZone: TimeZone(identifier: zone)!, maxWindows: 10_000),
               subjects: subjects, groupBy: groupBy, filterGroupBy: filter)
}

@Test func postgresIsConfiguredWhenRequired() {
    if ProcessInfo.processInfo.environment["HOURMETER_REQUIRE_POSTGRES"] == "1" {
        #expect(TestEngine.postgresURL != nil, "HOURMETER_REQUIRE_POSTGRES=1 but HOURMETER_TEST_POSTGRES_URL is not set")
    }
}
