/// A currency and how many minor-unit digits its amounts are rounded to.
///
/// Rated amounts carry full precision (unit prices can be far below one cent); an amount is
/// rounded once, per invoice line, to the currency's minor unit. The minor units come from a
/// built-in table rather than from input, so a document cannot claim that USD has 0 decimals.
public struct Currency: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The ISO 4217 alphabetic code, upper case ("USD").
    public let code: String
    /// Digits after the decimal point in the currency's smallest unit (USD 2, JPY 0, KWD 3).
    public let minorUnits: Int

    /// ISO 4217 minor units of the currencies Hourmeter knows. Extend here, in one place.
    static let minorUnitsByCode: [String: Int] = [
        "AED": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2,
        "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2,
        "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2,
        "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RUB": 2, "SAR": 2, "SEK": 2,
        "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UGX": 0, "USD": 2, "VND": 0,
        "ZAR": 2,
    ]

    /// The currency for an ISO 4217 code (case-insensitive), or nil when the code is not in
    /// the table: an unknown currency has no known minor unit, so it cannot be rounded.
    public init?(code: String) {
        let normalized = code.uppercased()
        guard let minorUnits = Self.minorUnitsByCode[normalized] else { return nil }
        self.code = normalized
        self.minorUnits = minorUnits
    }

    /// `amount` rounded half-even to the minor unit (CNY 1.005 → 1.00, JPY 2.5 → 2): ties go to
    /// the even neighbour so rounding many invoice lines does not drift upward.
    public func round(_ amount: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        try amount.rounded(scale: minorUnits, .halfEven)
    }

    /// An amount as invoices print it, with all the minor-unit digits ("1500.00", JPY "1500").
    public func format(_ amount: ExactDecimal) -> String { amount.text(fractionDigits: minorUnits) }

    public var description: String { code }

    /// Encoded as the bare code ("USD"); the minor units are looked up again when decoding,
    /// so stored documents cannot carry a different rounding than the table.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let currency = Currency(code: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown ISO 4217 currency code: \(text)")
        }
        self = currency
    }
}
