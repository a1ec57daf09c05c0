import HourmeterCore
import HourmeterStore
import Hummingbird

/// Tenants and API keys. Operators create tenants and keys for any tenant; makers create
/// (non-operator) keys for their own tenant. A revoked key stops working at once.
struct TenantRoutes {
    let store: Store
    let configuration: ServerConfiguration

    struct CreateTenant: Decodable { var name: String }
    struct TenantBody: Encodable {
        var id: String, name: String, createdAt: String
        init(_ tenant: Tenant) { id = tenant.id; name = tenant.name; createdAt = HTTPHelpers.timestamp(tenant.createdAtMicros) }
    }
    struct CreateKey: Decodable { var tenant: String?; var role: String; var name: String?; var customer: String? }
    struct KeyBody: Encodable {
        var id: String, tenant: String, role: String, name: String?, createdAt: String
        var customer: String?
        /// Present only in the answer to the request that created the key.
        var key: String?
    }

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("tenants") { request, context -> Response in
            let caller = try context.requireCaller()
            guard caller.role == .operator_ else { throw APIError.forbidden("only an operator key can create tenants") }
            let body = try await HTTPHelpers.decode(CreateTenant.self, from: request, limit: configuration.limits.maxBodyBytes)
            let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !name.isEmpty, name.utf8.count <= 200 else {
                throw APIError.validation("invalid tenant", [.init(field: "name", reason: "1–200 bytes required")])
            }
            let tenant = try await store.tenants.createTenant(name: name, nowMicros: configuration.nowMicros())
            return try HTTPHelpers.json(TenantBody(tenant), status: .created)
        }
        group.get("tenants") { request, context -> Response in
            let caller = try context.requireCaller()
            guard caller.role == .operator_ else { throw APIError.forbidden("only an operator key can list tenants") }
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let tenants = try await store.tenants.tenants(limit: limit, after: try HTTPHelpers.query(request, "after"))
            return try HTTPHelpers.json(tenants.map(TenantBody.init))
        }
        group.post("api-keys") { request, context -> Response in
            let caller = try context.requireCaller()
            let body = try await HTTPHelpers.decode(CreateKey.self, from: request, limit: configuration.limits.maxBodyBytes)
            guard let role = Role(rawValue: body.role) else {
                throw APIError.validation("invalid key", [.init(field: "role", reason: "must be one of operator, maker, customer, partner")])
            }
            let tenantID = body.tenant ?? caller.tenantID
            guard caller.role.mayCreateKey(of: role), caller.role == .operator_ || tenantID == caller.tenantID else {
                throw APIError.forbidden("a \(caller.role.rawValue) key cannot create a \(role.rawValue) key for this tenant")
            }
            guard try await store.tenants.tenant(id: tenantID) != nil else {
                throw APIError.validation("invalid key", [.init(field: "tenant", reason: "no such tenant")])
            }
            // A customer key may be bound to one of the tenant's customers: the console then
            // shows that customer's devices and invoices only.
            if let customer = body.customer {
                guard role == .customer else { throw FieldReader.invalid("customer", "only a customer key is bound to a customer") }
                guard try await store.customers.customer(tenantID: tenantID, id: customer) != nil else {
                    throw FieldReader.invalid("customer", "no such customer in this tenant")
                }
            }
            let material = APIKeyMaterial.generate()
            let record = try await store.tenants.createAPIKey(tenantID: tenantID, role: role, name: body.name, keyHash: material.hash,
                                                              customerID: body.customer, nowMicros: configuration.nowMicros())
            return try HTTPHelpers.json(KeyBody(id: record.id, tenant: record.tenantID, role: role.rawValue, name: record.name,
                                                createdAt: HTTPHelpers.timestamp(record.createdAtMicros), customer: record.customerID,
                                                key: material.secret), status: .created)
        }
        group.delete("api-keys/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            let id = context.parameters.get("id") ?? ""
            // Another tenant's key is indistinguishable from a missing one.
            guard let record = try await store.tenants.apiKey(id: id), record.revokedAtMicros == nil,
                  caller.role == .operator_ || (caller.role == .maker && record.tenantID == caller.tenantID) else {
                throw APIError.notFound("no API key \(id)")
            }
            _ = try await store.tenants.revokeAPIKey(id: id, nowMicros: configuration.nowMicros())
            return Response(status: .noContent)
        }
    }
}
