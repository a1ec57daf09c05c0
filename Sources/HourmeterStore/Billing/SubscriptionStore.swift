import Foundation
import HourmeterCore
import SQLKit

/// A customer's subscription to a plan version for some devices, from `start`, billed every
/// plan interval from `anchor` in `timeZone`. It bills only while its contract is signed by both.
public struct Subscription: Sendable, Equatable {
    public var id: String
    public var customerID: String
    public var planKey: String
    public var planVersion: Int
    /// Serials of the covered devices: their events (by CloudEvents subject) are its usage.
    public var devices: [String]
    public var startMicros: Int64
    public var anchorMicros: Int64
    public var timeZone: String
    public var trialDays: Int
    public var slaTier: String?
    /// Set when cancelled: the subscription bills up to this instant.
    public var endsAtMicros: Int64?
    public var contractID: String
    public var createdAtMicros: Int64

    public init(id: String, customerID: String, planKey: String, planVersion: Int, devices: [String], startMicros: Int64, anchorMicros: Int64,
                timeZone: String, trialDays: Int, slaTier: String?, endsAtMicros: Int64?, contractID: String, createdAtMicros: Int64) {
        self.id = id
        self.customerID = customerID
        self.planKey = planKey
        self.planVersion = planVersion
        self.devices = devices
        self.startMicros = startMicros
        self.anchorMicros = anchorMicros
        self.timeZone = timeZone
        self.trialDays = trialDays
        self.slaTier = slaTier
        self.endsAtMicros = endsAtMicros
        self.contractID = contractID
        self.createdAtMicros = createdAtMicros
    }
}

/// A contract as stored: its canonical document, hash, and the signatures it carries.
public struct Contract: Sendable, Equatable {
    public struct Signature: Sendable, Equatable {
        public var keyID: String
        public var signature: String
        public var signedAtMicros: Int64
    }

    public var id: String
    public var subscriptionID: String
    public var sha256: String
    public var document: String
    public var replaces: String?
    public var createdAtMicros: Int64
    /// By signer: "maker" and "customer".
    public var signatures: [String: Signature]

    public init(id: String, subscriptionID: String, sha256: String, document: String, replaces: String?, createdAtMicros: Int64,
                signatures: [String: Signature]) {
        self.id = id
        self.subscriptionID = subscriptionID
        self.sha256 = sha256
        self.document = document
        self.replaces = replaces
        self.createdAtMicros = createdAtMicros
        self.signatures = signatures
    }

    /// Both parties signed: the subscription may bill.
    public var isActive: Bool { signatures["maker"] != nil && signatures["customer"] != nil }
}

/// A change of plan from `startsAtMicros` on, under an amendment contract. It takes effect
/// only once both parties have signed the amendment; until then the previous terms go on.
public struct SubscriptionPhase: Sendable, Equatable {
    public var sequence: Int
    public var planKey: String
    public var planVersion: Int
    public var contractID: String
    public var startsAtMicros: Int64

    public init(sequence: Int, planKey: String, planVersion: Int, contractID: String, startsAtMicros: Int64) {
        self.sequence = sequence
        self.planKey = planKey
        self.planVersion = planVersion
        self.contractID = contractID
        self.startsAtMicros = startsAtMicros
    }
}

public enum SubscriptionStoreError: Error, Sendable, Equatable {
    case alreadySigned(signer: String)
}

public protocol SubscriptionStore: Sendable {
    /// Stores the subscription and its contract together.
    func createSubscription(tenantID: String, _ subscription: Subscription, contract: Contract) async throws
    func subscription(tenantID: String, id: String) async throws -> Subscription?
    func subscriptions(tenantID: String, limit: Int, after: String?) async throws -> [Subscription]
    /// Sets the end of a subscription (cancellation); false when there is no such subscription.
    func endSubscription(tenantID: String, id: String, atMicros: Int64) async throws -> Bool
    func contract(tenantID: String, id: String) async throws -> Contract?
    /// Records a verified signature; a second signature by the same party is refused.
    func addSignature(tenantID: String, contractID: String, signer: String, keyID: String, signature: String, atMicros: Int64) async throws
    /// Records a plan change and its amendment contract together; returns the phase.
    func addPhase(tenantID: String, subscriptionID: String, planKey: String, planVersion: Int, startsAtMicros: Int64, contract: Contract,
                  nowMicros: Int64) async throws -> SubscriptionPhase
    /// Plan changes by subscription, in order (one read for a billing run).
    func phases(tenantID: String) async throws -> [String: [SubscriptionPhase]]
    /// Every contract of the tenant with its signatures, by id (one read for a billing run).
    func contracts(tenantID: String) async throws -> [String: Contract]
    /// Tenants that have subscriptions, for the billing service.
    func tenantsWithSubscriptions() async throws -> [String]
}

struct SQLSubscriptionStore: SubscriptionStore {
    let backend: any SQLBackend

