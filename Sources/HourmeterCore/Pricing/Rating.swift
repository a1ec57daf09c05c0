import Foundation

/// A piece of usage: a quantity, with the device state it was recorded in and when it
/// started (an hour bucket, or an event's time) when the charge prices those.
public struct UsageSlice: Sendable, Equatable {
    public var quantity: ExactDecimal
    public var state: String?
    public var startMicros: Int64?

    public init(quantity: ExactDecimal, state: String? = nil, startMicros: Int64? = nil) {
        self.quantity = quantity
        self.state = state
        self.startMicros = startMicros
    }
}

/// A charge's usage for the period, in the finest form the charge needs: a total; per device
/// state; per time window (rollup buckets, each with its start and state); or event by event
/// (the percentage model prices each event).
public enum ChargeUsage: Sendable, Equatable {
    case total(ExactDecimal)
    case byState([String: ExactDecimal])
    case windows([UsageSlice])
    case events([UsageSlice])

    public static let none = ChargeUsage.total(.zero)
}

/// The share of a period a subscription is billed for: `numerator / denominator` (10 of 30
/// days), kept as a fraction so that 1/3 of a fee is rounded once, on its line, not twice.
public struct Proration: Sendable, Equatable, CustomStringConvertible {
    public let numerator: ExactDecimal
    public let denominator: ExactDecimal

    public static let full = Proration(uncheckedNumerator: .one, denominator: .one)

    private init(uncheckedNumerator: ExactDecimal, denominator: ExactDecimal) {
        self.numerator = uncheckedNumerator
        self.denominator = denominator
    }

    /// A fraction in [0, 1]; nil otherwise.
    public init?(numerator: ExactDecimal, denominator: ExactDecimal) {
        guard !numerator.isNegative, denominator > .zero, numerator <= denominator else { return nil }
        self.init(uncheckedNumerator: numerator, denominator: denominator)
    }

    /// "10/30" or a decimal "0.5".
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let numerator = ExactDecimal(String(parts[0])), let denominator = ExactDecimal(String(parts[1])) {
            self.init(numerator: numerator, denominator: denominator)
        } else if parts.count == 1, let factor = ExactDecimal(text) {
            self.init(numerator: factor, denominator: .one)
        } else {
            return nil
        }
    }

    public var isFull: Bool { numerator == denominator }

    /// `amount × numerator / denominator` for showing in a decomposition: exact when the
    /// quotient ends within 18 decimal places, otherwise cut there. The line's amount never
    /// comes from this value (see `rounded`), so a cut can never make a false tie.
    func apply(to amount: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        let scaled = try amount.multiplied(by: numerator)
        if denominator == .one { return scaled }
        return try scaled.divided(by: denominator, scale: 18).normalized
    }

    /// `amount × numerator / denominator` rounded half-even to `scale` digits in one step from
    /// the exact fraction: the one rounding of a prorated line.
    func rounded(_ amount: ExactDecimal, scale: Int) throws(DecimalError) -> ExactDecimal {
        try amount.multiplied(by: numerator).divided(by: denominator, scale: scale)
    }

    public var description: String { denominator == .one ? "\(numerator)" : "\(numerator)/\(denominator)" }
}

/// What to rate: a plan version, a period's usage per charge key, and the subscription's terms.
public struct RatingRequest: Sendable {
    public var version: PlanVersion
    public var usage: [String: ChargeUsage]
    /// `on_request` surcharges to apply, by charge key (a key listed twice applies twice).
    public var requestedSurcharges: [String: [String]]
    public var proration: Proration
    public var slaTier: String?
    /// Where time-of-use windows are read.
    public var timeZone: TimeZone

    public init(version: PlanVersion, usage: [String: ChargeUsage], requestedSurcharges: [String: [String]] = [:],
                proration: Proration = .full, slaTier: String? = nil, timeZone: TimeZone = TimeZone(identifier: "UTC")!) {
        self.version = version
        self.usage = usage
        self.requestedSurcharges = requestedSurcharges
        self.proration = proration
        self.slaTier = slaTier
        self.timeZone = timeZone
    }
}

