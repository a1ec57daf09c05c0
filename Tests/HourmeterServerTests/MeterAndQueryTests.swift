import Foundation
import HTTPTypes
import HourmeterCore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct MeterAndQueryTests {
    @Test func meterDefinitionsAreValidatedAndManaged() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            let bad = try await app.request(.post, "/api/v1/meters", key: key,
                                            json: #"{"slug":"Run-Hours","eventType":"","aggregation":"MEDIAN","valueProperty":"$..x"}"#)
            let problem = try bad.problem(.badRequest, "validation")
            let fields = Set((problem["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["slug", "eventType", "aggregation", "valueProperty"])
            let noValue = try await app.request(.post, "/api/v1/meters", key: key, json: #"{"slug":"s","eventType":"t","aggregation":"SUM"}"#)
            #expect((try noValue.problem(.badRequest, "validation")["errors"] as? [[String: Any]])?.first?["field"] as? String == "valueProperty")
            _ = try await app.request(.post, "/api/v1/meters", key: key, json: "not json").problem(.badRequest, "validation")

            let meter = #"{"slug":"energy_kwh","name":"Energy","eventType":"machine.energy","aggregation":"SUM","valueProperty":"$['energy-kwh']","groupBy":{"site":"$.site.name","phase":"$.phases[0]"}}"#
            let created = try await app.request(.post, "/api/v1/meters", key: key, json: meter)
            #expect(created.status == .created)
            let body = try created.json()
            #expect(body["slug"] as? String == "energy_kwh" && body["skipped"] as? Int == 0)
            #expect((body["groupBy"] as? [String: String]) == ["site": "$.site.name", "phase": "$.phases[0]"])
            _ = try await app.request(.post, "/api/v1/meters", key: key, json: meter).problem(.conflict, "conflict")
            #expect(try await app.request(.get, "/api/v1/meters/energy_kwh", key: key).json()["eventType"] as? String == "machine.energy")
            #expect(try await app.request(.get, "/api/v1/meters", key: key).jsonArray().count == 1)
            #expect(try await app.request(.delete, "/api/v1/meters/energy_kwh", key: key).status == .noContent)
            _ = try await app.request(.get, "/api/v1/meters/energy_kwh", key: key).problem(.notFound, "not-found")
        }
    }

    @Test func queryAnswersJSONAndCSVExactly() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            let meter = #"{"slug":"run_hours","eventType":"machine.usage","aggregation":"SUM","valueProperty":"$.hours","groupBy":{"state":"$.state"}}"#
            #expect(try await app.request(.post, "/api/v1/meters", key: key, json: meter).status == .created)
            // 0.1 hour, 10,000 times, over two machines and two states: exactly 1000.
            for batch in 0..<10 {
                let events = (0..<1000).map { index in
                    cloudEvent("e\(batch)-\(index)", subject: index % 2 == 0 ? "exc-1" : "exc-2",
                               time: "2026-11-25T\(String(format: "%02d", 8 + batch)):\(String(format: "%02d", index % 60)):00Z",
                               data: #"{"hours":0.1,"state":"\#(index % 4 == 0 ? "idle" : "running")"}"#)
                }
                #expect(try await app.request(.post, "/api/v1/events", key: key, json: "[" + events.joined(separator: ",") + "]").status == .noContent)
            }
            let range = "from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z"
            let total = try await app.request(.get, "/api/v1/meters/run_hours/query?\(range)", key: key)
            #expect(total.text.contains(#""value":1000,"#), "\(total.text)")
            let body = try total.json()
            #expect(body["from"] as? String == "2026-11-25T00:00:00Z" && body["windowSize"] is NSNull)

            let get = try await app.request(.get, "/api/v1/meters/run_hours/query?\(range)&windowSize=HOUR&subject=exc-1&groupBy=state&filterGroupBy%5Bstate%5D=idle", key: key).json()
            let post = try await app.request(.post, "/api/v1/meters/run_hours/query", key: key, json: """
                {"from":"2026-11-25T00:00:00Z","to":"2026-11-26T00:00:00Z","windowSize":"HOUR","subject":["exc-1"],"groupBy":["state"],"filterGroupBy":{"state":"idle"}}
                """).json()
            let rows = try #require(get["data"] as? [[String: Any]])
            #expect(rows.count == 10)
            #expect(rows.allSatisfy { ($0["groupBy"] as? [String: String]) == ["state": "idle"] && $0["subject"] as? String == "exc-1" })
            #expect(rows.first?["windowStart"] as? String == "2026-11-25T08:00:00Z" && rows.first?["windowEnd"] as? String == "2026-11-25T09:00:00Z")
            #expect(NSDictionary(dictionary: get).isEqual(to: post))
            #expect(rows.allSatisfy { ($0["value"] as? NSNumber)?.doubleValue == 25 })
            // A filter value is decoded once: "%2569dle" means the text "%69dle", not "idle".
            let literal = try await app.request(.get, "/api/v1/meters/run_hours/query?\(range)&filterGroupBy%5Bstate%5D=%2569dle", key: key).json()
            #expect((literal["data"] as? [[String: Any]])?.isEmpty == true)

            let csv = try await app.request(.get, "/api/v1/meters/run_hours/query?\(range)&windowSize=DAY&windowTimeZone=Asia/Shanghai&groupBy=state", key: key,
                                            headers: [.accept: "text/csv"])
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = csv.text.split(separator: "\r\n").map(String.init)
            #expect(lines == [
                "window_start,window_end,subject,state,value",
                // Shanghai's day ends at 16:00Z: hours 08–15Z fall on the 25th, 16–17Z on the 26th.
                "2026-11-25T00:00:00Z,2026-11-25T16:00:00Z,,idle,200",
                "2026-11-25T00:00:00Z,2026-11-25T16:00:00Z,,running,600",
                "2026-11-25T16:00:00Z,2026-11-26T00:00:00Z,,idle,50",
                "2026-11-25T16:00:00Z,2026-11-26T00:00:00Z,,running,150",
            ])
        }
    }

    @Test func badQueriesAre400NamingTheField() async throws {
        try await withLiveServer(configure: { $0.limits.maxQueryWindows = 100 }) { app in
            let (_, key) = try await app.tenantWithKey("Acme")
            #expect(try await app.request(.post, "/api/v1/meters", key: key, json: #"{"slug":"c","eventType":"t","aggregation":"COUNT"}"#).status == .created)
            let cases: [(String, String)] = [
                ("from=2026-11-25T00:00:30Z&to=2026-11-26T00:00:00Z", "from"),
                ("from=yesterday", "from"),
                ("from=2026-11-25T00:00:00Z&to=2026-11-24T00:00:00Z", "to"),
                ("windowSize=WEEK", "windowSize"),
                ("windowTimeZone=Mars/Olympus", "windowTimeZone"),
                ("groupBy=colour", "groupBy"),
                ("from=2026-11-01T00:00:00Z&to=2026-11-26T00:00:00Z&windowSize=HOUR", "windowSize"),
            ]
            for (query, field) in cases {
                let problem = try await app.request(.get, "/api/v1/meters/c/query?\(query)", key: key).problem(.badRequest, "validation")
                let fields = (problem["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
                #expect(fields.contains(field), "\(query): \(problem)")
            }
            let limit = try await app.request(.get, "/api/v1/meters/c/query?from=2026-11-01T00:00:00Z&to=2026-11-26T00:00:00Z&windowSize=HOUR", key: key)
            #expect(limit.text.contains("maxQueryWindows"))
        }
    }
}