    func createSubscription(tenantID: String, _ subscription: Subscription, contract: Contract) async throws {
        let devices = String(decoding: try JSONSerialization.data(withJSONObject: subscription.devices), as: UTF8.self)
        try await backend.transaction { db in
            try await db.raw("""
                INSERT INTO contracts (id, tenant_id, subscription_id, sha256, document, replaces, created_at)
                VALUES (\(bind: contract.id), \(bind: tenantID), \(bind: subscription.id), \(bind: contract.sha256), \(bind: contract.document),
                        \(bind: contract.replaces), \(bind: contract.createdAtMicros))
                """).run()
            try await db.raw("""
                INSERT INTO subscriptions (id, tenant_id, customer_id, plan_key, plan_version, devices, start_at, anchor_at, time_zone,
                                           trial_days, sla_tier, ends_at, contract_id, created_at)
                VALUES (\(bind: subscription.id), \(bind: tenantID), \(bind: subscription.customerID), \(bind: subscription.planKey),
                        \(bind: subscription.planVersion), \(bind: devices), \(bind: subscription.startMicros), \(bind: subscription.anchorMicros),
                        \(bind: subscription.timeZone), \(bind: subscription.trialDays), \(bind: subscription.slaTier),
                        \(bind: subscription.endsAtMicros), \(bind: contract.id), \(bind: subscription.createdAtMicros))
                """).run()
        }
    }

