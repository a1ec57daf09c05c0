import Foundation

/// Checks on `JSONSerialization` values that the HTTP edge shares with document parsing.
public enum DocumentValues {
    /// A plan, charge or feature key: 1–64 characters of a–z, 0–9, `_`, `-`, `.`.
    public static func isKey(_ text: String) -> Bool { DocumentObject.isKey(text) }
    /// JSON `true`/`false` (not the numbers 0 and 1).
    public static func isBoolean(_ value: Any) -> Bool { DocumentObject.isBoolean(value) }
    /// C0 controls (NUL included) and DEL: never meant in names, and PostgreSQL refuses NUL in text.
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }
}

/// A JSON object of a plan document (as `JSONSerialization` returns it) with its path in the
/// document, so every error names the field it is about ("charges[1].properties.amount").
///
/// Amounts must be decimal strings ("0.50"): a JSON number is read as a binary `Double` by
/// most clients, which would silently change a price. Quantities (`from_value`, `package_size`,
/// …) may also be JSON numbers, since plans commonly write them so; a non-integer number is
/// read through its shortest round-trip text. Unknown keys are refused (`rejectUnknownKeys`),
/// so a misspelt property is an error rather than a silently missing price.
struct DocumentObject {
    let values: [String: Any]
    /// The object's own path; empty for the document's root.
    let path: String

    init(_ values: [String: Any], path: String) {
        self.values = values
        self.path = path
    }

    /// Reads `value` as an object, or fails naming `path`.
    init(_ value: Any?, path: String) throws(PricingError) {
        guard let values = value as? [String: Any] else { throw PricingError(field: path, reason: "must be an object") }
        self.init(values, path: path)
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        guard let value = values[key] else { return false }
        return !(value is NSNull)
    }

    func rejectUnknownKeys(_ allowed: Set<String>) throws(PricingError) {
        for key in values.keys.sorted() where !allowed.contains(key) {
            throw PricingError(field: field(key), reason: "is not a known field; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// A non-negative decimal string. Required unless `defaultValue` is given.
    func amount(_ key: String, default defaultValue: ExactDecimal? = nil) throws(PricingError) -> ExactDecimal {
        guard has(key) else {
            if let defaultValue { return defaultValue }
            throw PricingError(field: field(key), reason: "is required")
        }
        guard let amount = try optionalAmount(key) else { throw PricingError(field: field(key), reason: "is required") }
        return amount
    }

    /// A non-negative decimal string, or nil when absent or null.
    func optionalAmount(_ key: String) throws(PricingError) -> ExactDecimal? {
        guard has(key), let value = values[key] else { return nil }
        guard let text = value as? String else {
            throw PricingError(field: field(key), reason: "must be a decimal string, e.g. \"0.50\"")
        }
        guard let amount = ExactDecimal(text) else {
            throw PricingError(field: field(key), reason: "\"\(text)\" is not a decimal number")
        }
        guard !amount.isNegative else { throw PricingError(field: field(key), reason: "must not be negative") }
        return amount
    }

    /// A non-negative quantity written as a JSON number or a decimal string; nil when absent or null.
    func quantity(_ key: String) throws(PricingError) -> ExactDecimal? {
        guard has(key), let value = values[key] else { return nil }
        guard let quantity = Self.exactQuantity(value) else {
            throw PricingError(field: field(key), reason: "must be a number or a decimal string")
        }
        guard !quantity.isNegative else { throw PricingError(field: field(key), reason: "must not be negative") }
        return quantity
    }

    /// A non-negative whole number (JSON number or string); nil when absent or null.
    func count(_ key: String) throws(PricingError) -> Int? {
        guard let quantity = try quantity(key) else { return nil }
        guard quantity.normalized.scale == 0, quantity <= ExactDecimal(Int(Int32.max)) else {
            throw PricingError(field: field(key), reason: "must be a whole number")
        }
        return Int(quantity.normalized.significand)
    }

    /// A non-empty string; nil when absent or null.
    func string(_ key: String) throws(PricingError) -> String? {
        guard has(key), let value = values[key] else { return nil }
        guard let text = value as? String, !text.isEmpty, text.utf8.count <= 2_000 else {
            throw PricingError(field: field(key), reason: "must be a non-empty string of at most 2000 bytes")
        }
        guard !DocumentValues.hasControlCharacters(text) else {
            throw PricingError(field: field(key), reason: "must not contain control characters")
        }
        return text
    }

    func requiredString(_ key: String) throws(PricingError) -> String {
        guard let text = try string(key) else { throw PricingError(field: field(key), reason: "is required") }
        return text
    }

    /// An array; nil when absent or null.
    func array(_ key: String) throws(PricingError) -> [Any]? {
        guard has(key), let value = values[key] else { return nil }
        guard let array = value as? [Any] else { throw PricingError(field: field(key), reason: "must be an array") }
        return array
    }

    /// A nested object; nil when absent or null.
    func object(_ key: String) throws(PricingError) -> DocumentObject? {
        guard has(key) else { return nil }
        return try DocumentObject(values[key], path: field(key))
    }

    /// A key made of lower-case letters, digits, `_`, `-` and `.`, 1–64 characters, so keys
    /// are safe in URLs, CSV and log lines.
    static func isKey(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F || byte == 0x2D || byte == 0x2E
        }
    }

    /// The exact value of a string or number from `JSONSerialization`. Booleans are refused
    /// (they bridge to NSNumber 0/1); integers are taken exactly; other numbers through Swift's
    /// shortest round-trip text of the `Double`, which reproduces what was written for any
    /// number of up to 15 significant digits. Beyond 2^53 a `Double` no longer holds every
    /// integer, so such numbers are refused: write them as strings.
    static func exactQuantity(_ value: Any) -> ExactDecimal? {
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
    static func isBoolean(_ value: Any) -> Bool {
        if type(of: value) == Bool.self { return true }
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }
}
