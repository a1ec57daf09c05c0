import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// `POST /api/v1/events` (OpenMeter-compatible CloudEvents ingestion) and `GET /api/v1/events`.
struct EventRoutes {
    let store: Store
    let configuration: ServerConfiguration
    let metrics: MetricsRegistry

    static let singleType = "application/cloudevents+json"
    static let batchType = "application/cloudevents-batch+json"
    static let jsonType = "application/json"

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("events") { request, context -> Response in
            let caller = try context.requireWriter()
            if try await ingest(request, tenantID: caller.tenantID) {
                // The batch is durable and queued for the health projection; projecting now
                // makes a device's health current when its upload is answered. Bounded, so an
                // upload never waits for a backlog (after an upgrade, or a long outage): `serve`
                // projects the rest. A failure here loses nothing; the queue stays.
                do { _ = try await store.health.project(limit: 20, rounds: 2) } catch {
                    context.logger.error("health projection failed; it will be retried", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
            return Response(status: .noContent)
        }
        group.get("events") { request, context -> Response in
            let caller = try context.requireCaller()
            return try await list(request, tenantID: caller.tenantID)
        }
    }

    /// Validates the whole batch before anything is stored, then hands it to the store,
    /// which answers only once it is durable. Any problem rejects the whole batch. Returns
    /// whether new device telemetry was stored.
    func ingest(_ request: Request, tenantID: String) async throws -> Bool {
        let mediaType = HTTPHelpers.mediaType(request) ?? Self.jsonType
        guard [Self.singleType, Self.batchType, Self.jsonType].contains(mediaType) else {
            throw APIError.unsupportedMediaType("send \(Self.singleType), \(Self.batchType) or \(Self.jsonType), not \(mediaType)")
        }
        let limits = configuration.limits
        let body = try await HTTPHelpers.body(of: request, limit: limits.maxBodyBytes)
        let parsed: (events: [ParsedEvent], isArray: Bool)
        do {
            parsed = try body.withUnsafeReadableBytes { raw throws(EventBatchParseError) in
                try EventBatchParser.parse(raw, maxEvents: limits.maxEventsPerBatch, maxAttributeBytes: limits.maxAttributeBytes)
            }
        } catch {
            if error.issues.count == 1, error.issues[0].index == nil, error.issues[0].reason.contains("(maxEvents)") {
                throw APIError.limitExceeded(limit: "maxEventsPerBatch", value: limits.maxEventsPerBatch,
                                             detail: "a batch may hold at most \(limits.maxEventsPerBatch) events (limit maxEventsPerBatch)")
            }
            metrics.recordRejected(max(1, Set(error.issues.compactMap(\.index)).count))
            throw APIError.invalidEvents(error.issues)
        }
        if mediaType == Self.singleType && parsed.isArray {
            throw APIError.invalidEvents([EventIssue(index: nil, field: nil, reason: "\(Self.singleType) carries one event object; send arrays as \(Self.batchType)")])
        }
        if mediaType == Self.batchType && !parsed.isArray {
            throw APIError.invalidEvents([EventIssue(index: nil, field: nil, reason: "\(Self.batchType) carries a JSON array of events")])
        }
        let now = configuration.nowMicros()
        let latest = now + Int64(limits.maxEventFutureSeconds) * 1_000_000
        var issues: [EventIssue] = []
        var events: [UsageEvent] = []
        events.reserveCapacity(parsed.events.count)
        for (index, event) in parsed.events.enumerated() {
            if let time = event.timeMicros, time > latest {
                issues.append(EventIssue(index: index, field: "time", reason: "more than \(limits.maxEventFutureSeconds) s ahead of the server clock (limit maxEventFutureSeconds)"))
                continue
            }
            events.append(UsageEvent(event, receivedMicros: now))
        }
        if !issues.isEmpty {
            metrics.recordRejected(parsed.events.count)
            throw APIError.invalidEvents(issues)
        }
        do {
            let result = try await store.events.ingest(tenantID: tenantID, events: events, receivedMicros: now)
            metrics.recordIngest(accepted: result.accepted, deduplicated: result.duplicates)
            return result.accepted > 0 && events.contains { $0.type == EdgeEvents.telemetryType }
        } catch let error as IngestError {
            metrics.recordRejected(events.count)
            throw error
        }
    }

    func list(_ request: Request, tenantID: String) async throws -> Response {
        let query = request.uri.queryParameters
        var issues: [APIError.FieldIssue] = []
        func instant(_ name: String) -> Int64? {
            guard let text = query.get(name) else { return nil }
            guard let value = RFC3339.parseMicroseconds(text) else {
                issues.append(.init(field: name, reason: "not an RFC 3339 timestamp"))
                return nil
            }
            return value
        }
        let from = instant("from"), to = instant("to")
        let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
        guard issues.isEmpty else { throw APIError.validation("invalid event listing parameters", issues) }
        let events = try await store.events.events(
            tenantID: tenantID,
            filter: EventFilter(subject: query.get("subject"), type: query.get("type"), fromMicros: from, toMicros: to, limit: limit))
        var out = "["
        for (offset, listed) in events.enumerated() {
            if offset > 0 { out += "," }
            let event = listed.event
            out += "{\"event\":{\"specversion\":\"1.0\",\"id\":\(JSONText.quoted(event.id)),\"source\":\(JSONText.quoted(event.source))"
            out += ",\"type\":\(JSONText.quoted(event.type)),\"subject\":\(JSONText.quoted(event.subject))"
            out += ",\"time\":\(JSONText.quoted(HTTPHelpers.timestamp(event.timeMicros)))"
            if let contentType = event.dataContentType { out += ",\"datacontenttype\":\(JSONText.quoted(contentType))" }
            if let data = event.data { out += ",\"data\":" + String(decoding: data, as: UTF8.self) }
            out += "},\"ingestedAt\":\(JSONText.quoted(HTTPHelpers.timestamp(listed.ingestedAtMicros)))}"
        }
        out += "]"
        return HTTPHelpers.json(text: Data(out.utf8))
    }
}
