import HourmeterCore
import SQLKit

public struct Tenant: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var createdAtMicros: Int64
}

/// An API key as stored: never the secret, only what it may do and for whom.
public struct APIKeyRecord: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var role: Role
    public var name: String?
    public var keyHash: String
    public var createdAtMicros: Int64
    public var revokedAtMicros: Int64?
}

public protocol TenantStore: Sendable {
    func createTenant(name: String, nowMicros: Int64) async throws -> Tenant
    func tenant(id: String) async throws -> Tenant?
    func tenants(limit: Int, after: String?) async throws -> [Tenant]
    func createAPIKey(tenantID: String, role: Role, name: String?, keyHash: String, nowMicros: Int64) async throws -> APIKeyRecord
    /// The live (not revoked) key with this hash.
    func apiKey(hash: String) async throws -> APIKeyRecord?
    func apiKey(id: String) async throws -> APIKeyRecord?
    /// Revokes a key; false when there is no such live key.
    func revokeAPIKey(id: String, nowMicros: Int64) async throws -> Bool
}

struct SQLTenantStore: TenantStore {
    let backend: any SQLBackend

    func createTenant(name: String, nowMicros: Int64) async throws -> Tenant {
        let tenant = Tenant(id: APIKeyMaterial.identifier("ten"), name: name, createdAtMicros: nowMicros)
        try await backend.transaction { db in
            try await db.raw("INSERT INTO tenants (id, name, created_at) VALUES (\(bind: tenant.id), \(bind: tenant.name), \(bind: nowMicros))").run()
        }
        return tenant
    }

    func tenant(id: String) async throws -> Tenant? {
        try await backend.read { db in
            try await db.raw("SELECT id, name, created_at FROM tenants WHERE id = \(bind: id)").first().map(Self.tenant)
        }
    }

    func tenants(limit: Int, after: String?) async throws -> [Tenant] {
        try await backend.read { db in
            try await db.raw("SELECT id, name, created_at FROM tenants WHERE id > \(bind: after ?? "") ORDER BY id LIMIT \(literal: limit)")
                .all().map(Self.tenant)
        }
    }

    func createAPIKey(tenantID: String, role: Role, name: String?, keyHash: String, nowMicros: Int64) async throws -> APIKeyRecord {
        let record = APIKeyRecord(id: APIKeyMaterial.identifier("key"), tenantID: tenantID, role: role, name: name,
                                  keyHash: keyHash, createdAtMicros: nowMicros, revokedAtMicros: nil)
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO api_keys (id, tenant_id, role, key_hash, name, created_at)
                VALUES (\(bind: record.id), \(bind: tenantID), \(bind: role.rawValue), \(bind: keyHash), \(bind: name), \(bind: nowMicros))
                """).run()
        }
        return record
    }

    func apiKey(hash: String) async throws -> APIKeyRecord? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM api_keys WHERE key_hash = \(bind: hash) AND revoked_at IS NULL").first().map(Self.apiKey)
        }
    }

    func apiKey(id: String) async throws -> APIKeyRecord? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM api_keys WHERE id = \(bind: id)").first().map(Self.apiKey)
        }
    }

    func revokeAPIKey(id: String, nowMicros: Int64) async throws -> Bool {
        try await backend.transaction { db in
            let rows = try await db.raw("UPDATE api_keys SET revoked_at = \(bind: nowMicros) WHERE id = \(bind: id) AND revoked_at IS NULL RETURNING id").all()
            return !rows.isEmpty
        }
    }

    static func tenant(_ row: any SQLRow) throws -> Tenant {
        Tenant(id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
               createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }

    static func apiKey(_ row: any SQLRow) throws -> APIKeyRecord {
        let roleText = try row.decode(column: "role", as: String.self)
        return APIKeyRecord(
            id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
            role: Role(rawValue: roleText) ?? .customer, name: try row.decode(column: "name", as: String?.self),
            keyHash: try row.decode(column: "key_hash", as: String.self),
            createdAtMicros: try row.decode(column: "created_at", as: Int64.self),
            revokedAtMicros: try row.decode(column: "revoked_at", as: Int64?.self))
    }
}
