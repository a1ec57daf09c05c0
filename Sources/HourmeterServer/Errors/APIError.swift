import HourmeterCore
import HTTPTypes

/// Every error a client can see. Domain and store errors are mapped to these once, in
/// `ProblemMiddleware`; nothing else reaches a client (database errors become `unavailable`).
public enum APIError: Error, Sendable {
    case unauthorized(String)
    case forbidden(String)
    case notFound(String)
    case validation(String, [FieldIssue])
    case invalidEvents([EventIssue])
    case eventConflict(index: Int, attribute: String, source: String, id: String)
    case conflict(String)
    /// A change to something that never changes once published (a plan version).
    case immutable(String)
    case limitExceeded(limit: String, value: Int, detail: String)
    case unsupportedMediaType(String)
    case notAcceptable(String)
    case unavailable(String)
    case `internal`

    public struct FieldIssue: Sendable, Codable, Equatable {
        public var field: String
        public var reason: String
        public init(field: String, reason: String) { self.field = field; self.reason = reason }
    }

    /// The stable `type` of each kind of problem.
    var typeSlug: String {
        switch self {
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not-found"
        case .validation: "validation"
        case .invalidEvents: "invalid-events"
        case .eventConflict: "event-conflict"
        case .conflict: "conflict"
        case .immutable: "immutable"
        case .limitExceeded: "limit-exceeded"
        case .unsupportedMediaType: "unsupported-media-type"
        case .notAcceptable: "not-acceptable"
        case .unavailable: "unavailable"
        case .internal: "internal"
        }
    }

    var status: HTTPResponse.Status {
        switch self {
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .validation, .invalidEvents: .badRequest
        case .eventConflict, .conflict, .immutable: .conflict
        case .limitExceeded: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .notAcceptable: .notAcceptable
        case .unavailable: .serviceUnavailable
        case .internal: .internalServerError
        }
    }

    var title: String {
        switch self {
        case .unauthorized: "Missing or invalid API key"
        case .forbidden: "Not allowed for this key's role"
        case .notFound: "Not found"
        case .validation: "Invalid request"
        case .invalidEvents: "Invalid events"
        case .eventConflict: "Event conflicts with a stored event"
        case .conflict: "Conflict"
        case .immutable: "Published and immutable"
        case .limitExceeded: "Limit exceeded"
        case .unsupportedMediaType: "Unsupported media type"
        case .notAcceptable: "Not acceptable"
        case .unavailable: "Service unavailable"
        case .internal: "Internal error"
        }
    }

    var detail: String {
        switch self {
        case .unauthorized(let detail), .forbidden(let detail), .notFound(let detail), .conflict(let detail), .immutable(let detail),
             .unsupportedMediaType(let detail), .notAcceptable(let detail), .unavailable(let detail):
            detail
        case .validation(let detail, _): detail
        case .invalidEvents(let issues):
            "\(issues.count) problem\(issues.count == 1 ? "" : "s") in the events; nothing of the batch was stored"
        case .eventConflict(let index, let attribute, let source, let id):
            "event \(index) (source \(source), id \(id)) was already stored with a different \(attribute); nothing of the batch was stored"
        case .limitExceeded(_, _, let detail): detail
        case .internal: "an unexpected error occurred; it has been logged"
        }
    }
}
