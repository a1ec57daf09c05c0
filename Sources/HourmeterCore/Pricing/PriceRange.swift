/// One tier of a graduated or volume price: the units from `fromValue` to `toValue` (nil: no
/// upper bound) cost `perUnitAmount` each, plus `flatAmount` once when usage enters the tier.
///
/// Plans write tiers two ways, and both mean the same thing: adjoining (0–10, 10–20) and
/// stepping over integers (0–10, 11–20). Either way a tier after the first holds the units
/// above the previous tier's `toValue` up to its own, i.e. the half-open-from-below interval
/// (previous `toValue`, `toValue`]; fractional units follow that adjoining reading.
public struct PriceRange: Sendable, Hashable, Codable {
    public var fromValue: ExactDecimal
    public var toValue: ExactDecimal?
    public var perUnitAmount: ExactDecimal
    public var flatAmount: ExactDecimal

    public init(fromValue: ExactDecimal, toValue: ExactDecimal?, perUnitAmount: ExactDecimal, flatAmount: ExactDecimal = .zero) {
        self.fromValue = fromValue
        self.toValue = toValue
        self.perUnitAmount = perUnitAmount
        self.flatAmount = flatAmount
    }

    /// The document's names, so a range encodes as it is written in a plan.
    enum CodingKeys: String, CodingKey {
        case fromValue = "from_value"
        case toValue = "to_value"
        case perUnitAmount = "per_unit_amount"
        case flatAmount = "flat_amount"
    }
}

extension ChargeModel {
    /// `ranges`, checked so that every quantity ≥ 0 falls in exactly one tier.
    ///
    /// Rules: at least one range; the first starts at 0; each next range either adjoins the
    /// previous one (`from == previous.to`) or steps over integers (`from == previous.to + 1`,
    /// with an integer `previous.to`), so there is no gap and no overlap; every range is
    /// non-empty; only the last is open-ended and it must be (so usage is never unpriced);
    /// amounts are not negative. `field` is the path of the ranges array in the document, used
    /// to name the offending element ("properties.graduated_ranges[1].from_value").
    public static func validated(ranges: [PriceRange], field: String = "properties.graduated_ranges") throws(PricingError) -> [PriceRange] {
        guard let first = ranges.first else {
            throw PricingError(field: field, reason: "must hold at least one range")
        }
        guard first.fromValue == .zero else {
            throw PricingError(field: "\(field)[0].from_value", reason: "the first range must start at 0, not \(first.fromValue)")
        }
        var lowerBound = ExactDecimal.zero  // effective lower bound of the current range
        for (index, range) in ranges.enumerated() {
            let path = "\(field)[\(index)]"
            if index > 0 {
                // The previous range is closed: checked below for every range but the last.
                let previousTo = ranges[index - 1].toValue ?? .zero
                let stepped = previousTo.isInteger ? try? previousTo.adding(.one) : nil
                guard range.fromValue == previousTo || range.fromValue == stepped else {
                    let problem = range.fromValue < previousTo ? "overlaps" : "leaves a gap after"
                    throw PricingError(field: "\(path).from_value",
                                       reason: "\(range.fromValue) \(problem) the previous range ending at \(previousTo); use \(previousTo)\(stepped.map { " or \($0)" } ?? "")")
                }
                lowerBound = previousTo
            }
            if let toValue = range.toValue {
                guard toValue >= range.fromValue, toValue > lowerBound else {
                    throw PricingError(field: "\(path).to_value", reason: "must be greater than from_value \(range.fromValue)")
                }
                if index == ranges.count - 1 {
                    throw PricingError(field: "\(path).to_value", reason: "the last range must be open-ended (to_value null) so every usage has a price")
                }
            } else if index < ranges.count - 1 {
                throw PricingError(field: "\(path).to_value", reason: "only the last range may be open-ended (to_value null)")
            }
            guard !range.perUnitAmount.isNegative else {
                throw PricingError(field: "\(path).per_unit_amount", reason: "must not be negative")
            }
            guard !range.flatAmount.isNegative else {
                throw PricingError(field: "\(path).flat_amount", reason: "must not be negative")
            }
        }
        return ranges
    }
}

extension ExactDecimal {
    /// Whether the value has no fractional part (2.00 is an integer).
    fileprivate var isInteger: Bool { normalized.scale == 0 }
}