    func subscription(tenantID: String, id: String) async throws -> Subscription? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM subscriptions WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.subscription)
        }
    }

    func subscriptions(tenantID: String, limit: Int, after: String?) async throws -> [Subscription] {
        try await backend.read { db in
            try await db.raw("""
                SELECT * FROM subscriptions WHERE tenant_id = \(bind: tenantID) AND id > \(bind: after ?? "") ORDER BY id LIMIT \(literal: limit)
                """).all().map(Self.subscription)
        }
    }

    func endSubscription(tenantID: String, id: String, atMicros: Int64) async throws -> Bool {
        try await backend.transaction { db in
            !(try await db.raw("""
                UPDATE subscriptions SET ends_at = \(bind: atMicros) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id) RETURNING id
                """).all().isEmpty)
        }
    }

    func contract(tenantID: String, id: String) async throws -> Contract? {
        try await backend.read { db in
            guard let row = try await db.raw("SELECT * FROM contracts WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first() else { return nil }
            var contract = Contract(id: try row.decode(column: "id", as: String.self), subscriptionID: try row.decode(column: "subscription_id", as: String.self),
                                    sha256: try row.decode(column: "sha256", as: String.self), document: try row.decode(column: "document", as: String.self),
                                    replaces: try row.decode(column: "replaces", as: String?.self),
                                    createdAtMicros: try row.decode(column: "created_at", as: Int64.self), signatures: [:])
            for signature in try await db.raw("SELECT * FROM contract_signatures WHERE contract_id = \(bind: id)").all() {
                contract.signatures[try signature.decode(column: "signer", as: String.self)] = Contract.Signature(
                    keyID: try signature.decode(column: "key_id", as: String.self), signature: try signature.decode(column: "signature", as: String.self),
                    signedAtMicros: try signature.decode(column: "signed_at", as: Int64.self))
            }
            return contract
        }
    }

    func addSignature(tenantID: String, contractID: String, signer: String, keyID: String, signature: String, atMicros: Int64) async throws {
        try await backend.transaction { db in
            let inserted = try await db.raw("""
                INSERT INTO contract_signatures (contract_id, signer, key_id, signature, signed_at)
                SELECT \(bind: contractID), \(bind: signer), \(bind: keyID), \(bind: signature), \(bind: atMicros)
                WHERE EXISTS (SELECT 1 FROM contracts WHERE id = \(bind: contractID) AND tenant_id = \(bind: tenantID))
                ON CONFLICT DO NOTHING RETURNING contract_id
                """).first()
            if inserted == nil { throw SubscriptionStoreError.alreadySigned(signer: signer) }
            let signers = try await db.raw("SELECT signer FROM contract_signatures WHERE contract_id = \(bind: contractID)").all()
                .map { try $0.decode(column: "signer", as: String.self) }
            let payload: [String: Any] = ["contract": contractID, "signer": signer, "signers": signers.sorted()]
            try await WebhookOutbox.emit("contract.signed", tenantID: tenantID, payload: payload, atMicros: atMicros, on: db)
            if Set(signers) == ["maker", "customer"] {
                try await WebhookOutbox.emit("contract.activated", tenantID: tenantID, payload: payload, atMicros: atMicros, on: db)
            }
        }
    }

    func addPhase(tenantID: String, subscriptionID: String, planKey: String, planVersion: Int, startsAtMicros: Int64, contract: Contract,
                  nowMicros: Int64) async throws -> SubscriptionPhase {
        let engine = backend.engine
        return try await backend.transaction { db in
            // PostgreSQL: the subscription's row lock orders two changes made at once (SQLite has one writer).
            if engine == .postgres {
                try await db.raw("SELECT id FROM subscriptions WHERE id = \(bind: subscriptionID) AND tenant_id = \(bind: tenantID) FOR UPDATE").run()
            }
            try await db.raw("""
                INSERT INTO contracts (id, tenant_id, subscription_id, sha256, document, replaces, created_at)
                VALUES (\(bind: contract.id), \(bind: tenantID), \(bind: subscriptionID), \(bind: contract.sha256), \(bind: contract.document),
                        \(bind: contract.replaces), \(bind: contract.createdAtMicros))
                """).run()
            let sequence = (try await db.raw("SELECT MAX(seq) AS last FROM subscription_phases WHERE subscription_id = \(bind: subscriptionID)").first()?
                .decode(column: "last", as: Int?.self) ?? 0) + 1
            try await db.raw("""
                INSERT INTO subscription_phases (subscription_id, seq, tenant_id, plan_key, plan_version, contract_id, starts_at, created_at)
                VALUES (\(bind: subscriptionID), \(bind: sequence), \(bind: tenantID), \(bind: planKey), \(bind: planVersion), \(bind: contract.id),
                        \(bind: startsAtMicros), \(bind: nowMicros))
                """).run()
            return SubscriptionPhase(sequence: sequence, planKey: planKey, planVersion: planVersion, contractID: contract.id, startsAtMicros: startsAtMicros)
        }
    }

    func phases(tenantID: String) async throws -> [String: [SubscriptionPhase]] {
        try await backend.read { db in
            var phases: [String: [SubscriptionPhase]] = [:]
            for row in try await db.raw("SELECT * FROM subscription_phases WHERE tenant_id = \(bind: tenantID) ORDER BY subscription_id, seq").all() {
                phases[try row.decode(column: "subscription_id", as: String.self), default: []].append(SubscriptionPhase(
                    sequence: try row.decode(column: "seq", as: Int.self), planKey: try row.decode(column: "plan_key", as: String.self),
                    planVersion: try row.decode(column: "plan_version", as: Int.self), contractID: try row.decode(column: "contract_id", as: String.self),
                    startsAtMicros: try row.decode(column: "starts_at", as: Int64.self)))
            }
            return phases
        }
    }

    func contracts(tenantID: String) async throws -> [String: Contract] {
        try await backend.read { db in
            var contracts: [String: Contract] = [:]
            for row in try await db.raw("SELECT id, subscription_id, sha256, replaces, created_at FROM contracts WHERE tenant_id = \(bind: tenantID)").all() {
                let id = try row.decode(column: "id", as: String.self)
                contracts[id] = Contract(id: id, subscriptionID: try row.decode(column: "subscription_id", as: String.self),
                                         sha256: try row.decode(column: "sha256", as: String.self), document: "",
                                         replaces: try row.decode(column: "replaces", as: String?.self),
                                         createdAtMicros: try row.decode(column: "created_at", as: Int64.self), signatures: [:])
            }
            for row in try await db.raw("""
                SELECT s.* FROM contract_signatures s JOIN contracts c ON c.id = s.contract_id WHERE c.tenant_id = \(bind: tenantID)
                """).all() {
                let id = try row.decode(column: "contract_id", as: String.self)
                contracts[id]?.signatures[try row.decode(column: "signer", as: String.self)] = Contract.Signature(
                    keyID: try row.decode(column: "key_id", as: String.self), signature: try row.decode(column: "signature", as: String.self),
                    signedAtMicros: try row.decode(column: "signed_at", as: Int64.self))
            }
            return contracts
        }
    }

    func tenantsWithSubscriptions() async throws -> [String] {
        try await backend.read { db in
            try await db.raw("SELECT DISTINCT tenant_id FROM subscriptions ORDER BY tenant_id").all().map { try $0.decode(column: "tenant_id", as: String.self) }
        }
    }

    static func subscription(_ row: any SQLRow) throws -> Subscription {
        let devicesText = try row.decode(column: "devices", as: String.self)
        let devices = (try? JSONSerialization.jsonObject(with: Data(devicesText.utf8))) as? [String] ?? []
        return Subscription(id: try row.decode(column: "id", as: String.self), customerID: try row.decode(column: "customer_id", as: String.self),
                            planKey: try row.decode(column: "plan_key", as: String.self), planVersion: try row.decode(column: "plan_version", as: Int.self),
                            devices: devices, startMicros: try row.decode(column: "start_at", as: Int64.self),
                            anchorMicros: try row.decode(column: "anchor_at", as: Int64.self), timeZone: try row.decode(column: "time_zone", as: String.self),
                            trialDays: try row.decode(column: "trial_days", as: Int.self), slaTier: try row.decode(column: "sla_tier", as: String?.self),
                            endsAtMicros: try row.decode(column: "ends_at", as: Int64?.self), contractID: try row.decode(column: "contract_id", as: String.self),
                            createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }
}
