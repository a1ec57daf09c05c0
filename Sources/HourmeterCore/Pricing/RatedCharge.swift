/// One line of a charge's explanation: which rule applied, to what quantity, at what rate.
///
/// Every price shown to a customer comes with its decomposition, so each step names its kind
/// ("unit", "tier", "flat", "package", "free", "percentage", "fixed", "minimum", "maximum",
/// "multiplier", "volume_discount", "surcharge", "recurring_fee", "proration", "sla",
/// "commitment", "rounding"), a human description, the quantity it priced, the rate, and the
/// amount of money it contributed. The amounts of a line's steps sum exactly to the line.
///
/// The description is built only when it is read: rating a million lines a second leaves no
/// time for formatting decimals nobody looks at, so a step keeps the few values its sentence
/// needs (`Detail`) and writes the sentence on demand.
public struct DecompositionStep: Sendable, Equatable, Codable {
    /// What rule produced the step.
    public var kind: String
    /// The quantity priced: units for "unit"/"tier", packages for "package", 1 for "flat",
    /// raw units for "multiplier", the amount a percentage applies to for "volume_discount".
    public var quantity: ExactDecimal
    /// The price of one `quantity` (a multiplier or fraction for the adjusting kinds).
    public var rate: ExactDecimal
    /// The money this step adds to the line, unrounded except for the "rounding" step.
    public var amount: ExactDecimal
    /// For "multiplier" steps: the units after weighting (`quantity × rate`), which the
    /// charge model then prices. Multipliers change quantities, not money, so their `amount`
    /// is zero and this carries their effect.
    public var weightedQuantity: ExactDecimal?
    /// What the description is written from.
    public var detail: Detail

    /// The values a step's sentence is made of.
    public enum Detail: Sendable, Equatable {
        case text(String)
        case units
        /// A tier of a graduated or volume price; `allUnits` for volume (every unit at this tier).
        case tier(index: Int, lower: ExactDecimal, upper: ExactDecimal?, allUnits: Bool, percent: Bool)
        case tierFlat(index: Int, lower: ExactDecimal, upper: ExactDecimal?)
        case packages(size: ExactDecimal)
        case freeUnits(of: ExactDecimal)
        /// The line's one rounding, to the currency's minor unit.
        case rounding(Currency)
        /// The free part of a percentage charge: value given free in `wholeEvents` events.
        case percentageFree(freeEvents: Int?, freeTotal: ExactDecimal?, wholeEvents: Int)
        /// `percent` % of the billable value of `events` paying events.
        case percentageRate(percent: ExactDecimal, events: Int)
        /// A fixed amount per paying event.
        case perEvent
    }

    public init(kind: String, detail: Detail, quantity: ExactDecimal, rate: ExactDecimal, amount: ExactDecimal,
                weightedQuantity: ExactDecimal? = nil) {
        self.kind = kind
        self.detail = detail
        self.quantity = quantity
        self.rate = rate
        self.amount = amount
        self.weightedQuantity = weightedQuantity
    }

    public init(kind: String, description: String, quantity: ExactDecimal, rate: ExactDecimal, amount: ExactDecimal) {
        self.init(kind: kind, detail: .text(description), quantity: quantity, rate: rate, amount: amount)
    }

    /// A step whose amount is `quantity × rate`, computed exactly.
    static func priced(kind: String, detail: Detail, quantity: ExactDecimal, rate: ExactDecimal) throws(DecimalError) -> DecompositionStep {
        DecompositionStep(kind: kind, detail: detail, quantity: quantity, rate: rate, amount: try quantity.multiplied(by: rate))
    }

    /// A short human explanation, e.g. "tier 2: units above 10 up to 20".
    public var description: String {
        switch detail {
        case .text(let text):
            return text
        case .units:
            return "\(quantity) units at \(rate) each"
        case .tier(let index, let lower, let upper, let allUnits, let percent):
            let range = Self.tierRange(index: index, lower: lower, upper: upper)
            let price = percent ? " at \(((try? rate.multiplied(by: ExactDecimal(100))) ?? rate).normalized)%" : ""
            return allUnits ? "\(range), all \(quantity) units at this tier's rate\(price)" : range + price
        case .tierFlat(let index, let lower, let upper):
            return "\(Self.tierRange(index: index, lower: lower, upper: upper)), flat amount on entering the tier"
        case .packages(let size):
            return "\(quantity) packages of \(size) units at \(rate) each"
        case .freeUnits(let free):
            return "\(quantity) of \(free) free units"
        case .percentageFree(let freeEvents, let freeTotal, let wholeEvents):
            var limits: [String] = []
            if let freeEvents { limits.append("the first \(freeEvents) events") }
            if let freeTotal { limits.append("the first \(freeTotal) of value") }
            return "free: \(quantity) of value in \(wholeEvents) whole events (\(limits.joined(separator: " or ")), whichever ends first)"
        case .percentageRate(let percent, let events):
            return "\(percent)% of \(quantity) billable value over \(events) events"
        case .perEvent:
            return "\(quantity) paying events at a fixed \(rate) each"
        case .rounding(let currency):
            return "\(quantity) rounded half-even to \(currency.minorUnits) decimal places (\(currency.code)), once for the line"
        }
    }

    /// "tier 1: units from 0 up to 10", "tier 2: units above 10 up to 20", "tier 3: units above 20".
    static func tierRange(index: Int, lower: ExactDecimal, upper: ExactDecimal?) -> String {
        let start = index == 0 ? "units from \(lower)" : "units above \(lower)"
        return "tier \(index + 1): \(start)\(upper.map { " up to \($0)" } ?? "")"
    }

    public static func == (a: DecompositionStep, b: DecompositionStep) -> Bool {
        a.kind == b.kind && a.quantity == b.quantity && a.rate == b.rate && a.amount == b.amount
            && a.weightedQuantity == b.weightedQuantity && a.description == b.description
    }

    enum CodingKeys: String, CodingKey {
        case kind, description, quantity, rate, amount
        case weightedQuantity = "weighted_quantity"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(description, forKey: .description)
        try container.encode(quantity, forKey: .quantity)
        try container.encode(rate, forKey: .rate)
        try container.encode(amount, forKey: .amount)
        try container.encodeIfPresent(weightedQuantity, forKey: .weightedQuantity)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(kind: try container.decode(String.self, forKey: .kind),
                  detail: .text(try container.decode(String.self, forKey: .description)),
                  quantity: try container.decode(ExactDecimal.self, forKey: .quantity),
                  rate: try container.decode(ExactDecimal.self, forKey: .rate),
                  amount: try container.decode(ExactDecimal.self, forKey: .amount),
                  weightedQuantity: try container.decodeIfPresent(ExactDecimal.self, forKey: .weightedQuantity))
    }
}

/// The result of rating a quantity under a charge model.
///
/// `amount` keeps full precision: rounding to the currency's minor unit happens once per invoice
/// line, later. The steps' amounts sum exactly to `amount`, because `amount` is computed as
/// that sum: the explanation and the total cannot disagree.
public struct RatedCharge: Sendable, Equatable {
    public let amount: ExactDecimal
    public let steps: [DecompositionStep]

    /// A charge whose amount is the exact sum of `steps`.
    public init(steps: [DecompositionStep]) throws(DecimalError) {
        var total = ExactDecimal.zero
        for step in steps { total = try total.adding(step.amount) }
        self.amount = total
        self.steps = steps
    }
}
