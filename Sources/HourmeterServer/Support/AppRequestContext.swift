import HourmeterCore
import HourmeterStore
import Hummingbird
import Logging

/// The caller, once its API key is checked.
public struct Caller: Sendable {
    public var keyID: String
    public var tenantID: String
    public var role: Role
    /// The customer a customer key is bound to.
    public var customerID: String? = nil
}

public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` on every `/api/v1` route.
    public var caller: Caller?

    public init(source: Source) {
        coreContext = .init(source: source)
        caller = nil
    }

    /// The authenticated caller; routes behind `AuthMiddleware` always have one.
    func requireCaller() throws -> Caller {
        guard let caller else { throw APIError.unauthorized("send an API key as Authorization: Bearer <key>") }
        return caller
    }

    /// A maker or operator key: what may change meters, events, plans. `action` completes
    /// the refusal ("a customer key cannot publish plans").
    func requireWriter(_ action: String = "change meters or send events") throws -> Caller {
        let caller = try requireCaller()
        guard caller.role.canWriteUsage else {
            throw APIError.forbidden("a \(caller.role.rawValue) key cannot \(action); use a maker key")
        }
        return caller
    }
}
