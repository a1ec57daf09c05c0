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

    /// The unrounded charge for `units`, with its decomposition.
    ///
    /// Negative `units` (a correction) are priced linearly by `.standard`; the tiered and
    /// package models price them as zero units, since a tier or a package has no negative
    /// counterpart. Throws only when an exact result does not fit `ExactDecimal`, or for a
    /// zero package size (`.divisionByZero`), which `parse` never produces.
    public func rate(units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        switch self {
        case .standard(let amount):
            return try RatedCharge(steps: [
                .priced(kind: "unit", description: "\(units) units at \(amount) each", quantity: units, rate: amount),
            ])
        case .graduated(let ranges):
            return try Self.rateGraduated(ranges: ranges, units: Self.nonNegative(units))
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

    /// "units above 10 up to 20", "units from 0 up to 10", "units above 100".
    private static func describe(_ ranges: [PriceRange], at index: Int) -> String {
        let lower = lowerBound(of: ranges, at: index)
        let start = index == 0 ? "units from \(lower)" : "units above \(lower)"
        let end = ranges[index].toValue.map { " up to \($0)" } ?? ""
        return "tier \(index + 1): \(start)\(end)"
    }

    private static func flatStep(_ ranges: [PriceRange], at index: Int) -> DecompositionStep? {
        let flat = ranges[index].flatAmount
        guard !flat.isZero else { return nil }
        return DecompositionStep(kind: "flat", description: "\(describe(ranges, at: index)), flat amount on entering the tier",
                                 quantity: .one, rate: flat, amount: flat)
    }

    private static func rateGraduated(ranges: [PriceRange], units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        var steps: [DecompositionStep] = []
        for index in ranges.indices {
            let lower = lowerBound(of: ranges, at: index)
            // Tier 1 is always entered; a later tier once usage goes above its lower bound.
            guard index == 0 || units > lower else { break }
            var upper = units
            if let toValue = ranges[index].toValue, toValue < upper { upper = toValue }
            var quantity = try upper.subtracting(lower)
            if quantity.isNegative { quantity = .zero }
            steps.append(try .priced(kind: "tier", description: describe(ranges, at: index),
                                     quantity: quantity, rate: ranges[index].perUnitAmount))
            if let flat = flatStep(ranges, at: index) { steps.append(flat) }
        }
        return try RatedCharge(steps: steps)
    }

    private static func rateVolume(ranges: [PriceRange], units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        guard !ranges.isEmpty else { return try RatedCharge(steps: []) }
        // The first tier whose upper bound holds the total; the last tier catches the rest.
        let index = ranges.firstIndex { range in range.toValue.map { units <= $0 } ?? true } ?? ranges.count - 1
        var steps: [DecompositionStep] = [
            try .priced(kind: "tier", description: "\(describe(ranges, at: index)), all \(units) units at this tier's rate",
                        quantity: units, rate: ranges[index].perUnitAmount),
        ]
        if let flat = flatStep(ranges, at: index) { steps.append(flat) }
        return try RatedCharge(steps: steps)
    }

    private static func ratePackage(amount: ExactDecimal, packageSize: ExactDecimal, freeUnits: ExactDecimal, units: ExactDecimal) throws(DecimalError) -> RatedCharge {
        var steps: [DecompositionStep] = []
        let free = freeUnits.isNegative ? ExactDecimal.zero : freeUnits
        if !free.isZero {
            let used = min(units, free)
            steps.append(DecompositionStep(kind: "free", description: "\(used) of \(free) free units",
                                           quantity: used, rate: .zero, amount: .zero))
        }
        let billable = try units.subtracting(free)
        let packages = billable.isNegative || billable.isZero ? ExactDecimal.zero : try ceilingQuotient(billable, packageSize)
        steps.append(try .priced(kind: "package", description: "\(packages) packages of \(packageSize) units at \(amount) each",
                                 quantity: packages, rate: amount))
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
