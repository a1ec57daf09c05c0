import Crypto
import Foundation

/// How often a plan bills.
public enum BillingInterval: String, Sendable, Equatable, CaseIterable {
    case month, quarter, year
}

/// A fee charged every period regardless of usage, such as a base rental.
public struct RecurringFee: Sendable, Equatable {
    public enum Timing: String, Sendable, Equatable {
        /// Billed at the start of the period it covers.
        case inAdvance = "in_advance"
        /// Billed at the end of the period it covers.
        case inArrears = "in_arrears"
    }

    public var key: String
    public var name: String?
    public var amount: ExactDecimal
    public var timing: Timing

    public init(key: String, name: String? = nil, amount: ExactDecimal, timing: Timing) {
        self.key = key
        self.name = name
        self.amount = amount
        self.timing = timing
    }
}

/// A level of service with a guaranteed response time and its price per period
/// (e.g. 2-hour emergency response for 800 a month). A subscription picks at most one.
public struct SLATier: Sendable, Equatable {
    public var name: String
    public var responseHours: ExactDecimal
    public var amount: ExactDecimal

    public init(name: String, responseHours: ExactDecimal, amount: ExactDecimal) {
        self.name = name
        self.responseHours = responseHours
        self.amount = amount
    }
}

/// A feature a plan switches on or off, or a numeric allowance (API calls per month).
public enum Entitlement: Sendable, Equatable {
    case flag(Bool)
    case limit(ExactDecimal)

    /// A limit of 0 grants nothing; any other limit, or `true`, grants the feature.
    public var isEnabled: Bool {
        switch self {
        case .flag(let on): on
        case .limit(let limit): limit > .zero
        }
    }
}

/// A usage-based charge of a plan: a meter priced by a charge model, with its adjustments.
public struct PlanCharge: Sendable, Equatable {
    /// Identifies the charge within its version (usage and invoice lines refer to it).
    public var key: String
    public var name: String?
    /// The slug of the meter whose usage this charge prices.
    public var meter: String
    public var model: ChargeModel
    public var adjustments: PriceAdjustments

    public init(key: String, name: String? = nil, meter: String, model: ChargeModel, adjustments: PriceAdjustments = PriceAdjustments()) {
        self.key = key
        self.name = name
        self.meter = meter
        self.model = model
        self.adjustments = adjustments
    }
}

/// One immutable version of a plan's price list: what `POST /api/v1/plans/{key}/versions`
/// publishes and what subscriptions and contracts point to.
public struct PlanVersion: Sendable, Equatable {
    public var currency: Currency
    public var interval: BillingInterval
    public var recurringFees: [RecurringFee]
    public var charges: [PlanCharge]
    public var entitlements: [String: Entitlement]
    /// The least a period costs; a shortfall becomes a top-up line (prorated like fees).
    public var minimumCommitment: ExactDecimal?
    public var slaTiers: [SLATier]

    public init(currency: Currency, interval: BillingInterval, recurringFees: [RecurringFee] = [], charges: [PlanCharge] = [],
                entitlements: [String: Entitlement] = [:], minimumCommitment: ExactDecimal? = nil, slaTiers: [SLATier] = []) {
        self.currency = currency
        self.interval = interval
        self.recurringFees = recurringFees
        self.charges = charges
        self.entitlements = entitlements
        self.minimumCommitment = minimumCommitment
        self.slaTiers = slaTiers
    }

    /// Bounds on a document, so one request cannot make rating or storage unbounded.
    public enum Limits {
        public static let charges = 100
        public static let recurringFees = 20
        public static let ranges = 100
        public static let timeOfUseWindows = 50
        public static let volumeDiscounts = 20
        public static let surcharges = 20
        public static let entitlements = 200
        public static let slaTiers = 10
    }

    public func charge(_ key: String) -> PlanCharge? { charges.first { $0.key == key } }

    /// The version as a document with sorted keys and amounts as decimal strings: the form
    /// stored and returned, and what `sha256` is taken of (contracts name a version by it).
    public func canonicalJSON() -> Data {
        // The object holds only JSON types, so serialization cannot fail.
        (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    }

    /// Lower-case hex SHA-256 of `canonicalJSON()`.
    public var sha256: String {
        SHA256.hash(data: canonicalJSON()).hexString
    }

    /// The document as JSON-ready values (parsing it gives this version back).
    public var document: [String: Any] {
        var document: [String: Any] = [
            "currency": currency.code,
            "interval": interval.rawValue,
            "recurring_fees": recurringFees.map { fee -> [String: Any] in
                var object: [String: Any] = ["key": fee.key, "amount": fee.amount.description, "timing": fee.timing.rawValue]
                object["name"] = fee.name
                return object
            },
            "charges": charges.map(Self.chargeDocument),
            "entitlements": entitlements.mapValues { entitlement -> Any in
                switch entitlement {
                case .flag(let on): on
                // A whole number, written as the JSON number plans use (`10000`).
                case .limit(let limit): Int(exactly: limit.normalized.significand).map { $0 as Any } ?? limit.description
                }
            },
            "sla_tiers": slaTiers.map { ["name": $0.name, "response_hours": $0.responseHours.description, "amount": $0.amount.description] },
        ]
        document["minimum_commitment"] = minimumCommitment?.description
        return document
    }

    private static func chargeDocument(_ charge: PlanCharge) -> [String: Any] {
        var object: [String: Any] = ["key": charge.key, "meter": charge.meter, "model": charge.model.name, "properties": charge.model.properties]
        object["name"] = charge.name
        let adjustments = charge.adjustments
        if !adjustments.stateMultipliers.isEmpty {
            object["state_multipliers"] = adjustments.stateMultipliers.mapValues(\.description)
        }
        if !adjustments.timeOfUse.isEmpty {
            object["time_of_use"] = adjustments.timeOfUse.map { window -> [String: Any] in
                ["days": window.days.sorted().map { TimeOfUseWindow.dayNames[$0 - 1] }, "from": TimeOfUseWindow.clock(window.fromMinute),
                 "to": TimeOfUseWindow.clock(window.toMinute), "multiplier": window.multiplier.description]
            }
        }
        if !adjustments.volumeDiscounts.isEmpty {
            object["volume_discounts"] = adjustments.volumeDiscounts.map { ["from_value": $0.fromValue.description, "percent": $0.percent.description] }
        }
        if !adjustments.surcharges.isEmpty {
            object["surcharges"] = adjustments.surcharges.map { surcharge -> [String: Any] in
                var item: [String: Any] = ["key": surcharge.key, "when": surcharge.application.rawValue]
                item["name"] = surcharge.name
                switch surcharge.price {
                case .amount(let amount): item["amount"] = amount.description
                case .percent(let percent): item["percent"] = percent.description
                }
                return item
            }
        }
        return object
    }
}