/// One line of a statement: an amount rounded once, and the steps that sum to it exactly.
public struct RatedLine: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case recurringFee = "recurring_fee"
        case usage
        case sla
        case minimumCommitment = "minimum_commitment"
    }

    public var kind: Kind
    /// The charge, fee or SLA tier the line is for.
    public var charge: String
    public var meter: String?
    /// Units recorded, before any multiplier (usage lines).
    public var quantity: ExactDecimal?
    /// Units the model priced, after multipliers (usage lines).
    public var pricedQuantity: ExactDecimal?
    /// Rounded half-even to the currency's minor unit.
    public var amount: ExactDecimal
    public var decomposition: [DecompositionStep]
}

/// The rated period: its lines, their sum, and the total after the minimum commitment.
public struct RatedStatement: Sendable, Equatable {
    public var currency: Currency
    public var lines: [RatedLine]
    /// The sum of every line but the minimum-commitment top-up.
    public var subtotal: ExactDecimal
    public var total: ExactDecimal
}

/// The rating function: pure, exact, and explained. Usage in, lines out; nothing is read from
/// a clock or a database, so the same inputs always give the same statement, and rating a
/// cumulative usage again as the period fills gives what rating it once would.
///
/// Order of a usage line: quantities are weighted by state and time-of-use multipliers; the
/// charge model prices the weighted quantity; volume discounts take their percentage off the
/// amount of the units past each threshold; surcharges add a fixed amount or a percentage of
/// what is left; the line is rounded once. Fees, the SLA tier and the minimum commitment are
/// prorated; usage is not (it is what was used).
public enum Rating {
    public static func rate(_ request: RatingRequest) throws(PricingError) -> RatedStatement {
        let version = request.version
        let currency = version.currency
        for key in request.usage.keys.sorted() where version.charge(key) == nil {
            throw PricingError(field: "usage.\(key)", reason: "the plan version has no charge \"\(key)\"")
        }
        for key in request.requestedSurcharges.keys.sorted() where version.charge(key) == nil {
            throw PricingError(field: "usage.\(key).surcharges", reason: "the plan version has no charge \"\(key)\"")
        }
        var lines: [RatedLine] = []
        lines.reserveCapacity(version.recurringFees.count + version.charges.count + 2)
        do {
            for fee in version.recurringFees {
                let timing = fee.timing == .inAdvance ? "in advance" : "in arrears"
                lines.append(try prorated(kind: .recurringFee, key: fee.key, stepKind: "recurring_fee",
                                          label: "\(fee.name ?? fee.key), \(fee.amount) per \(version.interval.rawValue), billed \(timing)",
                                          amount: fee.amount, proration: request.proration, currency: currency))
            }
        } catch { throw overflow("recurring_fees") }
        var calendar: Calendar?
        for charge in version.charges {
            if !charge.adjustments.timeOfUse.isEmpty, calendar == nil {
                var gregorian = Calendar(identifier: .gregorian)
                gregorian.timeZone = request.timeZone
                calendar = gregorian
            }
            lines.append(try rateCharge(charge, usage: request.usage[charge.key] ?? .none,
                                        surcharges: request.requestedSurcharges[charge.key] ?? [],
                                        currency: currency, calendar: calendar))
        }
        if let name = request.slaTier {
            guard let tier = version.slaTiers.first(where: { $0.name == name }) else {
                throw PricingError(field: "sla_tier", reason: "the plan version has no SLA tier \"\(name)\"; it has \(version.slaTiers.map(\.name).joined(separator: ", "))")
            }
            do {
                lines.append(try prorated(kind: .sla, key: tier.name, stepKind: "sla",
                                          label: "SLA \(tier.name): response within \(tier.responseHours) h, \(tier.amount) per \(version.interval.rawValue)",
                                          amount: tier.amount, proration: request.proration, currency: currency))
            } catch { throw overflow("sla_tier") }
        }
        do {
            var subtotal = ExactDecimal.zero
            for line in lines { subtotal = try subtotal.adding(line.amount) }
            var total = subtotal
            if let minimum = version.minimumCommitment {
                // The subtotal is already in whole minor units, so rounding (commitment − subtotal)
                // once is rounding the prorated commitment once.
                let committed = try request.proration.rounded(minimum, scale: currency.minorUnits)
                if subtotal < committed {
                    var line = try prorated(kind: .minimumCommitment, key: "minimum_commitment", stepKind: "commitment",
                                            label: "minimum commitment of \(minimum) per \(version.interval.rawValue)", amount: minimum,
                                            proration: request.proration, currency: currency, finishing: false)
                    line.decomposition.append(DecompositionStep(kind: "commitment", description: "less the period's charges", quantity: .one,
                                                                rate: subtotal.negated(), amount: subtotal.negated()))
                    lines.append(try finish(line, currency: currency, rounded: committed.subtracting(subtotal)))
                    total = committed
                }
            }
            return RatedStatement(currency: currency, lines: lines, subtotal: subtotal, total: total)
        } catch { throw overflow("minimum_commitment") }
    }

