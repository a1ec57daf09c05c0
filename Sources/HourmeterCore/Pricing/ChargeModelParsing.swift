import Foundation

extension ChargeModel {
    /// The model names a plan document may use.
    public static let modelNames = ["standard", "graduated", "volume", "package", "percentage", "graduated_percentage"]

    /// The charge model a plan document describes: `model` is one of `modelNames`;
    /// `properties` is the JSON object as `JSONSerialization` returns it. `path` is where the
    /// charge sits in the document ("charges[2]"), so errors name the full field path
    /// ("charges[2].properties.amount"); empty for a bare charge.
    public static func parse(model: String, properties: [String: Any], path: String = "") throws(PricingError) -> ChargeModel {
        let object = DocumentObject(properties, path: path.isEmpty ? "properties" : "\(path).properties")
        switch model {
        case "standard":
            try object.rejectUnknownKeys(["amount"])
            return .standard(try object.amount("amount"))
        case "graduated":
            try object.rejectUnknownKeys(["graduated_ranges"])
            return .graduated(try ranges(object, "graduated_ranges", priceKey: "per_unit_amount"))
        case "volume":
            try object.rejectUnknownKeys(["volume_ranges"])
            return .volume(try ranges(object, "volume_ranges", priceKey: "per_unit_amount"))
        case "graduated_percentage":
            try object.rejectUnknownKeys(["graduated_percentage_ranges"])
            return .graduatedPercentage(try ranges(object, "graduated_percentage_ranges", priceKey: "rate"))
        case "package":
            try object.rejectUnknownKeys(["amount", "package_size", "free_units"])
            let amount = try object.amount("amount")
            guard let packageSize = try object.quantity("package_size") else {
                throw PricingError(field: object.field("package_size"), reason: "is required")
            }
            guard packageSize > .zero else {
                throw PricingError(field: object.field("package_size"), reason: "must be greater than 0")
            }
            let freeUnits = try object.quantity("free_units") ?? .zero
            return .package(amount: amount, packageSize: packageSize, freeUnits: freeUnits)
        case "percentage":
            try object.rejectUnknownKeys(["rate", "fixed_amount", "free_units_per_events", "free_units_per_total_aggregation",
                                          "per_transaction_min_amount", "per_transaction_max_amount"])
            let terms = PercentageTerms(
                rate: try object.amount("rate"), fixedAmount: try object.amount("fixed_amount", default: .zero),
                freeEvents: try object.count("free_units_per_events"),
                freeTotal: try object.quantity("free_units_per_total_aggregation"),
                minimumPerTransaction: try object.optionalAmount("per_transaction_min_amount"),
                maximumPerTransaction: try object.optionalAmount("per_transaction_max_amount"))
            if let minimum = terms.minimumPerTransaction, let maximum = terms.maximumPerTransaction, minimum > maximum {
                throw PricingError(field: object.field("per_transaction_min_amount"),
                                   reason: "\(minimum) is above per_transaction_max_amount \(maximum)")
            }
            return .percentage(terms)
        default:
            throw PricingError(field: path.isEmpty ? "model" : "\(path).model",
                               reason: "unknown charge model \"\(model)\"; expected one of \(modelNames.joined(separator: ", "))")
        }
    }

    /// Tiers under `key`. `priceKey` is "per_unit_amount", or "rate" for graduated
    /// percentages, whose rate (a percentage) is stored as the unit price `rate / 100`.
    private static func ranges(_ properties: DocumentObject, _ key: String, priceKey: String) throws(PricingError) -> [PriceRange] {
        let field = properties.field(key)
        guard let elements = try properties.array(key) else { throw PricingError(field: field, reason: "is required") }
        guard elements.count <= PlanVersion.Limits.ranges else {
            throw PricingError(field: field, reason: "holds \(elements.count) ranges; at most \(PlanVersion.Limits.ranges) are allowed")
        }
        var ranges: [PriceRange] = []
        ranges.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let object = try DocumentObject(element, path: "\(field)[\(index)]")
            try object.rejectUnknownKeys(["from_value", "to_value", priceKey, "flat_amount"])
            guard let fromValue = try object.quantity("from_value") else {
                throw PricingError(field: object.field("from_value"), reason: "is required")
            }
            var price = try object.amount(priceKey)
            if priceKey == "rate" {
                do { price = try price.percentAsFraction() } catch {
                    throw PricingError(field: object.field(priceKey), reason: "has too many digits")
                }
            }
            ranges.append(PriceRange(fromValue: fromValue, toValue: try object.quantity("to_value"),
                                     perUnitAmount: price, flatAmount: try object.amount("flat_amount", default: .zero)))
        }
        return try validated(ranges: ranges, field: field)
    }

    /// The `properties` object of this model as a plan document writes it (amounts as
    /// decimal strings), so a stored version reads back as it was published.
    public var properties: [String: Any] {
        func rangeList(_ ranges: [PriceRange], priceKey: String) -> [[String: Any]] {
            ranges.map { range in
                let price = priceKey == "rate" ? ((try? range.perUnitAmount.multiplied(by: ExactDecimal(100))) ?? range.perUnitAmount).normalized
                    : range.perUnitAmount
                return ["from_value": range.fromValue.description, "to_value": range.toValue.map { $0.description as Any } ?? NSNull(),
                        priceKey: price.description, "flat_amount": range.flatAmount.description]
            }
        }
        switch self {
        case .standard(let amount): return ["amount": amount.description]
        case .graduated(let ranges): return ["graduated_ranges": rangeList(ranges, priceKey: "per_unit_amount")]
        case .volume(let ranges): return ["volume_ranges": rangeList(ranges, priceKey: "per_unit_amount")]
        case .graduatedPercentage(let ranges): return ["graduated_percentage_ranges": rangeList(ranges, priceKey: "rate")]
        case .package(let amount, let size, let free):
            return ["amount": amount.description, "package_size": size.description, "free_units": free.description]
        case .percentage(let terms):
            var properties: [String: Any] = ["rate": terms.rate.description, "fixed_amount": terms.fixedAmount.description]
            properties["free_units_per_events"] = terms.freeEvents
            properties["free_units_per_total_aggregation"] = terms.freeTotal?.description
            properties["per_transaction_min_amount"] = terms.minimumPerTransaction?.description
            properties["per_transaction_max_amount"] = terms.maximumPerTransaction?.description
            return properties
        }
    }
}
