import Crypto
import Foundation

/// How the customer's machine data may be used under a contract.
public struct DataUseTerms: Sendable, Equatable {
    /// What the data may be used for ("billing", "maintenance", "insurance", …).
    public var purposes: [String]
    public var retentionDays: Int
    /// Whether data products may include this customer's machines (anonymised by the sandbox).
    public var partnerSharing: Bool

    public init(purposes: [String] = ["billing", "maintenance"], retentionDays: Int = 365, partnerSharing: Bool = false) {
        self.purposes = purposes
        self.retentionDays = retentionDays
        self.partnerSharing = partnerSharing
    }

    public var document: [String: Any] {
        ["purposes": purposes, "retention_days": retentionDays, "partner_sharing": partnerSharing]
    }
}

/// The terms a maker and a customer sign: parties, the plan version in full, SLA, devices,
/// dates, data use, and the contract it amends. Identified by the SHA-256 of its canonical
/// JSON (sorted keys, no spaces, amounts as strings), so a signature covers every term and a
/// contract is never edited: a change is a new contract that names the one it replaces.
public struct ContractTerms: Sendable {
    public var tenantID: String
    public var customerID: String
    public var customerName: String
    public var customerTaxID: String?
    public var subscriptionID: String
    public var planKey: String
    public var planVersion: Int
    public var plan: PlanVersion
    public var slaTier: String?
    public var devices: [String]
    public var startMicros: Int64
    public var anchorMicros: Int64
    public var timeZone: String
    public var trialDays: Int
    public var dataUse: DataUseTerms
    /// The SHA-256 of the contract this one amends.
    public var replaces: String?

    public init(tenantID: String, customerID: String, customerName: String, customerTaxID: String?, subscriptionID: String,
                planKey: String, planVersion: Int, plan: PlanVersion, slaTier: String?, devices: [String], startMicros: Int64,
                anchorMicros: Int64, timeZone: String, trialDays: Int, dataUse: DataUseTerms, replaces: String?) {
        self.tenantID = tenantID
        self.customerID = customerID
        self.customerName = customerName
        self.customerTaxID = customerTaxID
        self.subscriptionID = subscriptionID
        self.planKey = planKey
        self.planVersion = planVersion
        self.plan = plan
        self.slaTier = slaTier
        self.devices = devices
        self.startMicros = startMicros
        self.anchorMicros = anchorMicros
        self.timeZone = timeZone
        self.trialDays = trialDays
        self.dataUse = dataUse
        self.replaces = replaces
    }

    public var document: [String: Any] {
        var document: [String: Any] = [
            "format": "hourmeter-contract-1",
            "maker": ["tenant": tenantID],
            "customer": ["id": customerID, "name": customerName, "tax_id": customerTaxID.map { $0 as Any } ?? NSNull()],
            "subscription": subscriptionID,
            "plan": ["key": planKey, "version": planVersion, "sha256": plan.sha256, "terms": plan.document],
            "sla_tier": slaTier.map { $0 as Any } ?? NSNull(),
            "devices": devices.sorted(),
            "start": RFC3339.format(microseconds: startMicros),
            "billing_anchor": RFC3339.format(microseconds: anchorMicros),
            "time_zone": timeZone,
            "trial_days": trialDays,
            "data_use": dataUse.document,
            "replaces": replaces.map { $0 as Any } ?? NSNull(),
        ]
        if let tier = slaTier, let sla = plan.slaTiers.first(where: { $0.name == tier }) {
            document["sla"] = ["name": sla.name, "response_hours": sla.responseHours.description, "amount": sla.amount.description]
        }
        return document
    }

    /// The bytes that are hashed and signed.
    public func canonicalJSON() -> Data {
        (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }
}

/// Ed25519 signatures over a contract's hash.
///
/// What is signed is the contract's SHA-256 written as 64 lower-case hex characters (ASCII),
/// so any Ed25519 tool can sign it: `printf %s "$HASH" > msg; openssl pkeyutl -sign -inkey
/// key.pem -rawin -in msg`. Keys and signatures travel as base64 of their raw bytes (32 and
/// 64 bytes).
public enum ContractSignature {
    public static func sha256(_ bytes: Data) -> String { SHA256.hash(data: bytes).hexString }

    /// A 32-byte Ed25519 public key from base64, or nil.
    public static func publicKey(base64: String) -> Curve25519.Signing.PublicKey? {
        guard let raw = Data(base64Encoded: base64), raw.count == 32 else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }

    /// Whether `signatureBase64` is a valid Ed25519 signature of `hash` by `publicKey`.
    public static func verify(signatureBase64: String, hash: String, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let signature = Data(base64Encoded: signatureBase64), signature.count == 64 else { return false }
        return publicKey.isValidSignature(signature, for: Data(hash.utf8))
    }
}
