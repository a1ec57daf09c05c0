import Foundation
import HTTPTypes
import HourmeterCore
import Hummingbird
import HummingbirdTesting
import Testing

private func decimal(_ value: Any?) -> ExactDecimal? { (value as? String).flatMap(ExactDecimal.init) }

/// Every line's decomposition must sum exactly to the line: checks it for a whole preview.
private func expectDecompositionsSum(_ preview: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let lines = try #require(preview["lines"] as? [[String: Any]])
    var subtotal = ExactDecimal.zero
    for line in lines {
        var sum = ExactDecimal.zero
        for step in line["decomposition"] as? [[String: Any]] ?? [] {
            sum = try sum.adding(try #require(decimal(step["amount"])))
            #expect((step["description"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        }
        #expect(sum == decimal(line["amount"]), "\(line)", sourceLocation: sourceLocation)
        if line["kind"] as? String != "minimum_commitment" { subtotal = try subtotal.adding(sum) }
    }
    #expect(decimal(preview["subtotal"]) == subtotal, sourceLocation: sourceLocation)
}

private func line(_ preview: [String: Any], _ charge: String) -> [String: Any]? {
    (preview["lines"] as? [[String: Any]])?.first { $0["charge"] as? String == charge }
}

/// The plan of the worked example: a base rental, run hours priced by device state, diagnoses,
/// a financing percentage, an SLA tier and a minimum commitment.
private let planDocument = """
    {"currency":"CNY","interval":"month",
     "recurring_fees":[{"key":"base_rental","amount":"3000","timing":"in_advance"}],
     "charges":[
       {"key":"run_hours","meter":"run_hours","model":"graduated",
        "properties":{"graduated_ranges":[{"from_value":0,"to_value":100,"per_unit_amount":"10"},{"from_value":100,"to_value":null,"per_unit_amount":"8"}]},
        "state_multipliers":{"idle":"0.5","running":"1","peak":"1.5"}},
       {"key":"diagnoses","meter":"diagnoses","model":"standard","properties":{"amount":"25.5"}},
       {"key":"financing","meter":"financed","model":"percentage",
        "properties":{"rate":"1.3","fixed_amount":"2","free_units_per_events":1,"per_transaction_min_amount":"3"}}],
     "entitlements":{"fault_warning":true,"efficiency_report":false,"api_calls_per_month":10000},
     "minimum_commitment":"10000",
     "sla_tiers":[{"name":"emergency","response_hours":2,"amount":"800"},{"name":"standard","response_hours":12,"amount":"200"}]}
    """

private let exampleUsage = """
    {"run_hours":{"by_state":{"idle":"40","running":"80","peak":"20"}},"diagnoses":"3","financing":{"events":["1000","50","500"]}}
    """

private func createMeters(_ app: LiveFixture, key: String) async throws {
    for (slug, type) in [("run_hours", "machine.usage"), ("diagnoses", "machine.diagnosis"), ("financed", "machine.financing")] {
        let meter = #"{"slug":"\#(slug)","eventType":"\#(type)","aggregation":"SUM","valueProperty":"$.value","groupBy":{"state":"$.state"}}"#
        #expect(try await app.request(.post, "/api/v1/meters", key: key, json: meter).status == .created)
    }
}

@Suite struct PricingAPITests {
    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func plansArePublishedAsImmutableVersions(postgres: Bool) async throws {
        try await withLiveServer(postgres: postgres) { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            try await createMeters(app, key: key)
            let created = try await app.request(.post, "/api/v1/plans", key: key,
                                                json: #"{"key":"excavator-basic","name":"Excavator basic","version":\#(planDocument)}"#)
            #expect(created.status == .created, "\(created.text)")
            let plan = try created.json()
            #expect(plan["currency"] as? String == "CNY" && plan["interval"] as? String == "month" && plan["latest_version"] as? Int == 1)
            let first = try #require(plan["version"] as? [String: Any])
            let firstHash = try #require(first["sha256"] as? String)
            #expect(firstHash.count == 64)
            _ = try await app.request(.post, "/api/v1/plans", key: key, json: #"{"key":"excavator-basic","currency":"CNY","interval":"month"}"#)
                .problem(.conflict, "conflict")
            // A NUL in a name is refused on both engines (PostgreSQL text cannot hold it).
            let nul = try await app.request(.post, "/api/v1/plans", key: key, json: #"{"key":"other","name":"a\u0000b","currency":"CNY","interval":"month"}"#)
                .problem(.badRequest, "validation")
            #expect((nul["errors"] as? [[String: Any]])?.first?["field"] as? String == "name")

            // A change publishes version 2; version 1 stays as it was.
            let changed = planDocument.replacingOccurrences(of: #""amount":"25.5""#, with: #""amount":"30""#)
            let second = try await app.request(.post, "/api/v1/plans/excavator-basic/versions", key: key, json: changed)
            #expect(second.status == .created, "\(second.text)")
            #expect(try second.json()["version"] as? Int == 2)
            #expect(try second.json()["sha256"] as? String != firstHash)

            // Editing a published version is a 409, by number on publish or by PUT/PATCH/DELETE.
            let republish = changed.replacingOccurrences(of: #"{"currency""#, with: #"{"version":1,"currency""#)
            _ = try await app.request(.post, "/api/v1/plans/excavator-basic/versions", key: key, json: republish).problem(.conflict, "immutable")
            _ = try await app.request(.put, "/api/v1/plans/excavator-basic/versions/1", key: key, json: changed).problem(.conflict, "immutable")
            _ = try await app.request(.delete, "/api/v1/plans/excavator-basic/versions/2", key: key).problem(.conflict, "immutable")
            _ = try await app.request(.put, "/api/v1/plans/excavator-basic/versions/9", key: key, json: changed).problem(.notFound, "not-found")
            let v1 = try await app.request(.get, "/api/v1/plans/excavator-basic/versions/1", key: key).json()
            #expect(v1["sha256"] as? String == firstHash)
            let v1Charges = (v1["document"] as? [String: Any])?["charges"] as? [[String: Any]]
            #expect((v1Charges?[1]["properties"] as? [String: Any])?["amount"] as? String == "25.5")
            #expect(try await app.request(.get, "/api/v1/plans/excavator-basic/versions", key: key).jsonArray().map { $0["version"] as? Int } == [1, 2])
            let latest = try await app.request(.get, "/api/v1/plans/excavator-basic", key: key).json()
            #expect(latest["latest_version"] as? Int == 2 && (latest["version"] as? [String: Any])?["version"] as? Int == 2)
            #expect(try await app.request(.get, "/api/v1/plans", key: key).jsonArray().map { $0["key"] as? String } == ["excavator-basic"])

            // Entitlements: flags and limits, latest or a given version.
            let warning = try await app.request(.get, "/api/v1/entitlements/check?plan_key=excavator-basic&feature=fault_warning", key: key).json()
            #expect(warning["enabled"] as? Bool == true && warning["version"] as? Int == 2 && warning["limit"] is NSNull)
            let report = try await app.request(.get, "/api/v1/entitlements/check?plan_key=excavator-basic&feature=efficiency_report&version=1", key: key).json()
            #expect(report["enabled"] as? Bool == false && report["version"] as? Int == 1)
            let calls = try await app.request(.get, "/api/v1/entitlements/check?plan_key=excavator-basic&feature=api_calls_per_month", key: key).json()
            #expect(calls["enabled"] as? Bool == true && calls["limit"] as? Int == 10000)
            let missing = try await app.request(.get, "/api/v1/entitlements/check?plan_key=excavator-basic&feature=remote_unlock", key: key).json()
            #expect(missing["enabled"] as? Bool == false && missing["reason"] is String)
            _ = try await app.request(.get, "/api/v1/entitlements/check?plan_key=nope&feature=x", key: key).problem(.notFound, "not-found")
            _ = try await app.request(.get, "/api/v1/entitlements/check?plan_key=excavator-basic", key: key).problem(.badRequest, "validation")

            // Customers read plans but do not publish; another tenant sees nothing.
            let (_, other) = try await app.tenantWithKey("Other maker")
            _ = try await app.request(.get, "/api/v1/plans/excavator-basic", key: other).problem(.notFound, "not-found")
            #expect(try await app.request(.get, "/api/v1/plans", key: other).jsonArray().isEmpty)
            _ = try await app.request(.get, "/api/v1/entitlements/check?plan_key=excavator-basic&feature=fault_warning", key: other)
                .problem(.notFound, "not-found")
            _ = try await app.request(.post, "/api/v1/pricing/preview", key: other, json: #"{"plan_key":"excavator-basic"}"#)
                .problem(.badRequest, "validation")
            let customerKey = try await app.request(.post, "/api/v1/api-keys", key: key, json: #"{"role":"customer"}"#).json()["key"] as! String
            _ = try await app.request(.post, "/api/v1/plans/excavator-basic/versions", key: customerKey, json: changed).problem(.forbidden, "forbidden")
            #expect(try await app.request(.get, "/api/v1/plans/excavator-basic", key: customerKey).status == .ok)
        }
    }

    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func concurrentPublishesGetDistinctVersions(postgres: Bool) async throws {
        try await withLiveServer(postgres: postgres) { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            try await createMeters(app, key: key)
            #expect(try await app.request(.post, "/api/v1/plans", key: key, json: #"{"key":"p","version":\#(planDocument)}"#).status == .created)
            let numbers = try await withThrowingTaskGroup(of: Int?.self) { group in
                for index in 0..<8 {
                    let document = planDocument.replacingOccurrences(of: #""amount":"25.5""#, with: #""amount":"\#(26 + index)""#)
                    group.addTask {
                        let answer = try await app.request(.post, "/api/v1/plans/p/versions", key: key, json: document)
                        #expect(answer.status == .created, "\(answer.text)")
                        return try answer.json()["version"] as? Int
                    }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(Set(numbers.compactMap { $0 }) == Set(2...9))
            let stored = try await app.request(.get, "/api/v1/plans/p/versions", key: key).jsonArray()
            #expect(stored.map { $0["version"] as? Int } == Array(1...9))
            #expect(Set(stored.compactMap { $0["sha256"] as? String }).count == 9)
        }
    }

    struct BadDocument: Sendable, CustomStringConvertible {
        let name: String
        let edit: @Sendable (String) -> String
        let field: String
        var description: String { name }
    }

    static let badDocuments: [BadDocument] = [
        BadDocument(name: "unknown model", edit: { $0.replacingOccurrences(of: #""model":"standard""#, with: #""model":"tiered""#) },
                    field: "version.charges[1].model"),
        BadDocument(name: "overlapping ranges", edit: { $0.replacingOccurrences(of: #"{"from_value":100,"to_value":null"#, with: #"{"from_value":90,"to_value":null"#) },
                    field: "version.charges[0].properties.graduated_ranges[1].from_value"),
        BadDocument(name: "gapped ranges", edit: { $0.replacingOccurrences(of: #"{"from_value":100,"to_value":null"#, with: #"{"from_value":150,"to_value":null"#) },
                    field: "version.charges[0].properties.graduated_ranges[1].from_value"),
        BadDocument(name: "negative price", edit: { $0.replacingOccurrences(of: #""amount":"25.5""#, with: #""amount":"-1""#) },
                    field: "version.charges[1].properties.amount"),
        BadDocument(name: "price as a JSON number", edit: { $0.replacingOccurrences(of: #""amount":"25.5""#, with: #""amount":25.5"#) },
                    field: "version.charges[1].properties.amount"),
        BadDocument(name: "non-decimal string", edit: { $0.replacingOccurrences(of: #""amount":"3000""#, with: #""amount":"3k""#) },
                    field: "version.recurring_fees[0].amount"),
        BadDocument(name: "unknown currency", edit: { $0.replacingOccurrences(of: #""currency":"CNY""#, with: #""currency":"XYZ""#) },
                    field: "version.currency"),
        BadDocument(name: "multiplier for an unknown state", edit: { $0.replacingOccurrences(of: #""peak":"1.5""#, with: #""turbo":"1.5""#) },
                    field: "version.charges[0].state_multipliers.turbo"),
        BadDocument(name: "meter that does not exist", edit: { $0.replacingOccurrences(of: #""meter":"diagnoses""#, with: #""meter":"diagnosis""#) },
                    field: "version.charges[1].meter"),
        BadDocument(name: "unknown property", edit: { $0.replacingOccurrences(of: #""fixed_amount":"2""#, with: #""fixed_amout":"2""#) },
                    field: "version.charges[2].properties.fixed_amout"),
        BadDocument(name: "duplicate charge key", edit: { $0.replacingOccurrences(of: #""key":"financing""#, with: #""key":"diagnoses""#) },
                    field: "version.charges[2].key"),
    ]

    @Test(arguments: badDocuments)
    func badPlanDocumentsAreRejectedNamingTheFieldAndStoreNothing(_ bad: BadDocument) async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            try await createMeters(app, key: key)
            let document = bad.edit(planDocument)
            #expect(document != planDocument, "the edit must change the document")
            let problem = try await app.request(.post, "/api/v1/plans", key: key, json: #"{"key":"p","version":\#(document)}"#)
                .problem(.badRequest, "validation")
            #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == bad.field, "\(problem)")
            #expect(try await app.request(.get, "/api/v1/plans", key: key).jsonArray().isEmpty)

            // The same document as a new version of an existing plan: 400, no version added.
            #expect(try await app.request(.post, "/api/v1/plans", key: key, json: #"{"key":"p","version":\#(planDocument)}"#).status == .created)
            let publish = try await app.request(.post, "/api/v1/plans/p/versions", key: key, json: document).problem(.badRequest, "validation")
            #expect((publish["errors"] as? [[String: Any]])?.first?["field"] as? String == String(bad.field.dropFirst("version.".count)))
            #expect(try await app.request(.get, "/api/v1/plans/p/versions", key: key).jsonArray().count == 1)
        }
    }

    @Test func previewRatesInlineAndPublishedPlansWithEveryChargeExplained() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            try await createMeters(app, key: key)
            let inline = try await app.request(.post, "/api/v1/pricing/preview", key: key, json: """
                {"plan":\(planDocument),"usage":\(exampleUsage),"sla_tier":"emergency"}
                """)
            #expect(inline.status == .ok, "\(inline.text)")
            let preview = try inline.json()
            try expectDecompositionsSum(preview)
            #expect(preview["currency"] as? String == "CNY")
            // By hand: run hours weigh 40×0.5 + 80×1 + 20×1.5 = 130; 100×10 + 30×8 = 1240.
            let runHours = try #require(line(preview, "run_hours"))
            #expect(decimal(runHours["amount"]) == ExactDecimal(1240) && decimal(runHours["priced_quantity"]) == ExactDecimal(130))
            #expect(decimal(runHours["quantity"]) == ExactDecimal(140))
            let kinds = (runHours["decomposition"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            #expect(kinds == ["multiplier", "multiplier", "multiplier", "tier", "tier", "rounding"])
            // 3 × 25.5 = 76.5; financing: event 1 free, event 2 0.65 + 2 = 2.65 raised to 3, event 3 6.5 + 2 = 8.5.
            #expect(decimal(line(preview, "diagnoses")?["amount"]) == ExactDecimal("76.5"))
            #expect(decimal(line(preview, "financing")?["amount"]) == ExactDecimal("11.5"))
            #expect(decimal(line(preview, "base_rental")?["amount"]) == ExactDecimal(3000))
            #expect(decimal(line(preview, "emergency")?["amount"]) == ExactDecimal(800))
            // 3000 + 1240 + 76.5 + 11.5 + 800 = 5128; the commitment of 10000 tops up 4872.
            #expect(decimal(preview["subtotal"]) == ExactDecimal(5128))
            #expect(decimal(line(preview, "minimum_commitment")?["amount"]) == ExactDecimal(4872))
            #expect(decimal(preview["total"]) == ExactDecimal(10000))

            // Half a month: fees, SLA and commitment prorated, usage not.
            let half = try await app.request(.post, "/api/v1/pricing/preview", key: key, json: """
                {"plan":\(planDocument),"usage":\(exampleUsage),"sla_tier":"emergency","proration":"15/30"}
                """).json()
            try expectDecompositionsSum(half)
            #expect(decimal(line(half, "base_rental")?["amount"]) == ExactDecimal(1500))
            #expect(decimal(line(half, "emergency")?["amount"]) == ExactDecimal(400))
            #expect(decimal(half["subtotal"]) == ExactDecimal(3228) && decimal(half["total"]) == ExactDecimal(5000))

            // The same by reference to the published plan, which echoes its version and hash.
            #expect(try await app.request(.post, "/api/v1/plans", key: key, json: #"{"key":"basic","version":\#(planDocument)}"#).status == .created)
            let stored = try await app.request(.post, "/api/v1/pricing/preview", key: key, json: """
                {"plan_key":"basic","version":1,"usage":\(exampleUsage),"sla_tier":"emergency"}
                """).json()
            #expect(stored["total"] as? String == preview["total"] as? String && stored["version"] as? Int == 1)
            #expect((stored["sha256"] as? String)?.count == 64)
        }
    }

    @Test func badPreviewRequestsNameTheField() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            let cases: [(String, String)] = [
                (#"{"plan":\#(planDocument),"usage":{"fuel":"3"}}"#, "usage.fuel"),
                (#"{"plan":\#(planDocument),"usage":{"financing":"30"}}"#, "usage.financing"),
                (#"{"plan":\#(planDocument),"usage":{"run_hours":"30"}}"#, "usage.run_hours"),
                (#"{"plan":\#(planDocument),"usage":{"diagnoses":"-3"}}"#, "usage.diagnoses"),
                (#"{"plan":\#(planDocument),"proration":"31/30"}"#, "proration"),
                (#"{"plan":\#(planDocument),"time_zone":"Mars/Olympus"}"#, "time_zone"),
                (#"{"plan":\#(planDocument),"sla_tier":"platinum"}"#, "sla_tier"),
                (#"{"plan":{"currency":"CNY"}}"#, "plan.interval"),
                (#"{"plan_key":"missing"}"#, "plan_key"),
                (#"{"usage":{}}"#, "plan"),
                (#"{"plan":\#(planDocument),"discount":"5"}"#, "discount"),
                (#"{"plan":\#(planDocument),"usage":{"run_hours":{"by_state":{"runing":"80"}}}}"#, "usage.run_hours.by_state.runing"),
            ]
            for (body, field) in cases {
                let problem = try await app.request(.post, "/api/v1/pricing/preview", key: key, json: body).problem(.badRequest, "validation")
                #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(body)")
            }
        }
    }
}
