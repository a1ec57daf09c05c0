import Foundation
import HourmeterCore
import SQLKit

public struct Customer: Sendable, Equatable {
    public var id: String
    public var name: String
    public var currency: Currency
    public var timeZone: String
    public var billingEmail: String?
    public var taxID: String?
    public var address: String?
    public var createdAtMicros: Int64

    public init(id: String, name: String, currency: Currency, timeZone: String, billingEmail: String?, taxID: String?, address: String?,
                createdAtMicros: Int64) {
        self.id = id
        self.name = name
        self.currency = currency
        self.timeZone = timeZone
        self.billingEmail = billingEmail
        self.taxID = taxID
        self.address = address
        self.createdAtMicros = createdAtMicros
    }
}

/// A kind of machine: its category and the vibration limits' machine group (ISO 10816 class).
public struct DeviceModel: Sendable, Equatable {
    public var id: String
    public var name: String
    public var category: String
    public var machineGroup: String
    /// How its health is judged (`HealthProfile`); nil: the standard profile.
    public var healthProfile: HealthProfile?
    public var createdAtMicros: Int64

    public init(id: String, name: String, category: String, machineGroup: String, healthProfile: HealthProfile? = nil, createdAtMicros: Int64) {
        self.id = id
        self.name = name
        self.category = category
        self.machineGroup = machineGroup
        self.healthProfile = healthProfile
        self.createdAtMicros = createdAtMicros
    }

    /// The profile as stored (full JSON), or nil.
    var healthProfileText: String? { healthProfile.map { JSONText.serialize($0.document) } }
}

/// A machine. Its events are those whose CloudEvents `subject` is its `serial`.
public struct Device: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case active, inactive, maintenance, retired
    }

    public var id: String
    public var serial: String
    public var modelID: String
    public var customerID: String?
    public var commissionedAtMicros: Int64?
    public var status: Status
    public var createdAtMicros: Int64

    public init(id: String, serial: String, modelID: String, customerID: String?, commissionedAtMicros: Int64?, status: Status,
                createdAtMicros: Int64) {
        self.id = id
        self.serial = serial
        self.modelID = modelID
        self.customerID = customerID
        self.commissionedAtMicros = commissionedAtMicros
        self.status = status
        self.createdAtMicros = createdAtMicros
    }
}

/// An Ed25519 public key that signs contracts: the maker's (tenant's) or a customer's.
public struct SigningKey: Sendable, Equatable {
    public var id: String
    /// "maker" or "customer".
    public var owner: String
    public var customerID: String?
    /// Base64 of the raw 32 bytes.
    public var publicKey: String
    public var createdAtMicros: Int64

    public init(id: String, owner: String, customerID: String?, publicKey: String, createdAtMicros: Int64) {
        self.id = id
        self.owner = owner
        self.customerID = customerID
        self.publicKey = publicKey
        self.createdAtMicros = createdAtMicros
    }
}

public enum CustomerStoreError: Error, Sendable, Equatable {
    case serialTaken(String)
    case keyRegistered
    case inUse(String)
    /// Something that exists once already exists.
    case duplicate(String)
}

/// Customers, device models, devices and signing keys of a tenant. Every read and write is
/// scoped by tenant: another tenant's records are simply not found.
public protocol CustomerStore: Sendable {
    func createCustomer(tenantID: String, _ customer: Customer) async throws
    func updateCustomer(tenantID: String, _ customer: Customer) async throws -> Bool
    func customer(tenantID: String, id: String) async throws -> Customer?
    func customers(tenantID: String, limit: Int, after: String?) async throws -> [Customer]
    func createDeviceModel(tenantID: String, _ model: DeviceModel) async throws
    func deviceModel(tenantID: String, id: String) async throws -> DeviceModel?
    func deviceModels(tenantID: String) async throws -> [DeviceModel]
    func updateDeviceModel(tenantID: String, _ model: DeviceModel) async throws -> Bool
    /// Deletes a model no device uses (`inUse` otherwise); false when there is no such model.
    func deleteDeviceModel(tenantID: String, id: String) async throws -> Bool
    /// Deletes a customer without devices or subscriptions (`inUse` otherwise); false when there is none.
    func deleteCustomer(tenantID: String, id: String) async throws -> Bool
    func createDevice(tenantID: String, _ device: Device) async throws
    func updateDevice(tenantID: String, _ device: Device) async throws -> Bool
    func device(tenantID: String, id: String) async throws -> Device?
    func device(tenantID: String, serial: String) async throws -> Device?
    func devices(tenantID: String, customerID: String?, limit: Int, after: String?) async throws -> [Device]
    func deleteDevice(tenantID: String, id: String) async throws -> Bool
    func createSigningKey(tenantID: String, _ key: SigningKey) async throws
    func signingKey(tenantID: String, publicKey: String) async throws -> SigningKey?
}

