import Foundation
import HTTPTypes
import HourmeterCore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct AuthAndTenancyTests {
    @Test func missingWrongAndRevokedKeysGet401() async throws {
        try await withLiveServer { app in
            _ = try await app.request(.get, "/api/v1/meters", key: nil).problem(.unauthorized, "unauthorized")
            _ = try await app.request(.get, "/api/v1/meters", key: "hm_0000000000000000").problem(.unauthorized, "unauthorized")
            let missingScheme = try await app.request(.get, "/api/v1/meters", key: nil, headers: [.authorization: "Basic abc"])
            _ = try missingScheme.problem(.unauthorized, "unauthorized")
            #expect(missingScheme.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)

            let (tenant, key) = try await app.tenantWithKey("Acme")
            #expect(try await app.request(.get, "/api/v1/meters", key: key).status == .ok)
            let created = try await app.request(.post, "/api/v1/api-keys", key: key, json: #"{"role":"customer"}"#)
            #expect(created.status == .created)
            let customer = try created.json()
            #expect(customer["tenant"] as? String == tenant)
            let customerKey = try #require(customer["key"] as? String)
            #expect(customerKey.hasPrefix("hm_") && customerKey.count >= 3 + 32)  // ≥ 128 random bits
            #expect(try await app.request(.get, "/api/v1/meters", key: customerKey).status == .ok)
            // The maker revokes the customer key: it stops working at once.
            #expect(try await app.request(.delete, "/api/v1/api-keys/\(customer["id"] as! String)", key: key).status == .noContent)
            _ = try await app.request(.get, "/api/v1/meters", key: customerKey).problem(.unauthorized, "unauthorized")
            // Revoking twice is a 404, not a second success.
            _ = try await app.request(.delete, "/api/v1/api-keys/\(customer["id"] as! String)", key: key).problem(.notFound, "not-found")
        }
    }

    @Test func rolesLimitWhatAKeyMayDo() async throws {
        try await withLiveServer { app in
            let (_, maker) = try await app.tenantWithKey("Acme")
            let (_, customer) = try await app.tenantWithKey("Acme customer", role: "customer")
            _ = try await app.request(.post, "/api/v1/tenants", key: maker, json: #"{"name":"x"}"#).problem(.forbidden, "forbidden")
            _ = try await app.request(.post, "/api/v1/api-keys", key: maker, json: #"{"role":"operator"}"#).problem(.forbidden, "forbidden")
            _ = try await app.request(.post, "/api/v1/events", key: customer, json: cloudEvent("1"), contentType: "application/cloudevents+json")
                .problem(.forbidden, "forbidden")
            _ = try await app.request(.post, "/api/v1/meters", key: customer, json: #"{"slug":"a","eventType":"t","aggregation":"COUNT"}"#)
                .problem(.forbidden, "forbidden")
            let badLimit = try await app.request(.get, "/api/v1/tenants?limit=lots", key: app.operatorKey).problem(.badRequest, "validation")
            #expect((badLimit["errors"] as? [[String: Any]])?.first?["field"] as? String == "limit")
            let badRole = try await app.request(.post, "/api/v1/api-keys", key: app.operatorKey, json: #"{"tenant":"x","role":"king"}"#)
            let problem = try badRole.problem(.badRequest, "validation")
            #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == "role")
        }
    }

    /// Tenant A's key never sees B's meters, events or usage, and cannot touch B's keys.
    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func tenantsAreIsolatedOnEveryRoute(postgres: Bool) async throws {
        try await withLiveServer(postgres: postgres) { app in
            let (_, a) = try await app.tenantWithKey("A")
            let (_, b) = try await app.tenantWithKey("B")
            let meter = #"{"slug":"run_hours","eventType":"machine.usage","aggregation":"SUM","valueProperty":"$.hours"}"#
            #expect(try await app.request(.post, "/api/v1/meters", key: a, json: meter).status == .created)
            let batch = "[" + cloudEvent("a1", subject: "a-machine") + "," + cloudEvent("a2", subject: "a-machine") + "]"
            #expect(try await app.request(.post, "/api/v1/events", key: a, json: batch).status == .noContent)

            _ = try await app.request(.get, "/api/v1/meters/run_hours", key: b).problem(.notFound, "not-found")
            _ = try await app.request(.get, "/api/v1/meters/run_hours/query", key: b).problem(.notFound, "not-found")
            _ = try await app.request(.post, "/api/v1/meters/run_hours/query", key: b, json: "{}").problem(.notFound, "not-found")
            _ = try await app.request(.delete, "/api/v1/meters/run_hours", key: b).problem(.notFound, "not-found")
            #expect(try await app.request(.get, "/api/v1/meters", key: b).jsonArray().isEmpty)
            #expect(try await app.request(.get, "/api/v1/events", key: b).jsonArray().isEmpty)

            // B defines the same slug and sends the same (source, id): it sees only its own usage.
            #expect(try await app.request(.post, "/api/v1/meters", key: b, json: meter).status == .created)
            #expect(try await app.request(.post, "/api/v1/events", key: b, json: "[" + cloudEvent("a1", subject: "b-machine", data: #"{"hours":5}"#) + "]").status == .noContent)
            let usageB = try await app.request(.get, "/api/v1/meters/run_hours/query?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z&groupBy=subject", key: b).json()
            let rowsB = try #require(usageB["data"] as? [[String: Any]])
            #expect(rowsB.count == 1 && rowsB[0]["subject"] as? String == "b-machine" && (rowsB[0]["value"] as? NSNumber)?.intValue == 5)
            let usageA = try await app.request(.get, "/api/v1/meters/run_hours/query?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z", key: a).json()
            #expect(((usageA["data"] as? [[String: Any]])?.first?["value"] as? NSNumber)?.intValue == 2)
            #expect(try await app.request(.get, "/api/v1/events", key: a).jsonArray().allSatisfy { ($0["event"] as? [String: Any])?["subject"] as? String == "a-machine" })

            // B cannot revoke A's keys: it cannot even learn they exist.
            let keyA = try await app.request(.post, "/api/v1/api-keys", key: a, json: #"{"role":"partner"}"#).json()
            _ = try await app.request(.delete, "/api/v1/api-keys/\(keyA["id"] as! String)", key: b).problem(.notFound, "not-found")
            #expect(try await app.request(.get, "/api/v1/meters", key: keyA["key"] as? String).status == .ok)
        }
    }
}
