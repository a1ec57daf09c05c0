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
    /// A customer key bound to one customer sees that customer's devices and invoices in the
    /// console; nil for other roles (and for customer keys made before binding existed).
    public var customerID: String? = nil
}

extension TenantStore {
    public func createAPIKey(tenantID: String, role: Role, name: String?, keyHash: String, nowMicros: Int64) async throws -> APIKeyRecord {
        try await createAPIKey(tenantID: tenantID, role: role, name: name, keyHash: keyHash, customerID: nil, nowMicros: nowMicros)
    }
}

public protocol TenantStore: Sendable {
    func createTenant(name: String, nowMicros: Int64) async throws -> Tenant
    func tenant(id: String) async throws -> Tenant?
    func tenants(limit: Int, after: String?) async throws -> [Tenant]
    func createAPIKey(tenantID: String, role: Role, name: String?, keyHash: String, customerID: String?, nowMicros: Int64) async throws -> APIKeyRecord
    /// The live (not revoked) key with this hash.
    func apiKey(hash: String) async throws -> APIKeyRecord?
    func apiKey(id: String) async throws -> APIKeyRecord?
    /// Revokes a key; false when there is no such live key.
    func revokeAPIKey(id: String, nowMicros: Int64) async throws -> Bool
    /// A console session for a key: the session id is kept only as its hash.
    func createSession(idHash: String, keyID: String, csrf: String, nowMicros: Int64, expiresMicros: Int64) async throws
    /// The live session's key (not revoked) and CSRF token.
    func session(idHash: String, nowMicros: Int64) async throws -> (key: APIKeyRecord, csrf: String)?
    func deleteSession(idHash: String) async throws
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

    func createAPIKey(tenantID: String, role: Role, name: String?, keyHash: String, customerID: String?, nowMicros: Int64) async throws -> APIKeyRecord {
        let record = APIKeyRecord(id: APIKeyMaterial.identifier("key"), tenantID: tenantID, role: role, name: name,
                                  keyHash: keyHash, createdAtMicros: nowMicros, revokedAtMicros: nil, customerID: customerID)
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO api_keys (id, tenant_id, role, key_hash, name, created_at, customer_id)
                VALUES (\(bind: record.id), \(bind: tenantID), \(bind: role.rawValue), \(bind: keyHash), \(bind: name), \(bind: nowMicros),
                        \(bind: customerID))
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

    func createSession(idHash: String, keyID: String, csrf: String, nowMicros: Int64, expiresMicros: Int64) async throws {
        try await backend.transaction { db in
            // Expired sessions go when new ones come: the table stays the size of the live ones.
            try await db.raw("DELETE FROM console_sessions WHERE expires_at < \(bind: nowMicros)").run()
            try await db.raw("""
                INSERT INTO console_sessions (id_hash, key_id, csrf, created_at, expires_at)
                VALUES (\(bind: idHash), \(bind: keyID), \(bind: csrf), \(bind: nowMicros), \(bind: expiresMicros))
                """).run()
        }
    }

    func session(idHash: String, nowMicros: Int64) async throws -> (key: APIKeyRecord, csrf: String)? {
        try await backend.read { db in
            guard let row = try await db.raw("""
                SELECT k.*, s.csrf AS session_csrf FROM console_sessions s JOIN api_keys k ON k.id = s.key_id
                WHERE s.id_hash = \(bind: idHash) AND s.expires_at > \(bind: nowMicros) AND k.revoked_at IS NULL
                """).first() else { return nil }
            return (try Self.apiKey(row), try row.decode(column: "session_csrf", as: String.self))
        }
    }

    func deleteSession(idHash: String) async throws {
        try await backend.transaction { db in
            try await db.raw("DELETE FROM console_sessions WHERE id_hash = \(bind: idHash)").run()
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
            revokedAtMicros: try row.decode(column: "revoked_at", as: Int64?.self),
            customerID: try row.decode(column: "customer_id", as: String?.self))
    }
}
