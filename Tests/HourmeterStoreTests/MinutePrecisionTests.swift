import Foundation
import HourmeterCore
import HourmeterStore
import Testing

/// Minute windows and ranges that do not fall on hours read the minutes kept inside each
/// hour's rollup row; they must agree with what the events say, on both engines.
@Suite struct MinutePrecisionTests {
    @Test(arguments: TestEngine.available)
    func minuteWindowsAndUnalignedRanges(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            var meters: [String: Meter] = [:]
            for (slug, aggregation) in [("s", "SUM"), ("mn", "MIN"), ("mx", "MAX"), ("l", "LATEST"), ("a", "AVG")] {
                meters[slug] = try await store.meters.createMeter(tenantID: tenant, definition: try meter(slug, aggregation, value: "$.v"), nowMicros: now())
            }
            let readings: [(String, String)] = [
                ("2026-11-25T09:59:30Z", "100"), ("2026-11-25T10:00:05Z", "1.5"), ("2026-11-25T10:00:55Z", "-2"),
                ("2026-11-25T10:01:00Z", "4"), ("2026-11-25T10:30:00Z", "0.25"), ("2026-11-25T11:15:00Z", "8"),
            ]
            // Two batches, so rows are merged with what is already stored.
            _ = try await store.events.ingest(tenantID: tenant, events: readings.prefix(3).enumerated().map { event("p\($0)", time: $1.0, data: "{\"v\":\($1.1)}") }, receivedMicros: now())
            _ = try await store.events.ingest(tenantID: tenant, events: readings.dropFirst(3).enumerated().map { event("q\($0)", time: $1.0, data: "{\"v\":\($1.1)}") }, receivedMicros: now())
            func values(_ slug: String, _ from: String, _ to: String, _ window: WindowSize?) async throws -> [String] {
                try await store.events.usage(meter: meters[slug]!, query: usageQuery(from: from, to: to, window: window))
                    .map { "\(RFC3339.format(microseconds: $0.windowStart * 1_000_000).dropFirst(11).prefix(5))=\($0.value)" }
            }
            #expect(try await values("s", "2026-11-25T10:00:00Z", "2026-11-25T10:02:00Z", .minute) == ["10:00=-0.5", "10:01=4"])
            #expect(try await values("mn", "2026-11-25T10:00:00Z", "2026-11-25T10:02:00Z", .minute) == ["10:00=-2", "10:01=4"])
            #expect(try await values("mx", "2026-11-25T10:00:00Z", "2026-11-25T10:02:00Z", .minute) == ["10:00=1.5", "10:01=4"])
            #expect(try await values("l", "2026-11-25T10:00:00Z", "2026-11-25T10:02:00Z", .minute) == ["10:00=-2", "10:01=4"])
            // 09:59–11:16 is not hour-aligned: it reads minutes, across three hour rows.
            #expect(try await values("s", "2026-11-25T09:59:00Z", "2026-11-25T11:16:00Z", nil) == ["09:59=111.75"])
            #expect(try await values("s", "2026-11-25T10:01:00Z", "2026-11-25T11:15:00Z", nil) == ["10:01=4.25"])
            #expect(try await values("a", "2026-11-25T10:00:00Z", "2026-11-25T10:31:00Z", nil) == ["10:00=0.9375"])
            // Hour windows read the hour totals and agree with the minutes.
            #expect(try await values("s", "2026-11-25T09:00:00Z", "2026-11-25T12:00:00Z", .hour) == ["09:00=100", "10:00=3.75", "11:00=8"])
            #expect(try await values("l", "2026-11-25T09:00:00Z", "2026-11-25T12:00:00Z", nil) == ["09:00=8"])
        }
    }

    /// A value that would overflow an exact sum is skipped and counted; it never blocks the
    /// rollups of anyone else (a poisoned fold would fail every later query).
    @Test(arguments: TestEngine.available)
    func overflowingValuesAreSkippedNotFatal(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store), other = try await makeTenant(store, "other")
            let huge = String(repeating: "9", count: 38)
            let sum = try await store.meters.createMeter(tenantID: tenant, definition: try meter("s", "SUM", value: "$.v"), nowMicros: now())
            let theirs = try await store.meters.createMeter(tenantID: other, definition: try meter("c", "COUNT"), nowMicros: now())
            _ = try await store.events.ingest(tenantID: tenant, events: [
                event("h1", time: "2026-11-25T10:00:00Z", data: "{\"v\":\(huge)}"),
                event("h2", time: "2026-11-25T10:00:10Z", data: "{\"v\":\(huge)}"),
                event("n1", time: "2026-11-25T11:00:00Z", data: "{\"v\":1}"),
            ], receivedMicros: now())
            _ = try await store.events.ingest(tenantID: other, events: [event("o1", time: "2026-11-25T10:00:00Z", data: nil)], receivedMicros: now())
            let rows = try await store.events.usage(meter: sum, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z", window: .hour))
            #expect(rows.map(\.value.description) == [huge, "1"])
            #expect(try await store.meters.meter(tenantID: tenant, slug: "s")?.skipped == 1)
            #expect(try await store.events.usage(meter: theirs, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z")).map(\.value) == [ExactDecimal(1)])
            // A later batch into the same full hour is skipped at merge time, not fatal.
            _ = try await store.events.ingest(tenantID: tenant, events: [event("h3", time: "2026-11-25T10:30:00Z", data: "{\"v\":\(huge)}")], receivedMicros: now())
            #expect(try await store.meters.meter(tenantID: tenant, slug: "s")?.skipped == 2)
        }
    }

    /// Two stores on one PostgreSQL stand for two `hourmeter serve` processes: concurrent
    /// batches and retries from both are each counted exactly once.
    @Test(.enabled(if: TestEngine.postgresURL != nil))
    func twoProcessesShareOnePostgreSQL() async throws {
        let location = TestEngine.postgres.makeLocation()
        try await withTestStore(location) { first in
            try await withTestStore(location) { second in
                let tenant = try await makeTenant(first)
                let sum = try await first.meters.createMeter(tenantID: tenant, definition: try meter("s", "SUM", value: "$.v"), nowMicros: now())
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for store in [first, second, first, second] {
                        group.addTask {
                            for batch in 0..<10 {
                                // Both "processes" send the same events: half are duplicates.
                                let events = (0..<50).map { event("b\(batch)-\($0)", subject: "m1", time: "2026-11-25T10:\(String(format: "%02d", $0)):00Z", data: "{\"v\":0.5}") }
                                _ = try await store.events.ingest(tenantID: tenant, events: events, receivedMicros: now())
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let rows = try await second.events.usage(meter: sum, query: usageQuery(from: "2026-11-25T10:00:00Z", to: "2026-11-25T11:00:00Z", window: .minute))
                #expect(rows.count == 50)
                let total = try rows.reduce(ExactDecimal.zero) { try $0.adding($1.value) }
                #expect(total == ExactDecimal(250))  // 500 distinct events × 0.5
            }
        }
    }
}
