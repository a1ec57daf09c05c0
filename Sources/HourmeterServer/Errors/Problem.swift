import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// An RFC 9457 problem document. `type` is stable per kind of error, so clients branch on it;
/// batches add `errors` with the index and field of every bad item.
struct Problem: Encodable {
    static let typePrefix = "urn:hourmeter:problem:"
    var type: String
    var title: String
    var status: Int
    var detail: String
    var errors: [Item]?
    var index: Int?
    var attribute: String?
    var source: String?
    var id: String?
    var limit: String?
    var limitValue: Int?

    struct Item: Encodable {
        var index: Int?
        var field: String?
        var reason: String
    }

    init(_ error: APIError) {
        type = Self.typePrefix + error.typeSlug
        title = error.title
        status = Int(error.status.code)
        detail = error.detail
        switch error {
        case .validation(_, let issues) where !issues.isEmpty:
            errors = issues.map { Item(index: nil, field: $0.field, reason: $0.reason) }
        case .invalidEvents(let issues):
            errors = issues.map { Item(index: $0.index, field: $0.field, reason: $0.reason) }
        case .eventConflict(let index, let attribute, let source, let id):
            self.index = index
            self.attribute = attribute
            self.source = source
            self.id = id
        case .limitExceeded(let limit, let value, _):
            self.limit = limit
            limitValue = value
        default:
            break
        }
    }

    func response() -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(self)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"hourmeter\"" }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The one place errors become HTTP. Everything a handler throws passes through here.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return Problem(error).response()
        } catch let error as IngestError {
            return Problem(Self.map(error)).response()
        } catch let error as MeterStoreError {
            switch error {
            case .slugTaken(let slug): return Problem(.conflict("a meter with slug \(slug) already exists")).response()
            }
        } catch let error as PricingError {
            return Problem(.validation("\(error.field.isEmpty ? "" : error.field + ": ")\(error.reason); nothing was changed",
                                       [.init(field: error.field, reason: error.reason)])).response()
        } catch let error as PlanStoreError {
            return Problem(Self.map(error)).response()
        } catch let error as CustomerStoreError {
            return Problem(Self.map(error)).response()
        } catch let error as SubscriptionStoreError {
            switch error {
            case .alreadySigned(let signer): return Problem(.conflict("the contract already carries the \(signer)'s signature; a signed contract never changes")).response()
            }
        } catch let error as BillingStoreError {
            return Problem(Self.map(error)).response()
        } catch let error as HTTPError {
            let mapped: APIError = switch error.status {
            case .notFound: .notFound("no route for \(request.method) \(request.uri.path)")
            case .contentTooLarge: .limitExceeded(limit: "maxBodyBytes", value: 0, detail: "the request body is too large")
            case .methodNotAllowed: .validation("method \(request.method) is not allowed on \(request.uri.path)", [])
            default: .validation(error.body ?? "bad request", [])
            }
            var problem = Problem(mapped)
            if error.status == .methodNotAllowed {
                problem.status = 405
                problem.type = Problem.typePrefix + "method-not-allowed"
                problem.title = "Method not allowed"
            }
            return problem.response()
        } catch is DecimalError {
            return Problem(.validation("the result exceeds the 38 significant digits an exact decimal holds; query a shorter range or split by subject", [])).response()
        } catch is StoreError {
            context.logger.error("store unavailable")
            return Problem(.unavailable("the database is unavailable; retry later")).response()
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return Problem(.internal).response()
        }
    }

    static func map(_ error: PlanStoreError) -> APIError {
        switch error {
        case .keyTaken(let key): .conflict("a plan with key \(key) already exists")
        case .noSuchPlan(let key): .notFound("no plan \(key)")
        case .versionPublished(let plan, let number):
            .immutable("version \(number) of plan \(plan) is published and never changes; publish a new version instead")
        case .versionOutOfOrder(let plan, let requested, let next):
            .conflict("plan \(plan) would publish version \(next) next, not \(requested)")
        }
    }

    static func map(_ error: CustomerStoreError) -> APIError {
        switch error {
        case .serialTaken(let serial): .conflict("a device with serial \(serial) is already registered")
        case .keyRegistered: .conflict("this public key is already registered")
        case .inUse(let what): .conflict("\(what) is in use")
        case .duplicate(let what): .conflict("\(what) already exists")
        }
    }

    static func map(_ error: BillingStoreError) -> APIError {
        switch error {
        case .noSuchInvoice(let id): .notFound("no invoice \(id)")
        case .transition(let transition):
            switch transition {
            case .overpayment, .nonPositiveAmount, .creditExceedsRemaining:
                .validation("\(transition); nothing was changed", [.init(field: "amount", reason: transition.description)])
            default: .conflict("\(transition); nothing was changed")
            }
        case .currencyMismatch(let expected, let got):
            .validation("the invoice is in \(expected), not \(got); nothing was changed", [.init(field: "currency", reason: "must be \(expected)")])
        case .ledger(let ledger): .validation("\(ledger); nothing was changed", [])
        }
    }

    static func map(_ error: IngestError) -> APIError {
        switch error {
        case .conflict(let index, let attribute, let source, let id):
            return .eventConflict(index: index, attribute: attribute, source: source, id: id)
        case .shuttingDown:
            return .unavailable("the server is shutting down; retry the batch")
        }
    }
}
