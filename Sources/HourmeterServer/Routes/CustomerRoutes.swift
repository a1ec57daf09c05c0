import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Customers, device models, devices and contract-signing keys. Makers (and operators) write;
/// every key of the tenant reads. Another tenant's records are not found.
struct CustomerRoutes {
    let store: Store
    let configuration: ServerConfiguration

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("customers") { request, context -> Response in
            let caller = try context.requireWriter("create customers")
            let customer = try Self.customer(try await body(request), id: APIKeyMaterial.identifier("cus"), now: configuration.nowMicros())
            try await store.customers.createCustomer(tenantID: caller.tenantID, customer)
            return try HTTPHelpers.json(object: Self.customerObject(customer), status: .created)
        }
        group.get("customers") { request, context -> Response in
            let caller = try context.requireCaller()
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            if let bound = caller.customerID {
                // A key bound to a customer lists that customer only.
                let own = try await store.customers.customer(tenantID: caller.tenantID, id: bound)
                return try HTTPHelpers.json(object: (own.map { [$0] } ?? []).map(Self.customerObject))
            }
            let list = try await store.customers.customers(tenantID: caller.tenantID, limit: limit, after: try HTTPHelpers.query(request, "after"))
            return try HTTPHelpers.json(object: list.map(Self.customerObject))
        }
        group.get("customers/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(object: Self.customerObject(try await customer(context, caller)))
        }
        group.put("customers/{id}") { request, context -> Response in
            let caller = try context.requireWriter("change customers")
            let existing = try await customer(context, caller)
            let updated = try Self.customer(try await body(request), id: existing.id, now: existing.createdAtMicros)
            _ = try await store.customers.updateCustomer(tenantID: caller.tenantID, updated)
            return try HTTPHelpers.json(object: Self.customerObject(updated))
        }
        group.delete("customers/{id}") { _, context -> Response in
            let caller = try context.requireWriter("remove customers")
            let existing = try await customer(context, caller)
            guard try await store.customers.deleteCustomer(tenantID: caller.tenantID, id: existing.id) else { throw APIError.notFound("no customer \(existing.id)") }
            return Response(status: .noContent)
        }
        group.post("device-models") { request, context -> Response in
            let caller = try context.requireWriter("create device models")
            let model = try Self.deviceModel(try await body(request), id: APIKeyMaterial.identifier("dmd"), createdAt: configuration.nowMicros())
            try await store.customers.createDeviceModel(tenantID: caller.tenantID, model)
            return try HTTPHelpers.json(object: Self.modelObject(model), status: .created)
        }
        group.get("device-models/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(object: Self.modelObject(try await deviceModel(context, caller)))
        }
        group.put("device-models/{id}") { request, context -> Response in
            let caller = try context.requireWriter("change device models")
            let existing = try await deviceModel(context, caller)
            let model = try Self.deviceModel(try await body(request), id: existing.id, createdAt: existing.createdAtMicros)
            _ = try await store.customers.updateDeviceModel(tenantID: caller.tenantID, model)
            return try HTTPHelpers.json(object: Self.modelObject(model))
        }
        group.delete("device-models/{id}") { _, context -> Response in
            let caller = try context.requireWriter("remove device models")
            let existing = try await deviceModel(context, caller)
            guard try await store.customers.deleteDeviceModel(tenantID: caller.tenantID, id: existing.id) else { throw APIError.notFound("no device model") }
            return Response(status: .noContent)
        }
        group.get("device-models") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(object: try await store.customers.deviceModels(tenantID: caller.tenantID).map(Self.modelObject))
        }
        group.post("devices") { request, context -> Response in
            let caller = try context.requireWriter("register devices")
            let device = try await device(try await body(request), tenantID: caller.tenantID, id: APIKeyMaterial.identifier("dev"),
                                          serial: nil, createdAt: configuration.nowMicros())
            try await store.customers.createDevice(tenantID: caller.tenantID, device)
            return try HTTPHelpers.json(object: Self.deviceObject(device), status: .created)
        }
        group.get("devices") { request, context -> Response in
            let caller = try context.requireCaller()
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let list = try await store.customers.devices(tenantID: caller.tenantID, customerID: caller.customerID ?? (try HTTPHelpers.query(request, "customer")),
                                                         limit: limit, after: try HTTPHelpers.query(request, "after"))
            return try HTTPHelpers.json(object: list.map(Self.deviceObject))
        }
        group.get("devices/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(object: Self.deviceObject(try await device(context, caller)))
        }
        group.put("devices/{id}") { request, context -> Response in
            let caller = try context.requireWriter("change devices")
            let existing = try await device(context, caller)
            // The serial names the device's events: it does not change.
            let updated = try await device(try await body(request), tenantID: caller.tenantID, id: existing.id, serial: existing.serial,
                                           createdAt: existing.createdAtMicros)
            _ = try await store.customers.updateDevice(tenantID: caller.tenantID, updated)
            return try HTTPHelpers.json(object: Self.deviceObject(updated))
        }
        group.delete("devices/{id}") { _, context -> Response in
            let caller = try context.requireWriter("remove devices")
            let existing = try await device(context, caller)
            guard try await store.customers.deleteDevice(tenantID: caller.tenantID, id: existing.id) else { throw APIError.notFound("no device \(existing.id)") }
            return Response(status: .noContent)
        }
        group.post("signing-keys") { request, context -> Response in
            // The maker enrols its own keys; a customer's key is enrolled with a customer API
            // key, so the maker cannot hold both sides of a contract.
            let caller = try context.requireCaller()
            let fields = try FieldReader(try await body(request), allowed: ["owner", "customer", "public_key"])
            let owner = try fields.requiredString("owner", max: 20)
            guard owner == "maker" || owner == "customer" else { throw FieldReader.invalid("owner", "must be maker or customer") }
            if owner == "maker", !caller.role.canWriteUsage {
                throw APIError.forbidden("a \(caller.role.rawValue) key cannot enrol the maker's signing keys; use a maker key")
            }
            if owner == "customer", caller.role != .customer {
                throw APIError.forbidden("a customer's signing key is enrolled with a customer API key, so the maker never holds both sides")
            }
            var customerID: String?
            if owner == "customer" {
                let id = try fields.requiredString("customer", max: 64)
                guard try await store.customers.customer(tenantID: caller.tenantID, id: id) != nil else { throw FieldReader.invalid("customer", "no such customer") }
                // A key bound to a customer enrols that customer's keys only.
                if let bound = caller.customerID, bound != id {
                    throw APIError.forbidden("this customer key is bound to another customer")
                }
                customerID = id
            } else if fields.has("customer") {
                throw FieldReader.invalid("customer", "only a customer's key names a customer")
            }
            let publicKey = try fields.requiredString("public_key", max: 100)
            guard ContractSignature.publicKey(base64: publicKey) != nil else {
                throw FieldReader.invalid("public_key", "must be the base64 of a raw 32-byte Ed25519 public key")
            }
            let key = SigningKey(id: APIKeyMaterial.identifier("sgk"), owner: owner, customerID: customerID, publicKey: publicKey,
                                 createdAtMicros: configuration.nowMicros())
            try await store.customers.createSigningKey(tenantID: caller.tenantID, key)
            var answer: [String: Any] = ["id": key.id, "owner": owner, "public_key": publicKey, "created_at": HTTPHelpers.timestamp(key.createdAtMicros)]
            answer["customer"] = customerID
            return try HTTPHelpers.json(object: answer, status: .created)
        }
    }

    /// ISO 10816-3 style machine groups, used later for vibration zones.
    static let machineGroups = ["class_i", "class_ii", "class_iii", "class_iv"]

    func body(_ request: Request) async throws -> [String: Any] {
        try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes)
    }

    func customer(_ context: AppRequestContext, _ caller: Caller) async throws -> Customer {
        let id = context.parameters.get("id") ?? ""
        guard let customer = try await store.customers.customer(tenantID: caller.tenantID, id: id),
              caller.customerID.map({ $0 == customer.id }) ?? true else { throw APIError.notFound("no customer \(id)") }
        return customer
    }

    func deviceModel(_ context: AppRequestContext, _ caller: Caller) async throws -> DeviceModel {
        let id = context.parameters.get("id") ?? ""
        guard let model = try await store.customers.deviceModel(tenantID: caller.tenantID, id: id) else { throw APIError.notFound("no device model \(id)") }
        return model
    }

    static func deviceModel(_ body: [String: Any], id: String, createdAt: Int64) throws -> DeviceModel {
        let fields = try FieldReader(body, allowed: ["name", "category", "machine_group", "health_profile"])
        var profile: HealthProfile?
        if fields.has("health_profile") {
            guard let document = body["health_profile"] as? [String: Any] else { throw FieldReader.invalid("health_profile", "must be an object") }
            do { profile = try HealthProfile(document: document) } catch { throw FieldReader.invalid(error.field, error.reason) }
        }
        let group = try fields.string("machine_group", max: 20) ?? "class_ii"
        guard machineGroups.contains(group) else {
            throw FieldReader.invalid("machine_group", "must be one of \(machineGroups.joined(separator: ", ")) (ISO 10816 machine classes)")
        }
        return DeviceModel(id: id, name: try fields.requiredString("name"), category: try fields.requiredString("category", max: 64),
                           machineGroup: group, healthProfile: profile, createdAtMicros: createdAt)
    }

    func device(_ context: AppRequestContext, _ caller: Caller) async throws -> Device {
        let id = context.parameters.get("id") ?? ""
        guard let device = try await store.customers.device(tenantID: caller.tenantID, id: id),
              caller.customerID.map({ $0 == device.customerID }) ?? true else { throw APIError.notFound("no device \(id)") }
        return device
    }

    static func customer(_ body: [String: Any], id: String, now: Int64) throws -> Customer {
        let fields = try FieldReader(body, allowed: ["name", "currency", "time_zone", "billing_email", "tax_id", "address"])
        let email = try fields.string("billing_email", max: 254)
        if let email, !(email.contains("@") && !email.hasPrefix("@") && !email.hasSuffix("@") && !email.contains(" ")) {
            throw FieldReader.invalid("billing_email", "\"\(email)\" is not an email address")
        }
        return Customer(id: id, name: try fields.requiredString("name"), currency: try fields.currency("currency"),
                        timeZone: try fields.timeZone("time_zone")!, billingEmail: email, taxID: try fields.string("tax_id", max: 64),
                        address: try fields.string("address", max: 500), createdAtMicros: now)
    }

    func device(_ body: [String: Any], tenantID: String, id: String, serial existingSerial: String?, createdAt: Int64) async throws -> Device {
        let fields = try FieldReader(body, allowed: ["serial", "model", "customer", "commissioned_at", "status"])
        var serial = existingSerial ?? ""
        if existingSerial == nil {
            serial = try fields.requiredString("serial", max: 200)
        } else if let given = try fields.string("serial"), given != existingSerial {
            throw FieldReader.invalid("serial", "a device's serial does not change (its events are found by it)")
        }
        let modelID = try fields.requiredString("model", max: 64)
        guard try await store.customers.deviceModel(tenantID: tenantID, id: modelID) != nil else { throw FieldReader.invalid("model", "no such device model") }
        let customerID = try fields.string("customer", max: 64)
        if let customerID, try await store.customers.customer(tenantID: tenantID, id: customerID) == nil {
            throw FieldReader.invalid("customer", "no such customer")
        }
        let statusText = try fields.string("status", max: 20) ?? Device.Status.active.rawValue
        guard let status = Device.Status(rawValue: statusText) else {
            throw FieldReader.invalid("status", "must be one of \(Device.Status.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return Device(id: id, serial: serial, modelID: modelID, customerID: customerID, commissionedAtMicros: try fields.instant("commissioned_at"),
                      status: status, createdAtMicros: createdAt)
    }

    static func customerObject(_ customer: Customer) -> [String: Any] {
        var object: [String: Any] = ["id": customer.id, "name": customer.name, "currency": customer.currency.code, "time_zone": customer.timeZone,
                                     "created_at": HTTPHelpers.timestamp(customer.createdAtMicros)]
        object["billing_email"] = customer.billingEmail
        object["tax_id"] = customer.taxID
        object["address"] = customer.address
        return object
    }

    static func modelObject(_ model: DeviceModel) -> [String: Any] {
        ["id": model.id, "name": model.name, "category": model.category, "machine_group": model.machineGroup,
         "health_profile": (model.healthProfile ?? .standard).document, "created_at": HTTPHelpers.timestamp(model.createdAtMicros)]
    }

    static func deviceObject(_ device: Device) -> [String: Any] {
        var object: [String: Any] = ["id": device.id, "serial": device.serial, "model": device.modelID, "status": device.status.rawValue,
                                     "created_at": HTTPHelpers.timestamp(device.createdAtMicros)]
        object["customer"] = device.customerID
        object["commissioned_at"] = device.commissionedAtMicros.map(HTTPHelpers.timestamp)
        return object
    }
}
