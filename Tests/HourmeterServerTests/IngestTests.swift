import Foundation
import HTTPTypes
import HourmeterCore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct IngestTests {
    static let countMeter = #"{"slug":"events","eventType":"machine.usage","aggregation":"COUNT"}"#
    static let dayQuery = "/api/v1/meters/events/query?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z"

    static func count(_ app: LiveFixture, _ key: String) async throws -> Int {
        let body = try await app.request(.get, dayQuery, key: key).json()
        return ((body["data"] as? [[String: Any]])?.first?["value"] as? NSNumber)?.intValue ?? 0
    }

    @Test func acceptsEveryCloudEventsContentType() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            #expect(try await app.request(.post, "/api/v1/meters", key: key, json: Self.countMeter).status == .created)
            let cases: [(String, String)] = [
                ("application/cloudevents+json", cloudEvent("1")),
                ("application/cloudevents+json; charset=utf-8", cloudEvent("2")),
                ("application/cloudevents-batch+json", "[" + cloudEvent("3") + "," + cloudEvent("4") + "]"),
                ("application/json", cloudEvent("5")),
                ("application/json; charset=UTF-8", "[" + cloudEvent("6") + "]"),
            ]
            for (contentType, body) in cases {
                let response = try await app.request(.post, "/api/v1/events", key: key, json: body, contentType: contentType)
                #expect(response.status == .noContent, "\(contentType): \(response.text)")
            }
            #expect(try await Self.count(app, key) == 6)
            _ = try await app.request(.post, "/api/v1/events", key: key, json: cloudEvent("7"), contentType: "text/plain")
                .problem(.unsupportedMediaType, "unsupported-media-type")
            _ = try await app.request(.post, "/api/v1/events", key: key, json: "[" + cloudEvent("8") + "]", contentType: "application/cloudevents+json")
                .problem(.badRequest, "invalid-events")
            _ = try await app.request(.post, "/api/v1/events", key: key, json: cloudEvent("9"), contentType: "application/cloudevents-batch+json")
                .problem(.badRequest, "invalid-events")
            #expect(try await Self.count(app, key) == 6)
        }
    }

    @Test func invalidEventsAreListedByIndexAndFieldAndNothingIsStored() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            #expect(try await app.request(.post, "/api/v1/meters", key: key, json: Self.countMeter).status == .created)
            let batch = "[" + cloudEvent("ok") + #","# +
                #"{"specversion":"0.3","id":"x","source":"s","type":"machine.usage"}"# + "," +
                #"{"specversion":"1.0","id":"y","source":"s","type":"machine.usage","subject":"m","time":"yesterday","data":[1]}"# + "]"
            let problem = try await app.request(.post, "/api/v1/events", key: key, json: batch).problem(.badRequest, "invalid-events")
            let errors = try #require(problem["errors"] as? [[String: Any]])
            let found = Set(errors.map { "\($0["index"] as? Int ?? -1):\($0["field"] as? String ?? "")" })
            #expect(found.isSuperset(of: ["1:specversion", "1:subject", "2:time", "2:data"]), "\(errors)")
            #expect(!found.contains { $0.hasPrefix("0:") })
            // Not JSON at all.
            let broken = try await app.request(.post, "/api/v1/events", key: key, json: #"[{"id": }"#).problem(.badRequest, "invalid-events")
            #expect((broken["errors"] as? [[String: Any]])?.isEmpty == false)
            #expect(try await app.request(.get, "/api/v1/events", key: key).jsonArray().isEmpty)
            #expect(try await Self.count(app, key) == 0)
            // The counter of rejected events moved.
            let metrics = try await app.request(.get, "/metrics", key: nil).text
            #expect(!metrics.contains("hourmeter_events_rejected_total 0\n"))
        }
    }

    @Test func retriesCountOnceAndConflictsAre409NamingIndexAndAttribute() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            #expect(try await app.request(.post, "/api/v1/meters", key: key, json: Self.countMeter).status == .created)
            let batch = "[" + cloudEvent("r1") + "," + cloudEvent("r2") + "]"
            #expect(try await app.request(.post, "/api/v1/events", key: key, json: batch).status == .noContent)
            #expect(try await app.request(.post, "/api/v1/events", key: key, json: batch).status == .noContent)
            #expect(try await Self.count(app, key) == 2)
            let conflicting = "[" + cloudEvent("new") + "," + cloudEvent("r2", time: "2026-11-25T11:00:00Z") + "]"
            let problem = try await app.request(.post, "/api/v1/events", key: key, json: conflicting).problem(.conflict, "event-conflict")
            #expect(problem["index"] as? Int == 1)
            #expect(problem["attribute"] as? String == "time")
            #expect(problem["id"] as? String == "r2")
            #expect(try await Self.count(app, key) == 2)  // "new" was not stored either
            let metrics = try await app.request(.get, "/metrics", key: nil).text
            #expect(metrics.contains("hourmeter_events_accepted_total 2\n"))
            #expect(metrics.contains("hourmeter_events_deduplicated_total 2\n"))
        }
    }

    @Test func limitsAreNamedInTheError() async throws {
        let fixedNow = RFC3339.parseMicroseconds("2026-11-25T12:00:00Z")!
        try await withLiveServer(configure: {
            $0.limits.maxBodyBytes = 2_048
            $0.limits.maxEventsPerBatch = 3
            $0.limits.maxEventFutureSeconds = 60
            $0.nowMicros = { fixedNow }
        }) { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            let big = "[" + (0..<20).map { cloudEvent("b\($0)") }.joined(separator: ",") + "]"
            let body = try await app.request(.post, "/api/v1/events", key: key, json: big).problem(.contentTooLarge, "limit-exceeded")
            #expect(body["limit"] as? String == "maxBodyBytes")
            let four = "[" + (0..<4).map { cloudEvent("f\($0)") }.joined(separator: ",") + "]"
            let count = try await app.request(.post, "/api/v1/events", key: key, json: four).problem(.contentTooLarge, "limit-exceeded")
            #expect(count["limit"] as? String == "maxEventsPerBatch")
            let future = "[" + cloudEvent("ok", time: "2026-11-25T12:00:30Z") + "," + cloudEvent("late", time: "2026-11-25T12:02:00Z") + "]"
            let early = try await app.request(.post, "/api/v1/events", key: key, json: future).problem(.badRequest, "invalid-events")
            let issue = try #require((early["errors"] as? [[String: Any]])?.first)
            #expect(issue["index"] as? Int == 1 && issue["field"] as? String == "time")
            #expect((issue["reason"] as? String)?.contains("maxEventFutureSeconds") == true)
            #expect(try await app.request(.get, "/api/v1/events", key: key).jsonArray().isEmpty)
        }
    }

    @Test func eventWithoutTimeTakesReceiptTimeAndListingShowsIt() async throws {
        let fixedNow = RFC3339.parseMicroseconds("2026-11-25T12:34:56Z")!
        try await withLiveServer(configure: { $0.nowMicros = { fixedNow } }) { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            let event = #"{"specversion":"1.0","id":"nt","source":"s","type":"machine.usage","subject":"m","data":{"a":"ü"}}"#
            #expect(try await app.request(.post, "/api/v1/events", key: key, json: event).status == .noContent)
            let listed = try await app.request(.get, "/api/v1/events?subject=m", key: key).jsonArray()
            let stored = try #require(listed.first?["event"] as? [String: Any])
            #expect(stored["time"] as? String == "2026-11-25T12:34:56Z")
            #expect((stored["data"] as? [String: Any])?["a"] as? String == "ü")
            #expect(listed.first?["ingestedAt"] as? String == "2026-11-25T12:34:56Z")
            _ = try await app.request(.get, "/api/v1/events?limit=0", key: key).problem(.badRequest, "validation")
            _ = try await app.request(.get, "/api/v1/events?from=noon", key: key).problem(.badRequest, "validation")
        }
    }
}
