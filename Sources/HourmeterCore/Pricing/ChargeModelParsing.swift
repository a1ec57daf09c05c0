import Foundation

extension ChargeModel {
    /// The charge model a plan document describes: `model` is "standard", "graduated",
    /// "volume" or "package"; `properties` is the JSON object as `JSONSerialization` returns it.
    ///
    /// Amounts (`amount`, `per_unit_amount`, `flat_amount`) must be decimal strings ("0.50"):
    /// a JSON number is read as a binary `Double` by most clients, which would silently change a
    /// price. Quantities (`from_value`, `to_value`, `package_size`, `free_units`) may also be
    /// JSON numbers, since plans commonly write them so; a non-integer number is read through its
    /// shortest round-trip text. Every error names the field's path ("properties.amount").
    public static func parse(model: String, properties: [String: Any]) throws(PricingError) -> ChargeModel {
        switch model {
        case "standard":
            return .standard(try amount(properties, "amount", path: "properties"))
        case "graduated":
            return .graduated(try ranges(properties, "graduated_ranges"))
        case "volume":
            return .volume(try ranges(properties, "volume_ranges"))
        case "package":
            let amount = try amount(properties, "amount", path: "properties")
            guard let packageSize = try quantity(properties, "package_size", path: "properties") else {
                throw PricingError(field: "properties.package_size", reason: "is required")
            }
            guard packageSize > .zero else {
                throw PricingError(field: "properties.package_size", reason: "must be greater than 0")
            }
            let freeUnits = try quantity(properties, "free_units", path: "properties") ?? .zero
            return .package(amount: amount, packageSize: packageSize, freeUnits: freeUnits)
        default:
            throw PricingError(field: "model", reason: "unknown charge model \"\(model)\"; expected standard, graduated, volume or package")
        }
    }

    private static func ranges(_ properties: [String: Any], _ key: String) throws(PricingError) -> [PriceRange] {
        let field = "properties.\(key)"
        guard let value = properties[key] else { throw PricingError(field: field, reason: "is required") }
        guard let elements = value as? [Any] else { throw PricingError(field: field, reason: "must be an array of ranges") }
        var ranges: [PriceRange] = []
        ranges.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let path = "\(field)[\(index)]"
            guard let object = element as? [String: Any] else {
                throw PricingError(field: path, reason: "must be an object")
            }
            guard let fromValue = try quantity(object, "from_value", path: path) else {
                throw PricingError(field: "\(path).from_value", reason: "is required")
            }
            let toValue = try quantity(object, "to_value", path: path)
            let perUnitAmount = try amount(object, "per_unit_amount", path: path)
            let flatAmount = try amount(object, "flat_amount", path: path, defaultValue: .zero)
            ranges.append(PriceRange(fromValue: fromValue, toValue: toValue, perUnitAmount: perUnitAmount, flatAmount: flatAmount))
        }
        return try validated(ranges: ranges, field: field)
    }

    /// A non-negative decimal string. Required unless `defaultValue` is given.
    private static func amount(_ object: [String: Any], _ key: String, path: String, defaultValue: ExactDecimal? = nil) throws(PricingError) -> ExactDecimal {
        let field = "\(path).\(key)"
        guard let value = object[key], !(value is NSNull) else {
            if let defaultValue { return defaultValue }
            throw PricingError(field: field, reason: "is required")
        }
        guard let text = value as? String else {
            throw PricingError(field: field, reason: "must be a decimal string, e.g. \"0.50\"")
        }
        guard let amount = ExactDecimal(text) else {
            throw PricingError(field: field, reason: "\"\(text)\" is not a decimal number")
        }
        guard !amount.isNegative else { throw PricingError(field: field, reason: "must not be negative") }
        return amount
    }

    /// A non-negative quantity written as a JSON number or a decimal string; nil when absent or null.
    private static func quantity(_ object: [String: Any], _ key: String, path: String) throws(PricingError) -> ExactDecimal? {
        let field = "\(path).\(key)"
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let quantity = exactQuantity(value) else {
            throw PricingError(field: field, reason: "must be a number or a decimal string")
        }
        guard !quantity.isNegative else { throw PricingError(field: field, reason: "must not be negative") }
        return quantity
    }

    /// The exact value of a string or number from `JSONSerialization`. Booleans are refused
    /// (they bridge to NSNumber 0/1); integers are taken exactly; other numbers through Swift's
    /// shortest round-trip text of the `Double`, which reproduces what was written for any
    /// number of up to 15 significant digits. Beyond 2^53 a `Double` no longer holds every
    /// integer, so such numbers are refused: write them as strings.
    private static func exactQuantity(_ value: Any) -> ExactDecimal? {
        if let text = value as? String { return ExactDecimal(text) }
        if isBoolean(value) { return nil }
        if let integer = value as? Int64 { return ExactDecimal(Int(integer)) }
        if let integer = value as? Int { return ExactDecimal(integer) }
        if let double = value as? Double, double.isFinite, double.magnitude < 9_007_199_254_740_992 {
            return ExactDecimal("\(double)")
        }
        return nil
    }

    /// JSON `true`/`false`. Not `value is Bool`: NSNumber 0 and 1 pass that test too.
    /// `JSONSerialization` makes booleans NSNumbers of C type `char`, which it never uses for
    /// numbers.
    private static func isBoolean(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }
}
