import Foundation
import HourmeterCore
import HourmeterStore
import Testing

/// One behaviour on both engines: every test here runs on SQLite and, when configured, PostgreSQL.
@Suite struct EventStoreConformanceTests {
    @Test(arguments: TestEngine.available)
    func sumIsExactAndRetriesCountOnce(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            let sum = try await store.meters.createMeter(tenantID: tenant, definition: try meter("run_hours", "SUM", value: "$.hours"), nowMicros: now())
            let events = (0..<1000).map { event("e\($0)", time: "2026-11-25T10:\(String(format: "%02d", $0 % 60)):00Z", data: "{\"hours\":0.1}") }
            let first = try await store.events.ingest(tenantID: tenant, events: events, receivedMicros: now())
            #expect(first == IngestResult(accepted: 1000, duplicates: 0))
            // A retry of the whole batch, and one repeated inside a batch, count once.
            let retry = try await store.events.ingest(tenantID: tenant, events: events + [events[0]], receivedMicros: now())
            #expect(retry == IngestResult(accepted: 0, duplicates: 1001))
            let rows = try await store.events.usage(meter: sum, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z"))
            #expect(rows.map(\.value) == [ExactDecimal("100")!])
        }
    }

    @Test(arguments: TestEngine.available)
    func conflictingRetryRejectsWholeBatchAndNamesAttribute(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            let count = try await store.meters.createMeter(tenantID: tenant, definition: try meter("calls", "COUNT"), nowMicros: now())
            _ = try await store.events.ingest(tenantID: tenant, events: [event("a", time: "2026-11-25T10:00:00Z", data: "{\"v\":1}")], receivedMicros: now())
            let batch = [
                event("fresh", time: "2026-11-25T10:01:00Z", data: "{\"v\":1}"),
                event("a", time: "2026-11-25T10:00:00Z", data: "{\"v\":2}"),
            ]
            await #expect(throws: IngestError.conflict(index: 1, attribute: "data", source: "test", id: "a")) {
                try await store.events.ingest(tenantID: tenant, events: batch, receivedMicros: now())
            }
            // Same identity twice in one batch with different subjects.
            await #expect(throws: IngestError.conflict(index: 1, attribute: "subject", source: "test", id: "b")) {
                try await store.events.ingest(tenantID: tenant, events: [
                    event("b", time: "2026-11-25T10:02:00Z", data: nil), event("b", subject: "other", time: "2026-11-25T10:02:00Z", data: nil),
                ], receivedMicros: now())
            }
            // Nothing of the rejected batches was applied.
            let rows = try await store.events.usage(meter: count, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z"))
            #expect(rows.map(\.value) == [ExactDecimal(1)])
            let listed = try await store.events.events(tenantID: tenant, filter: EventFilter())
            #expect(listed.map(\.event.id) == ["a"])
            // Same content with members reordered and numbers respelled is a retry, not a conflict.
            let same = try await store.events.ingest(tenantID: tenant, events: [event("a", time: "2026-11-25T10:00:00Z", data: "{ \"v\" : 1.0 }")], receivedMicros: now())
            #expect(same.duplicates == 1)
        }
    }

    @Test(arguments: TestEngine.available)
    func deduplicationSurvivesRestart(_ engine: TestEngine) async throws {
        let location = engine.makeLocation()
        let events = (0..<50).map { event("r\($0)", time: "2026-11-25T11:00:00Z", data: "{\"hours\":2}") }
        let (tenant, meterSlug) = try await withTestStore(location) { store in
            let tenant = try await makeTenant(store)
            _ = try await store.meters.createMeter(tenantID: tenant, definition: try meter("hours", "SUM", value: "$.hours"), nowMicros: now())
            _ = try await store.events.ingest(tenantID: tenant, events: events, receivedMicros: now())
            return (tenant, "hours")
        }
        try await withTestStore(location) { store in
            let again = try await store.events.ingest(tenantID: tenant, events: events, receivedMicros: now())
            #expect(again == IngestResult(accepted: 0, duplicates: 50))
            let meter = try #require(try await store.meters.meter(tenantID: tenant, slug: meterSlug))
            let rows = try await store.events.usage(meter: meter, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z"))
            #expect(rows.map(\.value) == [ExactDecimal(100)])
        }
    }

    @Test(arguments: TestEngine.available)
    func meterCreatedLaterBackfillsAndCountsSkipped(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            _ = try await store.events.ingest(tenantID: tenant, events: [
                event("1", time: "2026-11-25T10:00:00Z", data: "{\"kwh\":\"1.5\"}"),
                event("2", time: "2026-11-25T10:05:00Z", data: "{\"kwh\":2.25}"),
                event("3", time: "2026-11-25T10:06:00Z", data: "{\"kwh\":\"lots\"}"),
                event("4", time: "2026-11-25T10:07:00Z", data: "{\"other\":1}"),
                event("5", time: "2026-11-25T10:08:00Z", data: nil),
                event("6", type: "other.type", time: "2026-11-25T10:09:00Z", data: "{\"kwh\":100}"),
            ], receivedMicros: now())
            let energy = try await store.meters.createMeter(tenantID: tenant, definition: try meter("energy", "SUM", value: "$.kwh"), nowMicros: now())
            #expect(energy.skipped == 3)
            let rows = try await store.events.usage(meter: energy, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z"))
            #expect(rows.map(\.value) == [ExactDecimal("3.75")!])
            // Later events keep counting, and keep counting skips.
            _ = try await store.events.ingest(tenantID: tenant, events: [
                event("7", time: "2026-11-25T11:00:00Z", data: "{\"kwh\":1}"), event("8", time: "2026-11-25T11:00:00Z", data: "{}"),
            ], receivedMicros: now())
            let reloaded = try #require(try await store.meters.meter(tenantID: tenant, slug: "energy"))
            #expect(reloaded.skipped == 4)
            let after = try await store.events.usage(meter: reloaded, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z"))
            #expect(after.map(\.value) == [ExactDecimal("4.75")!])
        }
    }

    @Test(arguments: TestEngine.available)
    func everyAggregationByWindowSubjectAndGroup(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            var meters: [String: Meter] = [:]
            for (slug, aggregation, value) in [("s", "SUM", "$.load"), ("c", "COUNT", nil), ("u", "UNIQUE_COUNT", "$.operator"),
                                               ("a", "AVG", "$.load"), ("mn", "MIN", "$.load"), ("mx", "MAX", "$.load"), ("l", "LATEST", "$.load")] {
                meters[slug] = try await store.meters.createMeter(
                    tenantID: tenant, definition: try meter(slug, aggregation, value: value, groups: ["state": "$.state"]), nowMicros: now())
            }
            let data: [(String, String, String, String)] = [  // time, subject, load, operator, state below
                ("2026-11-25T10:10:00Z", "m1", "10", "ann"), ("2026-11-25T10:50:00Z", "m1", "30", "bob"),
                ("2026-11-25T11:10:00Z", "m1", "5", "ann"), ("2026-11-25T10:20:00Z", "m2", "7", "ann"),
            ]
            let events = data.enumerated().map { index, row in
                event("x\(index)", subject: row.1, time: row.0,
                      data: "{\"load\":\(row.2),\"operator\":\"\(row.3)\",\"state\":\"\(index == 1 ? "peak" : "running")\"}")
            }
            _ = try await store.events.ingest(tenantID: tenant, events: events, receivedMicros: now())
            let range = (from: "2026-11-25T10:00:00Z", to: "2026-11-25T12:00:00Z")
            func values(_ slug: String, window: WindowSize? = nil, subjects: [String] = [], groupBy: [String] = [], filter: [String: String] = [:]) async throws -> [String] {
                try await store.events.usage(meter: meters[slug]!, query: usageQuery(from: range.from, to: range.to, window: window, subjects: subjects, groupBy: groupBy, filter: filter))
                    .map { row in
                        let groups = row.groupBy.keys.sorted().map { "\($0)=\((row.groupBy[$0] ?? nil) ?? "null")" }.joined(separator: ",")
                        return "\(row.windowStart - seconds(range.from))|\(row.subject ?? "-")|\(groups)|\(row.value)"
                    }
            }
            #expect(try await values("s") == ["0|-||52"])
            #expect(try await values("s", window: .hour) == ["0|-||47", "3600|-||5"])
            #expect(try await values("s", window: .hour, subjects: ["m1"]) == ["0|m1||40", "3600|m1||5"])
            #expect(try await values("s", groupBy: ["subject"]) == ["0|m1||45", "0|m2||7"])
            #expect(try await values("s", groupBy: ["state"]) == ["0|-|state=peak|30", "0|-|state=running|22"])
            #expect(try await values("s", filter: ["state": "running"]) == ["0|-||22"])
            #expect(try await values("c") == ["0|-||4"])
            #expect(try await values("u") == ["0|-||2"])
            #expect(try await values("u", window: .hour) == ["0|-||2", "3600|-||1"])
            #expect(try await values("a") == ["0|-||13"])
            #expect(try await values("mn") == ["0|-||5"])
            #expect(try await values("mx") == ["0|-||30"])
            #expect(try await values("l") == ["0|-||5"])
            #expect(try await values("l", window: .hour, subjects: ["m1"]) == ["0|m1||30", "3600|m1||5"])
            // A minute window reads the minute rollups.
            #expect(try await values("c", window: .minute).count == 4)
        }
    }

    @Test(arguments: TestEngine.available)
    func dayWindowsFollowTheTimeZoneAcrossDST(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            let count = try await store.meters.createMeter(tenantID: tenant, definition: try meter("c", "COUNT"), nowMicros: now())
            // Berlin moves to summer time on 2026-03-29: that local day is 23 hours long.
            _ = try await store.events.ingest(tenantID: tenant, events: [
                event("d1", time: "2026-03-28T22:30:00Z", data: nil),  // 2026-03-28 23:30 CET
                event("d2", time: "2026-03-28T23:30:00Z", data: nil),  // 2026-03-29 00:30 CET
                event("d3", time: "2026-03-29T21:30:00Z", data: nil),  // 2026-03-29 23:30 CEST
                event("d4", time: "2026-03-29T22:30:00Z", data: nil),  // 2026-03-30 00:30 CEST
            ], receivedMicros: now())
            let rows = try await store.events.usage(meter: count, query: usageQuery(
                from: "2026-03-27T23:00:00Z", to: "2026-03-30T22:00:00Z", window: .day, zone: "Europe/Berlin"))
            #expect(rows.map { "\(RFC3339.format(microseconds: $0.windowStart * 1_000_000))/\((($0.windowEnd - $0.windowStart) / 3600))h=\($0.value)" } == [
                "2026-03-27T23:00:00Z/24h=1", "2026-03-28T23:00:00Z/23h=2", "2026-03-29T22:00:00Z/24h=1",
            ])
        }
    }

    @Test(arguments: TestEngine.available)
    func tenantsNeverSeeEachOthersEvents(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let a = try await makeTenant(store, "A"), b = try await makeTenant(store, "B")
            let meterA = try await store.meters.createMeter(tenantID: a, definition: try meter("c", "COUNT"), nowMicros: now())
            let meterB = try await store.meters.createMeter(tenantID: b, definition: try meter("c", "COUNT"), nowMicros: now())
            // The same (source, id) in two tenants are two different events.
            _ = try await store.events.ingest(tenantID: a, events: [event("same", time: "2026-11-25T10:00:00Z", data: nil)], receivedMicros: now())
            let inB = try await store.events.ingest(tenantID: b, events: [event("same", subject: "b-only", time: "2026-11-25T10:00:00Z", data: nil)], receivedMicros: now())
            #expect(inB.accepted == 1)
            _ = try await store.events.ingest(tenantID: a, events: [event("a2", time: "2026-11-25T10:00:00Z", data: nil)], receivedMicros: now())
            let query = try usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z")
            #expect(try await store.events.usage(meter: meterA, query: query).map(\.value) == [ExactDecimal(2)])
            #expect(try await store.events.usage(meter: meterB, query: query).map(\.value) == [ExactDecimal(1)])
            #expect(try await store.events.events(tenantID: b, filter: EventFilter()).map(\.event.subject) == ["b-only"])
            #expect(try await store.meters.meter(tenantID: b, slug: "c")?.id == meterB.id)
            #expect(try await store.meters.deleteMeter(tenantID: b, slug: "c"))
            #expect(try await store.meters.meter(tenantID: a, slug: "c") != nil)
        }
    }

    @Test(arguments: TestEngine.available)
    func concurrentBatchesShareCommitsAndAllCount(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            let sum = try await store.meters.createMeter(tenantID: tenant, definition: try meter("s", "SUM", value: "$.v"), nowMicros: now())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        for batch in 0..<10 {
                            let events = (0..<100).map { event("c\(client)-\(batch)-\($0)", subject: "m\(client)", time: "2026-11-25T10:00:00Z", data: "{\"v\":0.01}") }
                            _ = try await store.events.ingest(tenantID: tenant, events: events, receivedMicros: now())
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await store.events.usage(meter: sum, query: usageQuery(from: "2026-11-25T00:00:00Z", to: "2026-11-26T00:00:00Z"))
            #expect(rows.map(\.value) == [ExactDecimal(80)])
            #expect(try await store.events.events(tenantID: tenant, filter: EventFilter(subject: "m3", limit: 1000)).count == 1000)
        }
    }

    @Test(arguments: TestEngine.available)
    func eventListingFiltersNewestFirst(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            _ = try await store.events.ingest(tenantID: tenant, events: [
                event("1", subject: "m1", time: "2026-11-25T10:00:00Z", data: "{\"v\": [1, 2]}"),
                event("2", subject: "m2", time: "2026-11-25T11:00:00Z", data: nil),
                event("3", subject: "m1", type: "machine.alarm", time: "2026-11-25T12:00:00Z", data: nil),
            ], receivedMicros: now())
            let all = try await store.events.events(tenantID: tenant, filter: EventFilter())
            #expect(all.map(\.event.id) == ["3", "2", "1"])
            #expect(all.last?.event.data == Array("{\"v\": [1, 2]}".utf8))
            #expect(try await store.events.events(tenantID: tenant, filter: EventFilter(subject: "m1")).map(\.event.id) == ["3", "1"])
            #expect(try await store.events.events(tenantID: tenant, filter: EventFilter(type: "machine.usage")).map(\.event.id) == ["2", "1"])
            let ranged = EventFilter(fromMicros: RFC3339.parseMicroseconds("2026-11-25T10:30:00Z"), toMicros: RFC3339.parseMicroseconds("2026-11-25T12:00:00Z"))
            #expect(try await store.events.events(tenantID: tenant, filter: ranged).map(\.event.id) == ["2"])
            #expect(try await store.events.events(tenantID: tenant, filter: EventFilter(limit: 2)).count == 2)
        }
    }

    @Test(arguments: TestEngine.available)
    func apiKeysAreStoredAsHashesAndRevocable(_ engine: TestEngine) async throws {
        try await withTestStore(engine.makeLocation()) { store in
            let tenant = try await makeTenant(store)
            let material = APIKeyMaterial.generate()
            let record = try await store.tenants.createAPIKey(tenantID: tenant, role: .maker, name: "ci", keyHash: material.hash, nowMicros: now())
            #expect(record.keyHash != material.secret)
            #expect(try await store.tenants.apiKey(hash: APIKeyMaterial.hash(of: material.secret))?.id == record.id)
            #expect(try await store.tenants.revokeAPIKey(id: record.id, nowMicros: now()))
            #expect(try await store.tenants.apiKey(hash: material.hash) == nil)
            #expect(try await store.tenants.revokeAPIKey(id: record.id, nowMicros: now()) == false)
        }
    }
}
