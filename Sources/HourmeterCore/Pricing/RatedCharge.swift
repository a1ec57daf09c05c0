/// One line of a charge's explanation: which rule applied, to what quantity, at what rate.
///
/// Every price shown to a customer comes with its decomposition, so each step names its kind
/// ("unit", "tier", "flat", "package", "free"), a human description, the quantity it priced,
/// the rate, and the amount it contributed.
public struct DecompositionStep: Sendable, Equatable, Codable {
    /// What rule produced the step: "unit", "tier", "flat", "package" or "free".
    public var kind: String
    /// A short human explanation, e.g. "tier 2: units above 10 up to 20".
    public var description: String
    /// The quantity priced: units for "unit"/"tier", packages for "package", 1 for "flat".
    public var quantity: ExactDecimal
    /// The price of one `quantity`.
    public var rate: ExactDecimal
    /// `quantity × rate`, unrounded.
    public var amount: ExactDecimal

    public init(kind: String, description: String, quantity: ExactDecimal, rate: ExactDecimal, amount: ExactDecimal) {
        self.kind = kind
        self.description = description
        self.quantity = quantity
        self.rate = rate
        self.amount = amount
    }

    /// A step whose amount is `quantity × rate`, computed exactly.
    static func priced(kind: String, description: String, quantity: ExactDecimal, rate: ExactDecimal) throws(DecimalError) -> DecompositionStep {
        DecompositionStep(kind: kind, description: description, quantity: quantity, rate: rate,
                          amount: try quantity.multiplied(by: rate))
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
