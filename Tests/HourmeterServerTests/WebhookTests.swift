import Foundation
import HTTPTypes
import HourmeterCore
import HourmeterServer
import HourmeterStore
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// What a webhook receiver on loopback got, in order.
private actor Receiver {
    struct Delivery { let type: String; let signature: String; let body: [UInt8] }
    var deliveries: [Delivery] = []
    var port: Int?
    var failedFinalized = false

    func record(_ delivery: Delivery) -> Bool {
        deliveries.append(delivery)
        // The first invoice.finalized delivery fails, so the retry is seen.
        if delivery.type == "invoice.finalized", !failedFinalized {
            failedFinalized = true
            return false
        }
        return true
    }

    func setPort(_ port: Int) { self.port = port }
}

/// Runs `body` with a real HTTP receiver on 127.0.0.1 that records what it is sent.
private func withReceiver(_ body: @Sendable (Receiver) async throws -> Void) async throws {
    let receiver = Receiver()
    let router = Router()
    router.post("hook") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let accepted = await receiver.record(.init(type: request.headers[HTTPField.Name("Hourmeter-Event-Type")!] ?? "",
                                                   signature: request.headers[HTTPField.Name("Hourmeter-Signature")!] ?? "",
                                                   body: Array(buffer: bytes)))
        // Closing each connection lets the receiver stop at once at the end of the test.
        return Response(status: accepted ? .ok : .internalServerError, headers: [.connection: "close"])
    }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { channel in await receiver.setPort(channel.localAddress?.port ?? 0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService(gracefulShutdownSignals: []) }
        while await receiver.port == nil { try await Task.sleep(for: .milliseconds(10)) }
        try await body(receiver)
        group.cancelAll()
    }
}

