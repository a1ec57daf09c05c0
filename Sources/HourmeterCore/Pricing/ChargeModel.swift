/// How a quantity of usage turns into an amount.
///
/// Pure and exact: `rate(units:)` multiplies and adds `ExactDecimal`s only, never rounds, and
/// explains itself with one `DecompositionStep` per rule applied. Rounding to the currency's
/// minor unit is the invoice line's job (`Currency.round`).
public enum ChargeModel: Sendable, Equatable {
    /// Every unit at the same price: `units × amount`.
    case standard(ExactDecimal)
    /// Each tier prices the units that fall in it; a tier's flat amount is charged once usage
    /// enters the tier, and the first tier's even at zero usage. Ranges as `validated(ranges:)`.
    case graduated([PriceRange])
    /// All units at the price of the one tier the total falls in, plus that tier's flat amount
    /// (at zero units, the first tier's).
    case volume([PriceRange])
    /// `ceil((units − freeUnits) / packageSize) × amount`, never below zero: usage is sold in
    /// whole packages, after the free units.
    case package(amount: ExactDecimal, packageSize: ExactDecimal, freeUnits: ExactDecimal)
    /// A percentage of each event's value plus a fixed amount per event, after free units,
    /// clamped per transaction (`PercentageTerms`).
    case percentage(PercentageTerms)
    /// Graduated tiers whose price is a percentage of the value in the tier, plus a flat
    /// amount on entering it. Stored as unit prices (`rate / 100`), so it rates exactly like
    /// `graduated`; `PriceRange.perUnitAmount` holds the fraction, not the percentage.
    case graduatedPercentage([PriceRange])

    /// The model's name in a plan document.
    public var name: String {
        switch self {
        case .standard: "standard"
        case .graduated: "graduated"
        case .volume: "volume"
        case .package: "package"
        case .percentage: "percentage"
        case .graduatedPercentage: "graduated_percentage"
        }
    }

    /// True when the model prices each event on its own (a per-event fixed amount, free
    /// events, or per-transaction bounds), so a total is not enough to rate it.
    public var needsEvents: Bool {
        if case .percentage(let terms) = self { return terms.needsEvents }
        return false
    }

    /// Rates usage given event by event. Models that price a total rate the sum; the
    /// percentage model prices each event in order (free units are the first ones).
    public func rate(events: [ExactDecimal]) throws(DecimalError) -> RatedCharge {
        if case .percentage(let terms) = self { return try terms.rate(events: events) }
        var total = ExactDecimal.zero
        for value in events { total = try total.adding(value) }
        return try rate(units: total)
    }

    /// The unrounded charge for `units`, with its decomposition.
    ///
    /// Negative `units` (a correction) are priced linearly by `.standard`; the tiered and
    /// package models price them as zero units, since a tier or a package has no negative
    /// counterpart. A percentage model rates `units` as one event (see `needsEvents`: the
    /// rating function gives such models their events). Throws only when an exact result does not fit `ExactDecimal`, or for a
    /// zero package size (`.divisionByZero`), which `parse` never produces.
    public func rate(units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        switch self {
        case .standard(let amount):
            var steps: [DecompositionStep] = []
            steps.reserveCapacity(2)  // + the line's rounding step
            steps.append(try .priced(kind: "unit", detail: .units, quantity: units, rate: amount))
            return try RatedCharge(steps: steps)
        case .graduated(let ranges):
            return try Self.rateGraduated(ranges: ranges, units: Self.nonNegative(units), percent: false)
        case .graduatedPercentage(let ranges):
            return try Self.rateGraduated(ranges: ranges, units: Self.nonNegative(units), percent: true)
        case .percentage(let terms):
            return try terms.rate(events: [units])
        case .volume(let ranges):
            return try Self.rateVolume(ranges: ranges, units: Self.nonNegative(units))
        case .package(let amount, let packageSize, let freeUnits):
            return try Self.ratePackage(amount: amount, packageSize: packageSize, freeUnits: freeUnits,
                                        units: Self.nonNegative(units))
        }
    }

    private static func nonNegative(_ units: ExactDecimal) -> ExactDecimal {
        units.isNegative ? .zero : units
    }

