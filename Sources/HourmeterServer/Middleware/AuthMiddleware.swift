import HourmeterCore
import HourmeterStore
import Hummingbird

/// Resolves `Authorization: Bearer <key>` to a caller. Keys are looked up by their SHA-256
/// (the secret is never stored) and the hash is compared again in constant time. Revocation
/// takes effect on the next request: there is no key cache to go stale across processes.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let tenants: any TenantStore

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7,
              header.prefix(7).lowercased() == "bearer " else {
            throw APIError.unauthorized("send an API key as Authorization: Bearer <key>")
        }
        let secret = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard secret.hasPrefix(APIKeyMaterial.prefix), secret.utf8.count <= 128 else {
            throw APIError.unauthorized("the API key is not valid")
        }
        let hash = APIKeyMaterial.hash(of: secret)
        guard let record = try await tenants.apiKey(hash: hash),
              APIKeyMaterial.constantTimeEquals(record.keyHash, hash) else {
            throw APIError.unauthorized("the API key is not valid or has been revoked")
        }
        var context = context
        context.caller = Caller(keyID: record.id, tenantID: record.tenantID, role: record.role, customerID: record.customerID)
        context.logger[metadataKey: "tenant.id"] = .string(record.tenantID)
        return try await next(request, context)
    }
}

import Foundation
