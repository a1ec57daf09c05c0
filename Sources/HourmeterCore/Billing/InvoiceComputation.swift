import Foundation

/// What an invoice is computed from, kept with it as evidence so that `ledger verify` can
/// compute it again: the plan version's terms (from the signed contract), the period, the
/// proration, the SLA tier, and the usage per charge as the meters reported it.
public struct InvoiceEvidence: Sendable {
    public var planKey: String
    public var planVersion: Int
    public var contractSHA256: String
    public var period: BillingPeriod
    /// Where the usage was read from: after the trial, to the period's end.
    public var usageFromMicros: Int64
    public var proration: Proration
    public var slaTier: String?
    public var timeZone: String
    public var usage: [String: ChargeUsage]

    public init(planKey: String, planVersion: Int, contractSHA256: String, period: BillingPeriod, usageFromMicros: Int64,
                proration: Proration, slaTier: String?, timeZone: String, usage: [String: ChargeUsage]) {
        self.planKey = planKey
        self.planVersion = planVersion
        self.contractSHA256 = contractSHA256
        self.period = period
        self.usageFromMicros = usageFromMicros
        self.proration = proration
        self.slaTier = slaTier
        self.timeZone = timeZone
        self.usage = usage
    }

    public var document: [String: Any] {
        var object: [String: Any] = [
            "plan_key": planKey, "plan_version": planVersion, "contract_sha256": contractSHA256,
            "period_start": RFC3339.format(microseconds: period.startMicros), "period_end": RFC3339.format(microseconds: period.endMicros),
            "usage_from": RFC3339.format(microseconds: usageFromMicros), "proration": proration.description, "time_zone": timeZone,
            "usage": usage.mapValues(\.document),
        ]
        object["sla_tier"] = slaTier
        return object
    }

    /// Reads evidence back from its document; nil when it is not one.
    public init?(document: [String: Any]) {
        guard let planKey = document["plan_key"] as? String, let planVersion = document["plan_version"] as? Int,
              let contract = document["contract_sha256"] as? String,
              let start = (document["period_start"] as? String).flatMap(RFC3339.parseMicroseconds),
              let end = (document["period_end"] as? String).flatMap(RFC3339.parseMicroseconds),
              let from = (document["usage_from"] as? String).flatMap(RFC3339.parseMicroseconds),
              let proration = (document["proration"] as? String).flatMap(Proration.init),
              let timeZone = document["time_zone"] as? String, let usageObject = document["usage"] as? [String: Any] else { return nil }
        var usage: [String: ChargeUsage] = [:]
        for (key, value) in usageObject {
            guard let parsed = try? ChargeUsage.parse(value, path: "usage.\(key)") else { return nil }
            usage[key] = parsed.usage
        }
        self.init(planKey: planKey, planVersion: planVersion, contractSHA256: contract, period: BillingPeriod(startMicros: start, endMicros: end),
                  usageFromMicros: from, proration: proration, slaTier: document["sla_tier"] as? String, timeZone: timeZone, usage: usage)
    }
}

extension ChargeUsage {
    /// The usage as a preview request writes it (`ChargeUsage.parse` reads it back).
    public var document: Any {
        switch self {
        case .total(let total): return total.description
        case .byState(let states): return ["by_state": states.mapValues(\.description)]
        case .windows(let slices): return ["windows": slices.map { Self.sliceDocument($0, quantityKey: "quantity", timeKey: "start") }]
        case .events(let slices): return ["events": slices.map { Self.sliceDocument($0, quantityKey: "value", timeKey: "time") }]
        }
    }

    private static func sliceDocument(_ slice: UsageSlice, quantityKey: String, timeKey: String) -> [String: Any] {
        var object: [String: Any] = [quantityKey: slice.quantity.description]
        object["state"] = slice.state
        object[timeKey] = slice.startMicros.map { RFC3339.format(microseconds: $0) }
        return object
    }
}

