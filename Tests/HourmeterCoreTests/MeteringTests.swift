import Foundation
import Testing
@testable import HourmeterCore

@Suite struct MeteringTests {
    /// The issue's exactness check, through the same state the rollups keep.
    @Test func tenMillionTenthsSumToExactlyOneMillion() throws {
        let tenth = try #require(ExactDecimal("0.1"))
        var state = AggregateState()
        for index in 0..<10_000_000 { try state.add(tenth, at: Int64(index), for: .sum) }
        #expect(state.sum == ExactDecimal(1_000_000))
        #expect(state.sum.description == "1000000")
        #expect(state.count == 10_000_000)
    }

    @Test func statesMergeAssociativelyForEveryAggregation() throws {
        let values = ["3", "-1.5", "7.25", "0", "2"].map { ExactDecimal($0)! }
        var whole = AggregateState()
        var left = AggregateState(), right = AggregateState()
        for (index, value) in values.enumerated() {
            try whole.add(value, at: Int64(index))
            if index < 2 { try left.add(value, at: Int64(index)) } else { try right.add(value, at: Int64(index)) }
        }
        var merged = left
        try merged.merge(right)
        #expect(merged == whole)
        #expect(whole.value(for: .sum) == ExactDecimal("10.75"))
        #expect(whole.value(for: .avg) == ExactDecimal("2.15"))
        #expect(whole.value(for: .min) == ExactDecimal("-1.5"))
        #expect(whole.value(for: .max) == ExactDecimal("7.25"))
        #expect(whole.value(for: .latest) == ExactDecimal("2"))
        #expect(whole.value(for: .count) == ExactDecimal(5))
        // An average that does not terminate is rounded half-even at 18 places.
        var thirds = AggregateState()
        for index in 0..<3 { try thirds.add(index == 0 ? .one : .zero, at: Int64(index)) }
        #expect(thirds.value(for: .avg)?.description == "0.333333333333333333")
    }

    @Test func latestPrefersLaterTimeThenLaterIngestion() throws {
        var state = AggregateState()
        try state.add(ExactDecimal(5), at: 200)
        try state.add(ExactDecimal(9), at: 100)  // late arrival of an older reading
        #expect(state.value(for: .latest) == ExactDecimal(5))
        try state.add(ExactDecimal(7), at: 200)  // same instant, ingested later
        #expect(state.value(for: .latest) == ExactDecimal(7))
    }

