import Foundation
import HourmeterCore

/// Reads a JSON object body field by field; every problem is a 400 naming the field. Unknown
/// fields are refused, so a misspelt field is an error rather than silently ignored.
struct FieldReader {
    let values: [String: Any]

    init(_ values: [String: Any], allowed: Set<String>) throws {
        self.values = values
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw Self.invalid(unknown, "is not a known field; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    static func invalid(_ field: String, _ reason: String) -> APIError {
        .validation("\(field): \(reason); nothing was changed", [.init(field: field, reason: reason)])
    }

    func has(_ key: String) -> Bool { values[key].map { !($0 is NSNull) } ?? false }

    /// A string of 1…`max` bytes without control characters; nil when absent and not required.
    func string(_ key: String, required: Bool = false, max: Int = 200) throws -> String? {
        guard has(key) else {
            if required { throw Self.invalid(key, "is required") }
            return nil
        }
        guard let text = values[key] as? String, !text.isEmpty, text.utf8.count <= max, !DocumentValues.hasControlCharacters(text) else {
            throw Self.invalid(key, "must be a string of 1–\(max) bytes without control characters")
        }
        return text
    }

    func requiredString(_ key: String, max: Int = 200) throws -> String { try string(key, required: true, max: max)! }

    func currency(_ key: String) throws -> Currency {
        let code = try requiredString(key, max: 3)
        guard let currency = Currency(code: code) else { throw Self.invalid(key, "\"\(code)\" is not a known ISO 4217 currency") }
        return currency
    }

    func timeZone(_ key: String, required: Bool = true) throws -> String? {
        guard let name = try string(key, required: required, max: 64) else { return nil }
        guard TimeZone(identifier: name) != nil else { throw Self.invalid(key, "\"\(name)\" is not an IANA time zone such as Asia/Shanghai") }
        return name
    }

    /// An RFC 3339 instant in microseconds.
    func instant(_ key: String, required: Bool = false) throws -> Int64? {
        guard let text = try string(key, required: required, max: 64) else { return nil }
        guard let micros = RFC3339.parseMicroseconds(text) else { throw Self.invalid(key, "\"\(text)\" is not an RFC 3339 timestamp") }
        return micros
    }

    func integer(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard has(key) else { return nil }
        guard let value = values[key] as? Int, !DocumentValues.isBoolean(values[key]!), range.contains(value) else {
            throw Self.invalid(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A positive decimal string amount.
    func amount(_ key: String) throws -> ExactDecimal {
        guard let text = try string(key, required: true, max: 60) else { throw Self.invalid(key, "is required") }
        guard let amount = ExactDecimal(text), amount > .zero else { throw Self.invalid(key, "must be a decimal string greater than 0, e.g. \"100.00\"") }
        return amount
    }

    func strings(_ key: String, maxCount: Int) throws -> [String]? {
        guard has(key) else { return nil }
        guard let list = values[key] as? [Any], list.count <= maxCount else { throw Self.invalid(key, "must be an array of at most \(maxCount) strings") }
        return try list.enumerated().map { index, element in
            guard let text = element as? String, !text.isEmpty, text.utf8.count <= 200, !DocumentValues.hasControlCharacters(text) else {
                throw Self.invalid("\(key)[\(index)]", "must be a non-empty string")
            }
            return text
        }
    }
}
