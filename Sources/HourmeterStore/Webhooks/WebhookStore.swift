import Foundation
import HourmeterCore
import SQLKit

/// An endpoint that receives the tenant's events of the given types, signed with `secret`.
public struct WebhookEndpoint: Sendable, Equatable {
    public var id: String
    public var url: String
    /// HMAC-SHA256 key; shown once, when the endpoint is created.
    public var secret: String
    /// Event types, or ["*"] for all.
    public var eventTypes: [String]
    public var createdAtMicros: Int64

    public init(id: String, url: String, secret: String, eventTypes: [String], createdAtMicros: Int64) {
        self.id = id
        self.url = url
        self.secret = secret
        self.eventTypes = eventTypes
        self.createdAtMicros = createdAtMicros
    }
}

/// One event on its way to one endpoint, with every attempt made.
public struct WebhookDelivery: Sendable, Equatable {
    public struct Attempt: Sendable, Equatable {
        public var atMicros: Int64
        public var statusCode: Int?
        public var error: String?

        public init(atMicros: Int64, statusCode: Int?, error: String?) {
            self.atMicros = atMicros
            self.statusCode = statusCode
            self.error = error
        }
    }

    public var id: String
    public var endpointID: String
    public var eventID: String
    public var eventType: String
    public var payload: String
    /// "pending", "delivered" or "failed" (attempts exhausted).
    public var status: String
    public var attempts: [Attempt]
    /// Attempts made so far (also when `attempts` is not loaded).
    public var attemptCount: Int
    public var nextAttemptMicros: Int64
    public var createdAtMicros: Int64
}

/// The webhook events Hourmeter emits.
public enum WebhookEventType {
    public static let all = ["invoice.finalized", "invoice.paid", "invoice.voided", "credit_note.created", "contract.signed", "contract.activated",
                             "alarm.raised", "alarm.escalated", "alarm.cleared"]
}

public protocol WebhookStore: Sendable {
    func createEndpoint(tenantID: String, _ endpoint: WebhookEndpoint) async throws
    func endpoints(tenantID: String) async throws -> [WebhookEndpoint]
    func deleteEndpoint(tenantID: String, id: String) async throws -> Bool
    func deliveries(tenantID: String, endpointID: String, limit: Int) async throws -> [WebhookDelivery]
    /// Claims pending deliveries due by `atMicros` (oldest first) for `leaseMicros`, so that
    /// several servers on one database never send the same delivery at once; returns them with
    /// their endpoint.
    func claimDue(atMicros: Int64, leaseMicros: Int64, limit: Int) async throws -> [(WebhookDelivery, WebhookEndpoint, tenantID: String)]
    /// Records an attempt: delivered, or retried at `nextAttemptMicros`, or failed for good when nil.
    func recordAttempt(deliveryID: String, attempt: WebhookDelivery.Attempt, delivered: Bool, nextAttemptMicros: Int64?) async throws
}

/// The outbox: events are written in the transaction of the change they announce, with one
/// delivery per subscribed endpoint, so a crash between the change and the delivery loses
/// nothing — the delivery worker finds them when it starts again.
enum WebhookOutbox {
    /// The tenant's endpoints and the event types each takes, read once per transaction.
    static func subscribers(tenantID: String, on db: any SQLDatabase) async throws -> [(id: String, types: [String])] {
        try await db.raw("SELECT id, event_types FROM webhook_endpoints WHERE tenant_id = \(bind: tenantID)").all().map { row in
            (try row.decode(column: "id", as: String.self),
             (try? JSONSerialization.jsonObject(with: Data(try row.decode(column: "event_types", as: String.self).utf8))) as? [String] ?? [])
        }
    }

    static func emit(_ type: String, tenantID: String, payload: [String: Any], atMicros: Int64, on db: any SQLDatabase,
                     subscribers known: [(id: String, types: [String])]? = nil) async throws {
        var subscribers = known
        if subscribers == nil { subscribers = try await Self.subscribers(tenantID: tenantID, on: db) }
        let matching = (subscribers ?? []).filter { $0.types.contains("*") || $0.types.contains(type) }
        guard !matching.isEmpty else { return }
        let eventID = APIKeyMaterial.identifier("evt")
        let body = JSONText.serialize(["id": eventID, "type": type, "created_at": RFC3339.format(microseconds: atMicros), "data": payload] as [String: Any])
        for endpoint in matching {
            try await db.raw("""
                INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload, status, next_attempt_at, created_at)
                VALUES (\(bind: APIKeyMaterial.identifier("whd")), \(bind: tenantID), \(bind: endpoint.id),
                        \(bind: eventID), \(bind: type), \(bind: body), 'pending', \(bind: atMicros), \(bind: atMicros))
                """).run()
        }
    }
}

struct SQLWebhookStore: WebhookStore {
    let backend: any SQLBackend