    private static func overflow(_ field: String) -> PricingError {
        PricingError(field: field, reason: "the amount exceeds the 38 significant digits an exact decimal holds")
    }

    /// A fee-like line: the amount, its proration, its rounding (unless `finishing` is false,
    /// for a caller that adds steps before finishing it).
    private static func prorated(kind: RatedLine.Kind, key: String, stepKind: String, label: String, amount: ExactDecimal,
                                 proration: Proration, currency: Currency, finishing: Bool = true) throws(DecimalError) -> RatedLine {
        var steps = [DecompositionStep(kind: stepKind, description: label, quantity: .one, rate: amount, amount: amount)]
        if !proration.isFull {
            let value = try proration.apply(to: amount)
            let change = try value.subtracting(amount)
            steps.append(DecompositionStep(kind: "proration", description: "prorated to \(proration) of the period: \(amount) becomes \(value)",
                                           quantity: .one, rate: change, amount: change))
        }
        let line = RatedLine(kind: kind, charge: key, amount: .zero, decomposition: steps)
        guard finishing else { return line }
        return try finish(line, currency: currency, rounded: proration.rounded(amount, scale: currency.minorUnits))
    }

    /// Appends the rounding step and sets the line's amount to the rounded sum of its steps,
    /// or to `rounded` when the caller rounded the exact value itself (a proration whose
    /// quotient the steps show cut at 18 places).
    private static func finish(_ line: RatedLine, currency: Currency, rounded exact: ExactDecimal? = nil) throws(DecimalError) -> RatedLine {
        var line = line
        var unrounded = ExactDecimal.zero
        for step in line.decomposition { unrounded = try unrounded.adding(step.amount) }
        let rounded: ExactDecimal
        if let exact { rounded = exact } else { rounded = try currency.round(unrounded) }
        line.decomposition.append(DecompositionStep(kind: "rounding", detail: .rounding(currency), quantity: unrounded, rate: .one,
                                                    amount: try rounded.subtracting(unrounded)))
        line.amount = rounded
        return line
    }

    /// Rates one usage charge. `calendar` is required when the charge has time-of-use windows.
    public static func rateCharge(_ charge: PlanCharge, usage: ChargeUsage, surcharges requested: [String] = [], currency: Currency,
                                  calendar: Calendar? = nil) throws(PricingError) -> RatedLine {
        let field = "usage.\(charge.key)"
        for (index, key) in requested.enumerated() where !charge.adjustments.surcharges.contains(where: { $0.key == key && $0.application == .onRequest }) {
            throw PricingError(field: "\(field).surcharges[\(index)]", reason: "the charge has no on_request surcharge \"\(key)\"")
        }
        let weighed = try weigh(charge, usage: usage, calendar: calendar, field: field)
        do {
            let model = charge.model
            let priced: RatedCharge = if let values = weighed.values {
                try model.rate(events: values)
            } else {
                try model.rate(units: weighed.priced)
            }
            var steps = weighed.steps.isEmpty ? priced.steps : weighed.steps + priced.steps
            var amount = priced.amount
            let adjustments = charge.adjustments
            if !adjustments.volumeDiscounts.isEmpty {
                for step in try volumeDiscountSteps(adjustments.volumeDiscounts, model: model, units: weighed.priced, amount: priced.amount) {
                    steps.append(step)
                    amount = try amount.adding(step.amount)
                }
            }
            if !adjustments.surcharges.isEmpty || !requested.isEmpty {
                steps.append(contentsOf: try surchargeSteps(adjustments.surcharges, requested: requested, base: amount))
            }
            let line = RatedLine(kind: .usage, charge: charge.key, meter: charge.meter, quantity: weighed.raw,
                                 pricedQuantity: weighed.priced, amount: .zero, decomposition: steps)
            return try finish(line, currency: currency)
        } catch {
            throw PricingError(field: field, reason: "the amount exceeds the 38 significant digits an exact decimal holds")
        }
    }