/// Computes an invoice's lines from its evidence: the pricing engine's statement under the
/// contract's plan terms. Pure; the billing service and `ledger verify` both call it.
public enum InvoiceComputation {
    public static func statement(plan: PlanVersion, evidence: InvoiceEvidence) throws(PricingError) -> RatedStatement {
        guard let timeZone = TimeZone(identifier: evidence.timeZone) else {
            throw PricingError(field: "time_zone", reason: "unknown time zone \(evidence.timeZone)")
        }
        return try Rating.rate(RatingRequest(version: plan, usage: evidence.usage, proration: evidence.proration,
                                             slaTier: evidence.slaTier, timeZone: timeZone))
    }

    /// A finalized period computed again with the usage the meters hold now (events that
    /// arrived after it was finalized): what it should have cost, less what was billed for it
    /// (its total and earlier adjustments). Nil when nothing changed. Returns the adjustment
    /// line for the current invoice and its evidence, which names the period and the invoice.
    public static func adjustment(plan: PlanVersion, recomputed evidence: InvoiceEvidence, invoiceID: String, invoiceNumber: String,
                                  billed: ExactDecimal) throws(PricingError) -> (line: [String: Any], evidence: [String: Any], amount: ExactDecimal)? {
        let total = try statement(plan: plan, evidence: evidence).total
        let amount: ExactDecimal
        do { amount = try total.subtracting(billed) } catch { throw PricingError(field: "adjustment", reason: "overflow") }
        guard !amount.isZero else { return nil }
        let currency = plan.currency
        let period = "\(RFC3339.format(microseconds: evidence.period.startMicros))–\(RFC3339.format(microseconds: evidence.period.endMicros))"
        let line: [String: Any] = [
            "kind": "adjustment", "charge": "adjustment:\(invoiceNumber)", "amount": currency.format(amount),
            "adjusts_invoice": invoiceID, "adjusts_number": invoiceNumber,
            "decomposition": [
                ["kind": "recomputed", "description": "\(invoiceNumber) for \(period) computed again with events that arrived after it was finalized",
                 "quantity": "1", "rate": total.description, "amount": total.description],
                ["kind": "already_billed", "description": "already billed for that period", "quantity": "1",
                 "rate": billed.negated().description, "amount": billed.negated().description],
            ],
            "evidence": ["contract_sha256": evidence.contractSHA256, "window_start": RFC3339.format(microseconds: evidence.period.startMicros),
                         "window_end": RFC3339.format(microseconds: evidence.period.endMicros)] as [String: Any],
        ]
        let record: [String: Any] = ["invoice": invoiceID, "number": invoiceNumber, "billed": billed.description,
                                     "amount": amount.description, "evidence": evidence.document]
        return (line, record, amount)
    }

    /// A statement's line as stored on an invoice: the pricing line with its evidence
    /// (meter, window, quantity, contract hash).
    public static func lineDocument(_ line: RatedLine, currency: Currency, evidence: InvoiceEvidence) -> [String: Any] {
        var object: [String: Any] = [
            "kind": line.kind.rawValue, "charge": line.charge, "amount": currency.format(line.amount),
            "decomposition": line.decomposition.map { step -> [String: Any] in
                var item: [String: Any] = ["kind": step.kind, "description": step.description, "quantity": step.quantity.description,
                                           "rate": step.rate.description, "amount": step.amount.description]
                item["weighted_quantity"] = step.weightedQuantity?.description
                return item
            },
            "evidence": [
                "contract_sha256": evidence.contractSHA256,
                "window_start": RFC3339.format(microseconds: line.kind == .usage ? evidence.usageFromMicros : evidence.period.startMicros),
                "window_end": RFC3339.format(microseconds: evidence.period.endMicros),
            ] as [String: Any],
        ]
        object["meter"] = line.meter
        object["quantity"] = line.quantity?.description
        object["priced_quantity"] = line.pricedQuantity?.description
        return object
    }
}