    /// Where tier `index` really starts: the previous tier's `toValue`, so that adjoining and
    /// integer-stepping ranges price the same units (0–10, 11–20: the second holds (10, 20]).
    private static func lowerBound(of ranges: [PriceRange], at index: Int) -> ExactDecimal {
        index == 0 ? ranges[0].fromValue : (ranges[index - 1].toValue ?? ranges[index].fromValue)
    }

    private static func flatStep(_ ranges: [PriceRange], at index: Int) -> DecompositionStep? {
        let flat = ranges[index].flatAmount
        guard !flat.isZero else { return nil }
        return DecompositionStep(kind: "flat", detail: .tierFlat(index: index, lower: lowerBound(of: ranges, at: index), upper: ranges[index].toValue),
                                 quantity: .one, rate: flat, amount: flat)
    }

    private static func rateGraduated(ranges: [PriceRange], units: ExactDecimal, percent: Bool) throws(DecimalError) -> RatedCharge {
        var steps: [DecompositionStep] = []
        steps.reserveCapacity(ranges.count * 2 + 1)  // + the line's rounding step
        for index in ranges.indices {
            let lower = lowerBound(of: ranges, at: index)
            // Tier 1 is always entered; a later tier once usage goes above its lower bound.
            guard index == 0 || units > lower else { break }
            var upper = units
            if let toValue = ranges[index].toValue, toValue < upper { upper = toValue }
            var quantity = try upper.subtracting(lower)
            if quantity.isNegative { quantity = .zero }
            steps.append(try .priced(kind: "tier", detail: .tier(index: index, lower: lower, upper: ranges[index].toValue, allUnits: false, percent: percent),
                                     quantity: quantity, rate: ranges[index].perUnitAmount))
            if let flat = flatStep(ranges, at: index) { steps.append(flat) }
        }
        return try RatedCharge(steps: steps)
    }

    private static func rateVolume(ranges: [PriceRange], units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        guard !ranges.isEmpty else { return try RatedCharge(steps: []) }
        // The first tier whose upper bound holds the total; the last tier catches the rest.
        let index = ranges.firstIndex { range in range.toValue.map { units <= $0 } ?? true } ?? ranges.count - 1
        var steps: [DecompositionStep] = []
        steps.reserveCapacity(3)  // tier, flat, and the line's rounding step
        steps.append(try .priced(kind: "tier", detail: .tier(index: index, lower: lowerBound(of: ranges, at: index), upper: ranges[index].toValue, allUnits: true, percent: false),
                                 quantity: units, rate: ranges[index].perUnitAmount))
        if let flat = flatStep(ranges, at: index) { steps.append(flat) }
        return try RatedCharge(steps: steps)
    }

    private static func ratePackage(amount: ExactDecimal, packageSize: ExactDecimal, freeUnits: ExactDecimal, units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        var steps: [DecompositionStep] = []
        steps.reserveCapacity(3)  // free, packages, and the line's rounding step
        let free = freeUnits.isNegative ? ExactDecimal.zero : freeUnits
        if !free.isZero {
            let used = min(units, free)
            steps.append(DecompositionStep(kind: "free", detail: .freeUnits(of: free), quantity: used, rate: .zero, amount: .zero))
        }
        let billable = try units.subtracting(free)
        let packages = billable.isNegative || billable.isZero ? ExactDecimal.zero : try ceilingQuotient(billable, packageSize)
        steps.append(try .priced(kind: "package", detail: .packages(size: packageSize), quantity: packages, rate: amount))
        return try RatedCharge(steps: steps)
    }

    /// ⌈dividend / divisor⌉ for positive operands, exactly. The half-even integer quotient is
    /// within ½ of the true quotient, so the ceiling is it or the next integer.
    private static func ceilingQuotient(_ dividend: ExactDecimal, _ divisor: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        guard divisor > .zero else { throw .divisionByZero }
        let nearest = try dividend.divided(by: divisor, scale: 0)
        return try nearest.multiplied(by: divisor) >= dividend ? nearest : nearest.adding(.one)
    }
}