    @Test func rollupsKeepMinutesInsideTheirHourAndCountSkips() throws {
        let meter = CompiledMeter(id: "m", definition: try MeterDefinition(
            slug: "load", eventType: "usage", aggregation: "MAX", valueProperty: "$.load", groupBy: ["state": "$.state"]))
        func event(_ time: String, _ data: String?) -> MeteredEvent {
            MeteredEvent(type: "usage", subject: "exc-1", timeMicros: RFC3339.parseMicroseconds(time)!, data: data.map { Array($0.utf8) })
        }
        var delta = RollupDelta()
        try RollupBuilder.accumulate([
            event("2026-11-25T10:05:10Z", #"{"load":3,"state":"idle"}"#),
            event("2026-11-25T10:05:50Z", #"{"load":"8","state":"idle"}"#),
            event("2026-11-25T10:59:59Z", #"{"load":4,"state":"idle"}"#),
            event("2026-11-25T11:00:00Z", #"{"load":1,"state":"idle"}"#),
            event("2026-11-25T11:00:00Z", #"{"load":true}"#),
            event("2026-11-25T11:00:00Z", nil),
        ], meters: [meter], into: &delta)
        try RollupBuilder.summarize(&delta)
        let ten = RollupKey(meterID: "m", bucket: RFC3339.parseMicroseconds("2026-11-25T10:00:00Z")! / 1_000_000, subject: "exc-1", groupKey: #"{"state":"idle"}"#)
        let hour = try #require(delta.hours[ten])
        #expect(hour.minutes.keys.sorted() == [5, 59])
        #expect(hour.minutes[5]?.max == ExactDecimal(8) && hour.minutes[5]?.count == 2)
        #expect(hour.summary.max == ExactDecimal(8) && hour.summary.count == 3)
        #expect(hour.summary.min == nil)  // a MAX meter keeps no minimum
        #expect(delta.hours.count == 2)
        #expect(delta.skipped["m"] == 2)
    }

    @Test func groupKeysAreCanonicalAndMissingValuesAreNull() throws {
        let groups = [("model", try JSONPath(parsing: "$.model")), ("site", try JSONPath(parsing: "$['site-name']"))]
        #expect(RollupBuilder.groupKey(for: Array(#"{"site-name":"Shanghai \"North\"","model":7}"#.utf8), groups: groups)
                == #"{"model":"7","site":"Shanghai \"North\""}"#)
        #expect(RollupBuilder.groupKey(for: Array(#"{"model":{"a":1}}"#.utf8), groups: groups) == #"{"model":null,"site":null}"#)
        #expect(RollupBuilder.groupKey(for: nil, groups: []) == "")
    }

    @Test func meterDefinitionsCollectEveryIssue() {
        #expect(throws: MeterDefinitionError.self) { try MeterDefinition(slug: "ok", eventType: "t", aggregation: "SUM", valueProperty: nil, groupBy: nil) }
        do {
            _ = try MeterDefinition(slug: "_bad", eventType: nil, aggregation: "COUNT", valueProperty: "$.x", groupBy: ["subject": "$.s", "g": "$[*]"])
            Issue.record("expected an error")
        } catch {
            #expect(Set(error.issues.map(\.field)) == ["slug", "eventType", "valueProperty", "groupBy.subject", "groupBy.g"])
        }
        for slug in ["a", "run_hours", "a1_b2"] { #expect(MeterDefinition.isValidSlug(slug)) }
        for slug in ["", "A", "a__b", "a_", "_a", "a-b", String(repeating: "a", count: 65)] { #expect(!MeterDefinition.isValidSlug(slug)) }
    }

    @Test func windowsFollowTheZoneAndItsOffsets() throws {
        func plan(_ from: String, _ to: String, _ size: WindowSize?, _ zone: String) throws -> [String] {
            let windows = try WindowPlan(from: RFC3339.parseMicroseconds(from)! / 1_000_000, to: RFC3339.parseMicroseconds(to)! / 1_000_000,
                                         size: size, timeZone: TimeZone(identifier: zone)!, maxWindows: 1000)
            return (0..<windows.count).map { RFC3339.format(microseconds: windows.window($0).start * 1_000_000) }
        }
        // India is UTC+5:30: its hours start at half past in UTC, so hour rollups cannot answer.
        let kolkata = try plan("2026-11-25T00:00:00Z", "2026-11-25T03:00:00Z", .hour, "Asia/Kolkata")
        #expect(kolkata == ["2026-11-25T00:00:00Z", "2026-11-25T00:30:00Z", "2026-11-25T01:30:00Z", "2026-11-25T02:30:00Z"])
        #expect(try plan("2026-11-25T00:00:00Z", "2026-11-25T03:00:00Z", .hour, "Europe/Berlin").count == 3)
        // New York's autumn day (2026-11-01) has 25 hours; months follow the zone too.
        #expect(try plan("2026-10-31T04:00:00Z", "2026-11-03T05:00:00Z", .day, "America/New_York")
                == ["2026-10-31T04:00:00Z", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"])
        #expect(try plan("2026-01-15T00:00:00Z", "2026-03-15T00:00:00Z", .month, "UTC")
                == ["2026-01-15T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"])
        #expect(throws: WindowingError.self) { try plan("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", .hour, "UTC") }
        let windows = try WindowPlan(from: 0, to: 7200, size: .hour, timeZone: TimeZone(identifier: "UTC")!, maxWindows: 10)
        #expect(windows.index(of: 3599) == 0 && windows.index(of: 3600) == 1 && windows.index(of: 7200) == nil && windows.index(of: -1) == nil)
    }

    @Test func retriesCompareByContentNotSpelling() {
        let stored = UsageEvent(id: "1", source: "s", type: "t", subject: "m", timeMicros: 10, timeGiven: true, dataContentType: nil,
                                data: Array(#"{"a":1,"b":[1,2]}"#.utf8))
        var retry = stored
        retry.data = Array(#"{ "b": [1, 2], "a": 1.0 }"#.utf8)
        #expect(stored.firstDifference(from: retry) == nil)
        retry.timeGiven = false
        retry.timeMicros = 99  // receipt time stands in: not a difference
        #expect(stored.firstDifference(from: retry) == nil)
        retry.data = Array(#"{"a":2,"b":[1,2]}"#.utf8)
        #expect(stored.firstDifference(from: retry) == "data")
        retry.subject = "other"
        #expect(stored.firstDifference(from: retry) == "subject")
        #expect(UsageEvent.identityKey(tenantID: "a", source: "s", id: "1") != UsageEvent.identityKey(tenantID: "b", source: "s", id: "1"))
        #expect(UsageEvent.identityKey(tenantID: "a", source: "s1", id: "") != UsageEvent.identityKey(tenantID: "a", source: "s", id: "1"))
    }
}