    func createEndpoint(tenantID: String, _ endpoint: WebhookEndpoint) async throws {
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO webhook_endpoints (id, tenant_id, url, secret, event_types, created_at)
                VALUES (\(bind: endpoint.id), \(bind: tenantID), \(bind: endpoint.url), \(bind: endpoint.secret),
                        \(bind: JSONText.serialize(endpoint.eventTypes)), \(bind: endpoint.createdAtMicros))
                """).run()
        }
    }

    func endpoints(tenantID: String) async throws -> [WebhookEndpoint] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM webhook_endpoints WHERE tenant_id = \(bind: tenantID) ORDER BY id").all().map(Self.endpoint)
        }
    }

    func deleteEndpoint(tenantID: String, id: String) async throws -> Bool {
        try await backend.transaction { db in
            try await db.raw("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = \(bind: id) AND tenant_id = \(bind: tenantID))").run()
            try await db.raw("DELETE FROM webhook_deliveries WHERE endpoint_id = \(bind: id) AND tenant_id = \(bind: tenantID)").run()
            return !(try await db.raw("DELETE FROM webhook_endpoints WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) RETURNING id").all().isEmpty)
        }
    }

    func deliveries(tenantID: String, endpointID: String, limit: Int) async throws -> [WebhookDelivery] {
        try await backend.read { db in
            let rows = try await db.raw("""
                SELECT * FROM webhook_deliveries WHERE tenant_id = \(bind: tenantID) AND endpoint_id = \(bind: endpointID)
                ORDER BY created_at DESC, id LIMIT \(literal: limit)
                """).all()
            var deliveries = try rows.map(Self.delivery)
            for index in deliveries.indices {
                deliveries[index].attempts = try await db.raw("""
                    SELECT * FROM webhook_attempts WHERE delivery_id = \(bind: deliveries[index].id) ORDER BY attempt
                    """).all().map { row in
                    WebhookDelivery.Attempt(atMicros: try row.decode(column: "at", as: Int64.self),
                                            statusCode: try row.decode(column: "status_code", as: Int?.self),
                                            error: try row.decode(column: "error", as: String?.self))
                }
                deliveries[index].attemptCount = deliveries[index].attempts.count
            }
            return deliveries
        }
    }

    func claimDue(atMicros: Int64, leaseMicros: Int64, limit: Int) async throws -> [(WebhookDelivery, WebhookEndpoint, tenantID: String)] {
        try await backend.transaction { db in
            let candidates = try await db.raw("""
                SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= \(bind: atMicros)
                ORDER BY next_attempt_at, id LIMIT \(literal: limit)
                """).all().map { try $0.decode(column: "id", as: String.self) }
            guard !candidates.isEmpty else { return [] }
            let list = candidates.map { "\(bind: $0)" as SQLQueryString }.joined(separator: ", ")
            // The condition is checked again under the row lock: another server's claim wins.
            let claimed = try await db.raw("""
                UPDATE webhook_deliveries SET next_attempt_at = \(bind: atMicros + leaseMicros)
                WHERE id IN (\(list)) AND status = 'pending' AND next_attempt_at <= \(bind: atMicros) RETURNING id
                """).all().map { try $0.decode(column: "id", as: String.self) }
            guard !claimed.isEmpty else { return [] }
            let ids = claimed.map { "\(bind: $0)" as SQLQueryString }.joined(separator: ", ")
            return try await db.raw("""
                SELECT d.*, e.url, e.secret, e.event_types, e.created_at AS endpoint_created_at,
                       (SELECT COUNT(*) FROM webhook_attempts a WHERE a.delivery_id = d.id) AS attempt_count
                FROM webhook_deliveries d
                JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.id IN (\(ids)) ORDER BY d.created_at, d.id
                """).all().map { row in
                let endpoint = WebhookEndpoint(id: try row.decode(column: "endpoint_id", as: String.self), url: try row.decode(column: "url", as: String.self),
                                               secret: try row.decode(column: "secret", as: String.self), eventTypes: [],
                                               createdAtMicros: try row.decode(column: "endpoint_created_at", as: Int64.self))
                var delivery = try Self.delivery(row)
                delivery.attemptCount = try row.decode(column: "attempt_count", as: Int.self)
                return (delivery, endpoint, try row.decode(column: "tenant_id", as: String.self))
            }
        }
    }

    func recordAttempt(deliveryID: String, attempt: WebhookDelivery.Attempt, delivered: Bool, nextAttemptMicros: Int64?) async throws {
        try await backend.transaction { db in
            let count = try await db.raw("SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = \(bind: deliveryID)").first()?
                .decode(column: "n", as: Int.self) ?? 0
            try await db.raw("""
                INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error)
                VALUES (\(bind: deliveryID), \(bind: count + 1), \(bind: attempt.atMicros), \(bind: attempt.statusCode), \(bind: attempt.error))
                ON CONFLICT DO NOTHING
                """).run()
            let status = delivered ? "delivered" : nextAttemptMicros == nil ? "failed" : "pending"
            try await db.raw("""
                UPDATE webhook_deliveries SET status = \(bind: status), next_attempt_at = \(bind: nextAttemptMicros ?? attempt.atMicros)
                WHERE id = \(bind: deliveryID) AND status = 'pending'
                """).run()
        }
    }

    static func endpoint(_ row: any SQLRow) throws -> WebhookEndpoint {
        let types = (try? JSONSerialization.jsonObject(with: Data(try row.decode(column: "event_types", as: String.self).utf8))) as? [String] ?? []
        return WebhookEndpoint(id: try row.decode(column: "id", as: String.self), url: try row.decode(column: "url", as: String.self),
                               secret: try row.decode(column: "secret", as: String.self), eventTypes: types,
                               createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }

    static func delivery(_ row: any SQLRow) throws -> WebhookDelivery {
        WebhookDelivery(id: try row.decode(column: "id", as: String.self), endpointID: try row.decode(column: "endpoint_id", as: String.self),
                        eventID: try row.decode(column: "event_id", as: String.self), eventType: try row.decode(column: "event_type", as: String.self),
                        payload: try row.decode(column: "payload", as: String.self), status: try row.decode(column: "status", as: String.self),
                        attempts: [], attemptCount: 0, nextAttemptMicros: try row.decode(column: "next_attempt_at", as: Int64.self),
                        createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }
}
