import ArgumentParser
import HourmeterCore
import HourmeterServer
import HourmeterStore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage API keys.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key and print it on the last line of stdout (the only time it is shown).")

        /// The tenant operator keys belong to when none is named.
        static let operatorTenantName = "Hourmeter operator"

        @Option(help: "operator, maker, customer or partner.") var role: String
        @Option(help: "Tenant id (required for roles other than operator).") var tenant: String?
        @Option(help: "A label for the key.") var name: String?
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("--role must be operator, maker, customer or partner") }
            if role != .operator_ && tenant == nil { throw ValidationError("--tenant is required for a \(role.rawValue) key") }
            let now = ServerConfiguration.systemClock()
            let requested = tenant
            let label = name
            let secret = try await Store.withStore(try database.location(), logger: makeLogger("hourmeter"), nowMicros: now, mode: .administration) { store in
                let tenantID: String
                if let requested {
                    guard try await store.tenants.tenant(id: requested) != nil else { throw ValidationError("no tenant \(requested)") }
                    tenantID = requested
                } else if let existing = try await store.tenants.tenants(limit: 1000, after: nil).first(where: { $0.name == Self.operatorTenantName }) {
                    tenantID = existing.id
                } else {
                    tenantID = try await store.tenants.createTenant(name: Self.operatorTenantName, nowMicros: now).id
                }
                let material = APIKeyMaterial.generate()
                let record = try await store.tenants.createAPIKey(tenantID: tenantID, role: role, name: label, keyHash: material.hash, nowMicros: now)
                print("created \(role.rawValue) key \(record.id) for tenant \(tenantID)")
                return material.secret
            }
            print(secret)
        }
    }
}
