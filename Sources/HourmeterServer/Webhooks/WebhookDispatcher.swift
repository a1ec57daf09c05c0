import AsyncHTTPClient
import Foundation
import HourmeterCore
import HourmeterStore
import Logging
import NIOCore

/// Delivers what the outbox holds: each due delivery is POSTed to its endpoint, signed; a 2xx
/// marks it delivered, anything else (or no answer within the timeout) schedules a retry with
/// exponential backoff until `maxAttempts`, after which it is marked failed. Every attempt is
/// recorded. Delivery is at least once: a receiver deduplicates by the event `id`.
public struct WebhookDispatcher: Sendable {
    let store: Store
    let maxAttempts: Int
    let baseBackoffSeconds: Int64
    let timeoutSeconds: Int64
    let logger: Logger

    public init(store: Store, maxAttempts: Int = 8, baseBackoffSeconds: Int64 = 10, timeoutSeconds: Int64 = 10,
                logger: Logger = Logger(label: "hourmeter.webhooks")) {
        self.store = store
        self.maxAttempts = maxAttempts
        self.baseBackoffSeconds = baseBackoffSeconds
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
    }

    /// Deliveries in flight at once: one slow endpoint does not hold up the others.
    static let concurrency = 8

    /// Attempts every delivery due at `nowMicros` (at most `limit`, a few at a time); returns
    /// how many were delivered.
    @discardableResult
    public func deliverDue(nowMicros: Int64, limit: Int = 100) async throws -> Int {
        // Claimed for longer than an attempt can take, so another server leaves them alone.
        let claimed = try await store.webhooks.claimDue(atMicros: nowMicros, leaseMicros: (timeoutSeconds + 30) * 1_000_000, limit: limit)
        var delivered = 0
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var next = claimed.makeIterator()
            for _ in 0..<Self.concurrency {
                guard let (delivery, endpoint, _) = next.next() else { break }
                group.addTask { try await attempt(delivery, endpoint: endpoint, nowMicros: nowMicros) }
            }
            while let ok = try await group.next() {
                if ok { delivered += 1 }
                if let (delivery, endpoint, _) = next.next() {
                    group.addTask { try await attempt(delivery, endpoint: endpoint, nowMicros: nowMicros) }
                }
            }
        }
        return delivered
    }

    /// One attempt: POST, record, schedule the retry (or give up). True when delivered.
    private func attempt(_ delivery: WebhookDelivery, endpoint: WebhookEndpoint, nowMicros: Int64) async throws -> Bool {
        let body = Array(delivery.payload.utf8)
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Hourmeter-Event-Type", value: delivery.eventType)
        request.headers.add(name: "Hourmeter-Delivery-Id", value: delivery.id)
        request.headers.add(name: "Hourmeter-Signature", value: WebhookSignature.header(secret: endpoint.secret, timestampSeconds: nowMicros / 1_000_000, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        var attempt = WebhookDelivery.Attempt(atMicros: nowMicros, statusCode: nil, error: nil)
        var ok = false
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            attempt.statusCode = Int(response.status.code)
            ok = (200..<300).contains(response.status.code)
        } catch {
            attempt.error = String(describing: error).prefix(500).description
        }
        let made = delivery.attemptCount + 1
        let retry: Int64? = ok || made >= maxAttempts ? nil
            : nowMicros + WebhookSignature.backoffSeconds(afterAttempt: made, baseSeconds: baseBackoffSeconds) * 1_000_000
        try await store.webhooks.recordAttempt(deliveryID: delivery.id, attempt: attempt, delivered: ok, nextAttemptMicros: retry)
        if !ok { logger.warning("webhook delivery failed", metadata: ["delivery": "\(delivery.id)", "status": "\(attempt.statusCode ?? 0)"]) }
        return ok
    }
}