    private struct Weighed {
        var raw: ExactDecimal
        /// The total the model prices (weighted).
        var priced: ExactDecimal
        /// Each event's weighted value, for models that price events.
        var values: [ExactDecimal]?
        var steps: [DecompositionStep]
    }

    /// Applies state and time-of-use multipliers, and checks the usage has the form the charge needs.
    private static func weigh(_ charge: PlanCharge, usage: ChargeUsage, calendar: Calendar?, field: String) throws(PricingError) -> Weighed {
        let adjustments = charge.adjustments
        let needsEvents = charge.model.needsEvents
        // The fast path: a total for a charge that weighs nothing.
        if case .total(let total) = usage, !needsEvents, !adjustments.weighsQuantity {
            return Weighed(raw: total, priced: total, values: nil, steps: [])
        }
        // No usage needs no detail: zero units in no state, no events.
        if case .total(let total) = usage, total.isZero {
            return try weigh(charge, usage: needsEvents ? .events([]) : .windows([]), calendar: calendar, field: field)
        }
        if needsEvents, case .events = usage {} else if needsEvents {
            throw PricingError(field: field, reason: "the \(charge.model.name) charge prices each event (fixed amount, free events or per-transaction bounds): give {\"events\": [...]}")
        }
        let slices: [UsageSlice]
        switch usage {
        case .total(let total):
            guard adjustments.stateMultipliers.isEmpty else {
                throw PricingError(field: field, reason: "the charge prices by device state: give {\"by_state\": {...}}, windows or events")
            }
            slices = [UsageSlice(quantity: total)]
        case .byState(let states):
            slices = states.sorted { $0.key < $1.key }.map { UsageSlice(quantity: $0.value, state: $0.key) }
        case .windows(let list), .events(let list):
            slices = list
        }
        if !adjustments.timeOfUse.isEmpty, let index = slices.firstIndex(where: { $0.startMicros == nil }) {
            throw PricingError(field: field, reason: "the charge has time-of-use windows: every window or event needs its start time (item \(index) has none)")
        }
        do {
            var raw = ExactDecimal.zero, priced = ExactDecimal.zero
            var values: [ExactDecimal]? = nil
            if case .percentage = charge.model, case .events = usage { values = [] }
            // Groups of (state, window) in first-seen order, for the decomposition.
            var groupIndex: [String: Int] = [:]
            var groups: [(state: String?, window: Int?, weight: ExactDecimal, raw: ExactDecimal)] = []
            for slice in slices {
                let window = slice.startMicros.flatMap { start in calendar.flatMap { adjustments.timeOfUseWindow(atMicros: start, calendar: $0) } }
                var weight = ExactDecimal.one
                if let state = slice.state, let multiplier = adjustments.stateMultipliers[state] { weight = try weight.multiplied(by: multiplier) }
                if let window { weight = try weight.multiplied(by: adjustments.timeOfUse[window].multiplier) }
                let weighted = try slice.quantity.multiplied(by: weight)
                raw = try raw.adding(slice.quantity)
                priced = try priced.adding(weighted)
                values?.append(weighted)
                guard adjustments.weighsQuantity else { continue }
                let stateKey = adjustments.stateMultipliers.isEmpty ? nil : slice.state
                let groupKey = "\(stateKey ?? "")|\(window ?? -1)"
                if let index = groupIndex[groupKey] {
                    groups[index].raw = try groups[index].raw.adding(slice.quantity)
                } else {
                    groupIndex[groupKey] = groups.count
                    groups.append((stateKey, window, weight, slice.quantity))
                }
            }
            var steps: [DecompositionStep] = []
            for group in groups {
                var parts: [String] = []
                if !adjustments.stateMultipliers.isEmpty {
                    if let state = group.state, let multiplier = adjustments.stateMultipliers[state] {
                        parts.append("state \(state) × \(multiplier)")
                    } else {
                        parts.append("state \(group.state ?? "not recorded") × 1 (no multiplier)")
                    }
                }
                if !adjustments.timeOfUse.isEmpty {
                    if let window = group.window {
                        parts.append("time of use \(adjustments.timeOfUse[window].label) × \(adjustments.timeOfUse[window].multiplier)")
                    } else {
                        parts.append("outside time-of-use windows × 1")
                    }
                }
                let weighted = try group.raw.multiplied(by: group.weight)
                steps.append(DecompositionStep(kind: "multiplier", detail: .text("\(parts.joined(separator: ", ")): \(group.raw) units count as \(weighted)"),
                                               quantity: group.raw, rate: group.weight, amount: .zero, weightedQuantity: weighted))
            }
            return Weighed(raw: raw, priced: priced, values: values, steps: steps)
        } catch {
            throw PricingError(field: field, reason: "the usage exceeds the 38 significant digits an exact decimal holds")
        }
    }