struct SQLCustomerStore: CustomerStore {
    let backend: any SQLBackend

    func createCustomer(tenantID: String, _ customer: Customer) async throws {
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO customers (id, tenant_id, name, currency, time_zone, billing_email, tax_id, address, created_at)
                VALUES (\(bind: customer.id), \(bind: tenantID), \(bind: customer.name), \(bind: customer.currency.code), \(bind: customer.timeZone),
                        \(bind: customer.billingEmail), \(bind: customer.taxID), \(bind: customer.address), \(bind: customer.createdAtMicros))
                """).run()
        }
    }

    func updateCustomer(tenantID: String, _ customer: Customer) async throws -> Bool {
        try await backend.transaction { db in
            !(try await db.raw("""
                UPDATE customers SET name = \(bind: customer.name), currency = \(bind: customer.currency.code), time_zone = \(bind: customer.timeZone),
                    billing_email = \(bind: customer.billingEmail), tax_id = \(bind: customer.taxID), address = \(bind: customer.address)
                WHERE tenant_id = \(bind: tenantID) AND id = \(bind: customer.id) RETURNING id
                """).all().isEmpty)
        }
    }

    func customer(tenantID: String, id: String) async throws -> Customer? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM customers WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.customer)
        }
    }

    func customers(tenantID: String, limit: Int, after: String?) async throws -> [Customer] {
        try await backend.read { db in
            try await db.raw("""
                SELECT * FROM customers WHERE tenant_id = \(bind: tenantID) AND id > \(bind: after ?? "") ORDER BY id LIMIT \(literal: limit)
                """).all().map(Self.customer)
        }
    }

    func createDeviceModel(tenantID: String, _ model: DeviceModel) async throws {
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO device_models (id, tenant_id, name, category, machine_group, health_profile, created_at)
                VALUES (\(bind: model.id), \(bind: tenantID), \(bind: model.name), \(bind: model.category), \(bind: model.machineGroup),
                        \(bind: model.healthProfileText), \(bind: model.createdAtMicros))
                """).run()
        }
    }

    func deviceModel(tenantID: String, id: String) async throws -> DeviceModel? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM device_models WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.deviceModel)
        }
    }

    func deviceModels(tenantID: String) async throws -> [DeviceModel] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM device_models WHERE tenant_id = \(bind: tenantID) ORDER BY id LIMIT 1000").all().map(Self.deviceModel)
        }
    }

    func updateDeviceModel(tenantID: String, _ model: DeviceModel) async throws -> Bool {
        try await backend.transaction { db in
            !(try await db.raw("""
                UPDATE device_models SET name = \(bind: model.name), category = \(bind: model.category), machine_group = \(bind: model.machineGroup),
                    health_profile = \(bind: model.healthProfileText)
                WHERE tenant_id = \(bind: tenantID) AND id = \(bind: model.id) RETURNING id
                """).all().isEmpty)
        }
    }

    func deleteDeviceModel(tenantID: String, id: String) async throws -> Bool {
        try await backend.transaction { db in
            if try await db.raw("SELECT id FROM devices WHERE tenant_id = \(bind: tenantID) AND model_id = \(bind: id) LIMIT 1").first() != nil {
                throw CustomerStoreError.inUse("the device model")
            }
            return !(try await db.raw("DELETE FROM device_models WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) RETURNING id").all().isEmpty)
        }
    }

    func deleteCustomer(tenantID: String, id: String) async throws -> Bool {
        try await backend.transaction { db in
            let devices = try await db.raw("SELECT id FROM devices WHERE tenant_id = \(bind: tenantID) AND customer_id = \(bind: id) LIMIT 1").first()
            let subscriptions = try await db.raw("SELECT id FROM subscriptions WHERE tenant_id = \(bind: tenantID) AND customer_id = \(bind: id) LIMIT 1").first()
            let keys = try await db.raw("SELECT id FROM signing_keys WHERE tenant_id = \(bind: tenantID) AND customer_id = \(bind: id) LIMIT 1").first()
            let apiKeys = try await db.raw("SELECT id FROM api_keys WHERE tenant_id = \(bind: tenantID) AND customer_id = \(bind: id) LIMIT 1").first()
            if devices != nil || subscriptions != nil || keys != nil || apiKeys != nil {
                throw CustomerStoreError.inUse("the customer (devices, subscriptions, signing keys or API keys bound to it refer to it)")
            }
            return !(try await db.raw("DELETE FROM customers WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) RETURNING id").all().isEmpty)
        }
    }

    func createDevice(tenantID: String, _ device: Device) async throws {
        try await backend.transaction { db in
            let inserted = try await db.raw("""
                INSERT INTO devices (id, tenant_id, serial, model_id, customer_id, commissioned_at, status, created_at)
                VALUES (\(bind: device.id), \(bind: tenantID), \(bind: device.serial), \(bind: device.modelID), \(bind: device.customerID),
                        \(bind: device.commissionedAtMicros), \(bind: device.status.rawValue), \(bind: device.createdAtMicros))
                ON CONFLICT DO NOTHING RETURNING id
                """).first()
            if inserted == nil { throw CustomerStoreError.serialTaken(device.serial) }
        }
    }

    func updateDevice(tenantID: String, _ device: Device) async throws -> Bool {
        try await backend.transaction { db in
            !(try await db.raw("""
                UPDATE devices SET model_id = \(bind: device.modelID), customer_id = \(bind: device.customerID),
                    commissioned_at = \(bind: device.commissionedAtMicros), status = \(bind: device.status.rawValue)
                WHERE tenant_id = \(bind: tenantID) AND id = \(bind: device.id) RETURNING id
                """).all().isEmpty)
        }
    }

    func device(tenantID: String, id: String) async throws -> Device? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM devices WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.device)
        }
    }

    func device(tenantID: String, serial: String) async throws -> Device? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM devices WHERE tenant_id = \(bind: tenantID) AND serial = \(bind: serial)").first().map(Self.device)
        }
    }

    func devices(tenantID: String, customerID: String?, limit: Int, after: String?) async throws -> [Device] {
        try await backend.read { db in
            let filter: SQLQueryString = customerID.map { "AND customer_id = \(bind: $0)" } ?? ""
            return try await db.raw("""
                SELECT * FROM devices WHERE tenant_id = \(bind: tenantID) AND id > \(bind: after ?? "") \(filter) ORDER BY id LIMIT \(literal: limit)
                """).all().map(Self.device)
        }
    }

    func deleteDevice(tenantID: String, id: String) async throws -> Bool {
        try await backend.transaction { db in
            !(try await db.raw("DELETE FROM devices WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) RETURNING id").all().isEmpty)
        }
    }

    func createSigningKey(tenantID: String, _ key: SigningKey) async throws {
        try await backend.transaction { db in
            let inserted = try await db.raw("""
                INSERT INTO signing_keys (id, tenant_id, owner, customer_id, public_key, created_at)
                VALUES (\(bind: key.id), \(bind: tenantID), \(bind: key.owner), \(bind: key.customerID), \(bind: key.publicKey), \(bind: key.createdAtMicros))
                ON CONFLICT DO NOTHING RETURNING id
                """).first()
            if inserted == nil { throw CustomerStoreError.keyRegistered }
        }
    }

    func signingKey(tenantID: String, publicKey: String) async throws -> SigningKey? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM signing_keys WHERE tenant_id = \(bind: tenantID) AND public_key = \(bind: publicKey)").first().map { row in
                SigningKey(id: try row.decode(column: "id", as: String.self), owner: try row.decode(column: "owner", as: String.self),
                           customerID: try row.decode(column: "customer_id", as: String?.self),
                           publicKey: try row.decode(column: "public_key", as: String.self),
                           createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
            }
        }
    }

    static func customer(_ row: any SQLRow) throws -> Customer {
        let code = try row.decode(column: "currency", as: String.self)
        guard let currency = Currency(code: code) else { throw StoreError.unavailable("stored customer has an unknown currency \(code)") }
        return Customer(id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
                        currency: currency, timeZone: try row.decode(column: "time_zone", as: String.self),
                        billingEmail: try row.decode(column: "billing_email", as: String?.self),
                        taxID: try row.decode(column: "tax_id", as: String?.self), address: try row.decode(column: "address", as: String?.self),
                        createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }

    static func deviceModel(_ row: any SQLRow) throws -> DeviceModel {
        DeviceModel(id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
                    category: try row.decode(column: "category", as: String.self),
                    machineGroup: try row.decode(column: "machine_group", as: String.self),
                    healthProfile: try row.decode(column: "health_profile", as: String?.self).flatMap { text in
                        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]).flatMap { try? HealthProfile(document: $0) }
                    },
                    createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }

    static func device(_ row: any SQLRow) throws -> Device {
        Device(id: try row.decode(column: "id", as: String.self), serial: try row.decode(column: "serial", as: String.self),
               modelID: try row.decode(column: "model_id", as: String.self), customerID: try row.decode(column: "customer_id", as: String?.self),
               commissionedAtMicros: try row.decode(column: "commissioned_at", as: Int64?.self),
               status: Device.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .inactive,
               createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }
}