@Suite struct WebhookTests {
    @Test func privateAddressesAreRefusedByDefault() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            for url in ["http://127.0.0.1:9/hook", "http://localhost/x", "http://169.254.169.254/latest", "http://10.1.2.3/", "http://[::1]/", "http://192.168.0.5/"] {
                let problem = try await app.request(.post, "/api/v1/webhooks", key: key, json: #"{"url":"\#(url)"}"#).problem(.badRequest, "validation")
                #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == "url", "\(url)")
            }
            #expect(try await app.request(.post, "/api/v1/webhooks", key: key, json: #"{"url":"https://hooks.example.com/hourmeter"}"#).status == .created)
        }
    }

    @Test func eventsAreWrittenWithTheChangeSignedDeliveredAndRetried() async throws {
        try await withReceiver { receiver in
            try await withLiveServer(configure: { $0.billingRunMaxAheadSeconds = 400 * 86_400; $0.webhookAllowPrivateAddresses = true }) { app in
                let port = try #require(await receiver.port)
                let (_, key) = try await app.tenantWithKey("Maker")
                let bad = try await app.request(.post, "/api/v1/webhooks", key: key, json: #"{"url":"ftp://example.com","event_types":["invoice.finalized"]}"#)
                    .problem(.badRequest, "validation")
                #expect((bad["errors"] as? [[String: Any]])?.first?["field"] as? String == "url")
                _ = try await app.request(.post, "/api/v1/webhooks", key: key, json: #"{"url":"http://127.0.0.1:\#(port)/hook","event_types":["invoice.exploded"]}"#)
                    .problem(.badRequest, "validation")
                let created = try await app.request(.post, "/api/v1/webhooks", key: key, json: """
                    {"url":"http://127.0.0.1:\(port)/hook","event_types":["contract.activated","invoice.finalized","invoice.paid"]}
                    """)
                #expect(created.status == .created, "\(created.text)")
                let endpoint = try created.json()
                let secret = try #require(endpoint["secret"] as? String)
                let endpointID = try #require(endpoint["id"] as? String)
                #expect(try await app.request(.get, "/api/v1/webhooks", key: key).jsonArray().first?["secret"] == nil)
                // A dead endpoint (nothing listens on port 1) for the failure path.
                let dead = try await app.request(.post, "/api/v1/webhooks", key: key, json: #"{"url":"http://127.0.0.1:1/hook","event_types":["contract.activated"]}"#)
                let deadID = try #require(try dead.json()["id"] as? String)

                // A minimal billing setup through the API: meter, plan, customer, device, keys, subscription, signatures.
                func post(_ path: String, _ body: String, key: String = key) async throws -> [String: Any] {
                    let answer = try await app.request(.post, path, key: key, json: body)
                    #expect(answer.status == .created || answer.status == .ok, "\(path): \(answer.text)")
                    return try answer.json()
                }
                _ = try await post("/api/v1/meters", #"{"slug":"run_hours","eventType":"machine.usage","aggregation":"SUM","valueProperty":"$.hours"}"#)
                _ = try await post("/api/v1/plans", #"{"key":"p","version":{"currency":"USD","interval":"month","recurring_fees":[{"key":"base","amount":"100"}]}}"#)
                let customer = try await post("/api/v1/customers", #"{"name":"C","currency":"USD","time_zone":"UTC"}"#)["id"] as! String
                let model = try await post("/api/v1/device-models", #"{"name":"M","category":"cnc"}"#)["id"] as! String
                let device = try await post("/api/v1/devices", #"{"serial":"S-1","model":"\#(model)","customer":"\#(customer)"}"#)["id"] as! String
                let makerKey = Curve25519Keys()
                let customerKey = Curve25519Keys()
                _ = try await post("/api/v1/signing-keys", #"{"owner":"maker","public_key":"\#(makerKey.publicBase64)"}"#)
                let customerAPI = try await post("/api/v1/api-keys", #"{"role":"customer"}"#)["key"] as! String
                _ = try await post("/api/v1/signing-keys", #"{"owner":"customer","customer":"\#(customer)","public_key":"\#(customerKey.publicBase64)"}"#, key: customerAPI)
                let subscription = try await post("/api/v1/subscriptions", #"{"customer":"\#(customer)","plan_key":"p","devices":["\#(device)"],"start":"2026-10-01T00:00:00Z"}"#)
                let contract = subscription["contract"] as! [String: Any]
                let hash = contract["sha256"] as! String, contractID = contract["id"] as! String
                for signer in [makerKey, customerKey] {
                    _ = try await post("/api/v1/contracts/\(contractID)/signatures", #"{"public_key":"\#(signer.publicBase64)","signature":"\#(try signer.sign(hash))"}"#)
                }
                _ = try await post("/api/v1/billing/run", #"{"at":"2026-11-03T00:00:00Z"}"#)

                // Written in the same transactions as the changes: pending before anything is sent.
                let pending = try await app.request(.get, "/api/v1/webhooks/\(endpointID)/deliveries", key: key).jsonArray()
                #expect(Set(pending.compactMap { $0["event_type"] as? String }) == ["contract.activated", "invoice.finalized"])
                #expect(pending.allSatisfy { $0["status"] as? String == "pending" })

                let dispatcher = WebhookDispatcher(store: app.store, maxAttempts: 2, baseBackoffSeconds: 10, timeoutSeconds: 1)
                let start: Int64 = 1_800_000_000_000_000
                #expect(try await dispatcher.deliverDue(nowMicros: start) == 1)  // activated; finalized answered 500; dead refused
                #expect(try await dispatcher.deliverDue(nowMicros: start + 5_000_000) == 0)  // nothing due before the backoff
                #expect(try await dispatcher.deliverDue(nowMicros: start + 11_000_000) == 1)  // the retry succeeds; dead fails for good

                let received = await receiver.deliveries
                #expect(received.map(\.type).sorted() == ["contract.activated", "invoice.finalized", "invoice.finalized"])
                for delivery in received {
                    #expect(WebhookSignature.verify(header: delivery.signature, secret: secret, body: delivery.body, nowSeconds: (start / 1_000_000) + 11))
                    #expect(!WebhookSignature.verify(header: delivery.signature, secret: "whsec_wrong", body: delivery.body, nowSeconds: (start / 1_000_000) + 11))
                }
                let finalized = try #require(received.last { $0.type == "invoice.finalized" })
                let payload = try #require(try JSONSerialization.jsonObject(with: Data(finalized.body)) as? [String: Any])
                #expect(payload["type"] as? String == "invoice.finalized" && (payload["data"] as? [String: Any])?["total"] as? String == "100")

                let listed = try await app.request(.get, "/api/v1/webhooks/\(endpointID)/deliveries", key: key).jsonArray()
                let retried = try #require(listed.first { $0["event_type"] as? String == "invoice.finalized" })
                #expect(retried["status"] as? String == "delivered")
                #expect((retried["attempts"] as? [[String: Any]])?.map { $0["status_code"] as? Int } == [500, 200])
                let deadDeliveries = try await app.request(.get, "/api/v1/webhooks/\(deadID)/deliveries", key: key).jsonArray()
                #expect(deadDeliveries.first?["status"] as? String == "failed")
                #expect((deadDeliveries.first?["attempts"] as? [[String: Any]])?.count == 2)
                #expect((deadDeliveries.first?["attempts"] as? [[String: Any]])?.first?["error"] is String)

                // Another tenant sees none of it.
                let (_, other) = try await app.tenantWithKey("Other")
                _ = try await app.request(.get, "/api/v1/webhooks/\(endpointID)/deliveries", key: other).problem(.notFound, "not-found")
            }
        }
    }
}

import Crypto

/// An Ed25519 key pair for tests, Sendable as its raw bytes.
private struct Curve25519Keys: Sendable {
    let raw = Curve25519.Signing.PrivateKey().rawRepresentation
    var key: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: raw) }
    var publicBase64: String { key.publicKey.rawRepresentation.base64EncodedString() }
    func sign(_ hash: String) throws -> String { try key.signature(for: Data(hash.utf8)).base64EncodedString() }
}