    /// Marginal discounts: the amount the units between each threshold and the next add to the
    /// line (A(upper) − A(threshold), where A rates a quantity under the model) gets `percent` off.
    private static func volumeDiscountSteps(_ discounts: [VolumeDiscount], model: ChargeModel, units: ExactDecimal,
                                            amount: ExactDecimal) throws(DecimalError) -> [DecompositionStep] {
        var steps: [DecompositionStep] = []
        for (index, discount) in discounts.enumerated() where units > discount.fromValue {
            let next = index + 1 < discounts.count ? discounts[index + 1].fromValue : nil
            let top = next.map { Swift.min($0, units) } ?? units
            let upperAmount = top == units ? amount : try model.rate(units: top).amount
            let share = try upperAmount.subtracting(model.rate(units: discount.fromValue).amount)
            guard share > .zero else { continue }
            let fraction = try discount.percent.percentAsFraction().negated()
            let range = next.map { "above \(discount.fromValue) up to \($0)" } ?? "above \(discount.fromValue)"
            steps.append(try .priced(kind: "volume_discount", detail: .text("\(discount.percent)% off the \(share) charged for units \(range)"),
                                     quantity: share, rate: fraction))
        }
        return steps
    }

    /// Surcharges on `base` (the line after discounts); `requested` names the on_request ones.
    private static func surchargeSteps(_ surcharges: [Surcharge], requested: [String], base: ExactDecimal) throws(DecimalError) -> [DecompositionStep] {
        var steps: [DecompositionStep] = []
        for surcharge in surcharges {
            let times = surcharge.application == .always ? 1 : requested.count(where: { $0 == surcharge.key })
            guard times > 0 else { continue }
            let name = surcharge.name ?? surcharge.key
            switch surcharge.price {
            case .amount(let amount):
                steps.append(try .priced(kind: "surcharge", detail: .text("\(name): \(times) × \(amount)"), quantity: ExactDecimal(times), rate: amount))
            case .percent(let percent):
                // Requested twice, a percentage applies twice, like a fixed amount.
                let fraction = try percent.percentAsFraction().multiplied(by: ExactDecimal(times))
                let label = times == 1 ? "\(percent)%" : "\(times) × \(percent)%"
                steps.append(try .priced(kind: "surcharge", detail: .text("\(name): \(label) of \(base)"), quantity: base, rate: fraction))
            }
        }
        return steps
    }
}
