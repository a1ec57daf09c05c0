import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Webhook endpoints and their deliveries. The secret is shown once, when an endpoint is made.
struct WebhookRoutes {
    let store: Store
    let configuration: ServerConfiguration

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("webhooks") { request, context -> Response in
            let caller = try context.requireWriter("manage webhooks")
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["url", "event_types"])
            let url = try fields.requiredString("url", max: 2_000)
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), let host = parsed.host, !host.isEmpty else {
                throw FieldReader.invalid("url", "must be an http or https URL")
            }
            if !configuration.webhookAllowPrivateAddresses, Self.isPrivate(host: host) {
                throw FieldReader.invalid("url", "names a loopback, private or link-local address (setting webhookAllowPrivateAddresses)")
            }
            let types = try fields.strings("event_types", maxCount: 20) ?? ["*"]
            for (index, type) in types.enumerated() where type != "*" && !WebhookEventType.all.contains(type) {
                throw FieldReader.invalid("event_types[\(index)]", "must be * or one of \(WebhookEventType.all.joined(separator: ", "))")
            }
            let secret = "whsec_" + APIKeyMaterial.generate().secret.dropFirst(APIKeyMaterial.prefix.count)
            let endpoint = WebhookEndpoint(id: APIKeyMaterial.identifier("whe"), url: url, secret: secret, eventTypes: types,
                                           createdAtMicros: configuration.nowMicros())
            try await store.webhooks.createEndpoint(tenantID: caller.tenantID, endpoint)
            var answer = Self.endpointObject(endpoint)
            answer["secret"] = secret
            return try HTTPHelpers.json(object: answer, status: .created)
        }
        group.get("webhooks") { _, context -> Response in
            let caller = try context.requireWriter("read webhooks")
            return try HTTPHelpers.json(object: try await store.webhooks.endpoints(tenantID: caller.tenantID).map(Self.endpointObject))
        }
        group.delete("webhooks/{id}") { _, context -> Response in
            let caller = try context.requireWriter("manage webhooks")
            let id = context.parameters.get("id") ?? ""
            guard try await store.webhooks.deleteEndpoint(tenantID: caller.tenantID, id: id) else { throw APIError.notFound("no webhook endpoint \(id)") }
            return Response(status: .noContent)
        }
        group.get("webhooks/{id}/deliveries") { request, context -> Response in
            let caller = try context.requireWriter("read webhooks")
            let id = context.parameters.get("id") ?? ""
            guard try await store.webhooks.endpoints(tenantID: caller.tenantID).contains(where: { $0.id == id }) else {
                throw APIError.notFound("no webhook endpoint \(id)")
            }
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let deliveries = try await store.webhooks.deliveries(tenantID: caller.tenantID, endpointID: id, limit: limit)
            return try HTTPHelpers.json(object: deliveries.map { delivery -> [String: Any] in
                ["id": delivery.id, "event_id": delivery.eventID, "event_type": delivery.eventType, "status": delivery.status,
                 "created_at": HTTPHelpers.timestamp(delivery.createdAtMicros), "next_attempt_at": HTTPHelpers.timestamp(delivery.nextAttemptMicros),
                 "payload": (try? JSONSerialization.jsonObject(with: Data(delivery.payload.utf8))) ?? delivery.payload,
                 "attempts": delivery.attempts.map { attempt -> [String: Any] in
                     var object: [String: Any] = ["at": HTTPHelpers.timestamp(attempt.atMicros)]
                     object["status_code"] = attempt.statusCode
                     object["error"] = attempt.error
                     return object
                 }]
            })
        }
    }

    /// Whether `host` is written as a loopback, private, link-local or unspecified address (or
    /// `localhost`). Names that resolve to such addresses are not caught here.
    static func isPrivate(host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" || host == "::" { return true }
        if host.hasPrefix("fc") || host.hasPrefix("fd") || host.hasPrefix("fe80:") { return host.contains(":") }
        let parts = host.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return false }
        switch (parts[0], parts[1]) {
        case (0, _), (10, _), (127, _), (169, 254), (192, 168): return true
        case (172, 16...31): return true
        case (100, 64...127): return true  // carrier-grade NAT
        default: return false
        }
    }

    static func endpointObject(_ endpoint: WebhookEndpoint) -> [String: Any] {
        ["id": endpoint.id, "url": endpoint.url, "event_types": endpoint.eventTypes, "created_at": HTTPHelpers.timestamp(endpoint.createdAtMicros)]
    }
}
