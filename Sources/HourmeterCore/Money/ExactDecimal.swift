/// Why an exact decimal operation could not produce an exact result.
public enum DecimalError: Error, Sendable, Equatable {
    /// The result needs more than 128 bits of significand or more than 38 fractional digits.
    /// Thrown instead of wrapping or dropping digits: a wrong amount is worse than no amount.
    case overflow
    /// Text that is not a decimal number, for callers that turn a failed `ExactDecimal(text)`
    /// into an error carrying the offending text.
    case invalidLiteral(String)
    case divisionByZero
}

/// How to round away the digits beyond a scale. Raw values are the names invoices state.
public enum RoundingRule: String, Sendable, Codable {
    /// To the nearest; a tie goes to the even neighbour (banker's rounding), so ties do not
    /// drift upward when many lines are rounded. The default for money.
    case halfEven = "half_even"
    /// To the nearest; a tie goes away from zero (2.5 → 3, −2.5 → −3).
    case halfUp = "half_up"
    /// Toward zero (truncation): 2.9 → 2, −2.9 → −2.
    case down
    /// Away from zero: 2.1 → 3, −2.1 → −3.
    case up
}

/// An exact decimal number: `significand × 10^(−scale)`.
///
/// Money and billed quantities are never binary floating point: 0.1 is not representable in a
/// `Double`, and sums of many small unit prices drift. This type keeps every digit and fails
/// loudly (`DecimalError.overflow`) rather than losing one.
///
/// - The significand is a native `Int128` (any value except `Int128.min`, so negation can
///   never trap); that holds every 38-digit number. The scale is 0...38.
/// - Equality, hashing and ordering are by value: `1.0 == 1` and both hash alike.
/// - Same-scale addition is a single 128-bit add, so summing is cheap on the ingest path.
public struct ExactDecimal: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public typealias DecimalError = HourmeterCore.DecimalError
    public typealias RoundingRule = HourmeterCore.RoundingRule

    /// The largest scale (fractional digits) a value may carry.
    public static let maxScale = 38

    public let significand: Int128
    public let scale: Int

    public static let zero = ExactDecimal(unchecked: 0, scale: 0)
    public static let one = ExactDecimal(unchecked: 1, scale: 0)

    /// Checked construction: `scale` must be 0...38 and `significand` not `Int128.min`.
    public init(significand: Int128, scale: Int) throws(DecimalError) {
        guard scale >= 0, scale <= Self.maxScale, significand != .min else { throw .overflow }
        self.significand = significand
        self.scale = scale
    }

    public init(_ value: Int) {
        self.init(unchecked: Int128(value), scale: 0)
    }

    /// Parses the JSON number grammar (see `parse(_:)`); nil for anything else.
    public init?(_ text: String) {
        var text = text
        guard let value = text.withUTF8({ Self.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self = value
    }

    /// For results already known to satisfy the invariants.
    init(unchecked significand: Int128, scale: Int) {
        self.significand = significand
        self.scale = scale
    }

    // MARK: Powers of ten

    /// 10^0 ... 10^38; 10^38 is the largest power of ten below `Int128.max` (≈ 1.7 × 10^38).
    static let powersOfTen: [Int128] = {
        var powers: [Int128] = [1]
        powers.reserveCapacity(39)
        for _ in 1...38 { powers.append(powers[powers.count - 1] * 10) }
        return powers
    }()

    @inline(__always)
    static func powerOfTen(_ exponent: Int) -> Int128 { powersOfTen[exponent] }

    /// The significand expressed at a larger scale, or nil when it does not fit.
    @inline(__always)
    func significand(atScale target: Int) -> Int128? {
        let difference = target - scale
        if difference == 0 { return significand }
        guard difference > 0, difference <= Self.maxScale else { return nil }
        let (result, overflow) = significand.multipliedReportingOverflow(by: Self.powerOfTen(difference))
        return overflow || result == .min ? nil : result
    }

    // MARK: Arithmetic

    public func adding(_ other: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        if scale == other.scale {
            let (sum, overflow) = significand.addingReportingOverflow(other.significand)
            guard !overflow, sum != .min else { throw .overflow }
            return ExactDecimal(unchecked: sum, scale: scale)
        }
        return try Self.alignedSum(self, other)
    }

    public func subtracting(_ other: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        try adding(other.negated())
    }

    /// Never throws: `Int128.min` is excluded from the representation for this reason.
    public func negated() -> ExactDecimal {
        ExactDecimal(unchecked: -significand, scale: scale)
    }

    /// Adds values of different scales at the larger scale. If aligning overflows, trailing
    /// zeros (e.g. `1e37` plus `0.10`) are stripped and it tries once more before giving up.
    static func alignedSum(_ a: ExactDecimal, _ b: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        var a = a, b = b
        for attempt in 0..<2 {
            let target = Swift.max(a.scale, b.scale)
            if let x = a.significand(atScale: target), let y = b.significand(atScale: target) {
                let (sum, overflow) = x.addingReportingOverflow(y)
                if !overflow, sum != .min { return ExactDecimal(unchecked: sum, scale: target) }
            }
            if attempt == 0 {
                a = a.normalized
                b = b.normalized
            }
        }
        throw .overflow
    }

    /// The exact product. Its scale is the sum of the scales; when that exceeds 38 (or the
    /// significand exceeds 128 bits), trailing zero digits are dropped, and only zeros: any
    /// non-zero digit that would be lost makes it throw `.overflow`.
    public func multiplied(by other: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        let (product, overflow) = significand.multipliedReportingOverflow(by: other.significand)
        let productScale = scale + other.scale
        if !overflow, product != .min, productScale <= Self.maxScale {
            return ExactDecimal(unchecked: product, scale: productScale)
        }
        // Slow path: the full 256-bit product of the magnitudes, reduced by exact divisions by 10.
        let negative = (significand < 0) != (other.significand < 0)
        var (high, low) = significand.magnitude.multipliedFullWidth(by: other.significand.magnitude)
        var resultScale = productScale
        let limit = UInt128(Int128.max)
        if high == 0, low == 0 { return ExactDecimal(unchecked: 0, scale: Swift.min(resultScale, Self.maxScale)) }
        while resultScale > Self.maxScale || high != 0 || low > limit {
            guard resultScale > 0 else { throw .overflow }
            let (highQuotient, highRemainder) = high.quotientAndRemainder(dividingBy: 10)
            let (lowQuotient, lowRemainder) = UInt128(10).dividingFullWidth((highRemainder, low))
            guard lowRemainder == 0 else { throw .overflow }
            high = highQuotient
            low = lowQuotient
            resultScale -= 1
        }
        let magnitude = Int128(low)
        return ExactDecimal(unchecked: negative ? -magnitude : magnitude, scale: resultScale)
    }

    /// `self / divisor` rounded half-even to exactly `scale` fractional digits.
    /// Throws `.divisionByZero`, or `.overflow` when `scale` is outside 0...38 or the
    /// quotient written at `scale` (quotient × 10^scale) does not fit 128 bits, even when the
    /// value itself would fit at a smaller scale: ask for fewer digits in that case.
    public func divided(by divisor: ExactDecimal, scale target: Int) throws(DecimalError) -> ExactDecimal {
        guard divisor.significand != 0 else { throw .divisionByZero }
        guard target >= 0, target <= Self.maxScale else { throw .overflow }
        if significand == 0 { return ExactDecimal(unchecked: 0, scale: target) }
        let negative = (significand < 0) != (divisor.significand < 0)
        // quotient = round(n × 10^k / d)
        let numerator = significand.magnitude
        var denominator = divisor.significand.magnitude
        var exponent = target + divisor.scale - scale
        if exponent < 0 {
            let (scaled, overflow) = denominator.multipliedReportingOverflow(by: UInt128(Self.powerOfTen(-exponent)))
            // n < 2^127 and the true denominator ≥ 2^128: the quotient is below 0.5, so 0.
            if overflow { return ExactDecimal(unchecked: 0, scale: target) }
            denominator = scaled
            exponent = 0
        }
        var (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: denominator)
        // Long division in steps of up to 38 decimal digits; remainder < denominator keeps
        // each step's high word below the divisor, as dividingFullWidth requires.
        while exponent > 0 {
            let step = Swift.min(exponent, Self.maxScale)
            exponent -= step
            let power = UInt128(Self.powerOfTen(step))
            let (shifted, shiftOverflow) = quotient.multipliedReportingOverflow(by: power)
            guard !shiftOverflow else { throw .overflow }
            let (stepQuotient, stepRemainder) = denominator.dividingFullWidth(remainder.multipliedFullWidth(by: power))
            let (sum, sumOverflow) = shifted.addingReportingOverflow(stepQuotient)
            guard !sumOverflow else { throw .overflow }
            quotient = sum
            remainder = stepRemainder
        }
        if Self.roundsAwayFromZero(quotient: quotient, remainder: remainder, divisor: denominator, rule: .halfEven) {
            let (bumped, overflow) = quotient.addingReportingOverflow(1)
            guard !overflow else { throw .overflow }
            quotient = bumped
        }
        guard quotient <= UInt128(Int128.max) else { throw .overflow }
        let magnitude = Int128(quotient)
        return ExactDecimal(unchecked: negative ? -magnitude : magnitude, scale: target)
    }

    /// Whether a truncated magnitude quotient must be bumped by one to honour `rule`.
    /// Works on magnitudes so every rule is symmetric around zero.
    @inline(__always)
    static func roundsAwayFromZero(quotient: UInt128, remainder: UInt128, divisor: UInt128, rule: RoundingRule) -> Bool {
        guard remainder != 0 else { return false }
        // Compare remainder with divisor − remainder instead of 2 × remainder with divisor:
        // the doubled value could overflow when the divisor is near 2^128.
        let rest = divisor - remainder
        switch rule {
        case .down: return false
        case .up: return true
        case .halfUp: return remainder >= rest
        case .halfEven: return remainder > rest || (remainder == rest && quotient & 1 == 1)
        }
    }

    /// This value with at most `scale` fractional digits, rounded by `rule`.
    /// Asking for more digits than the value has pads with zeros when they fit (the value is
    /// unchanged either way). Throws `.overflow` only for a scale outside 0...38.
    public func rounded(scale target: Int, _ rule: RoundingRule = .halfEven) throws(DecimalError) -> ExactDecimal {
        guard target >= 0, target <= Self.maxScale else { throw .overflow }
        if target >= scale {
            guard let padded = significand(atScale: target) else { return self }
            return ExactDecimal(unchecked: padded, scale: target)
        }
        let divisor = UInt128(Self.powerOfTen(scale - target))
        var (quotient, remainder) = significand.magnitude.quotientAndRemainder(dividingBy: divisor)
        if Self.roundsAwayFromZero(quotient: quotient, remainder: remainder, divisor: divisor, rule: rule) {
            quotient += 1  // quotient ≤ |significand| / 10, so +1 fits
        }
        let magnitude = Int128(quotient)
        return ExactDecimal(unchecked: significand < 0 ? -magnitude : magnitude, scale: target)
    }

    /// The same value with trailing fractional zeros removed (zero has scale 0): the canonical
    /// form used for hashing and printing.
    public var normalized: ExactDecimal {
        if significand == 0 { return ExactDecimal(unchecked: 0, scale: 0) }
        var value = significand
        var newScale = scale
        while newScale > 0 {
            let (quotient, remainder) = value.quotientAndRemainder(dividingBy: 10)
            if remainder != 0 { break }
            value = quotient
            newScale -= 1
        }
        return ExactDecimal(unchecked: value, scale: newScale)
    }

    public var isZero: Bool { significand == 0 }
    public var isNegative: Bool { significand < 0 }

    // MARK: Comparison by value

    /// −1, 0 or 1. Aligns scales; if aligning overflows, the scaled value's magnitude exceeds
    /// anything representable at that scale, so its sign alone decides.
    static func compare(_ a: ExactDecimal, _ b: ExactDecimal) -> Int {
        let x: Int128, y: Int128
        if a.scale == b.scale {
            x = a.significand
            y = b.significand
        } else if a.scale < b.scale {
            guard let scaled = a.significand(atScale: b.scale) else { return a.significand < 0 ? -1 : 1 }
            x = scaled
            y = b.significand
        } else {
            guard let scaled = b.significand(atScale: a.scale) else { return b.significand < 0 ? 1 : -1 }
            x = a.significand
            y = scaled
        }
        return x < y ? -1 : (x == y ? 0 : 1)
    }

    public static func == (a: ExactDecimal, b: ExactDecimal) -> Bool { compare(a, b) == 0 }
    public static func < (a: ExactDecimal, b: ExactDecimal) -> Bool { compare(a, b) < 0 }

    public func hash(into hasher: inout Hasher) {
        let canonical = normalized
        hasher.combine(canonical.significand)
        hasher.combine(canonical.scale)
    }

    // MARK: Text

    /// Plain decimal text without exponent or trailing fractional zeros ("1000000", "-0.25",
    /// "0"): a valid JSON number, and the canonical text for comparing and storing.
    public var description: String {
        let canonical = normalized
        var digits = String(canonical.significand.magnitude)
        if canonical.scale > 0 {
            if digits.utf8.count <= canonical.scale {
                digits = String(repeating: "0", count: canonical.scale - digits.utf8.count + 1) + digits
            }
            let point = digits.index(digits.endIndex, offsetBy: -canonical.scale)
            digits.insert(".", at: point)
        }
        return canonical.significand < 0 ? "-" + digits : digits
    }

    /// `self` percent as a fraction (1.3 → 0.013), exactly: a shift of the decimal point.
    public func percentAsFraction() throws(DecimalError) -> ExactDecimal {
        try multiplied(by: ExactDecimal(unchecked: 1, scale: 2))
    }

    /// Text with exactly `digits` fractional digits ("1500.00" for 2), for amounts already
    /// rounded to a currency's minor unit; a value with more digits prints canonically.
    public func text(fractionDigits digits: Int) -> String {
        let canonical = normalized
        guard canonical.scale < digits, let padded = canonical.significand(atScale: digits) else { return description }
        var text = String(padded.magnitude)
        if text.utf8.count <= digits { text = String(repeating: "0", count: digits - text.utf8.count + 1) + text }
        text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
        return padded < 0 ? "-" + text : text
    }

    /// Parses exactly the JSON number grammar: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
    ///
    /// No `+` sign, no `.5`, no `01`, no `NaN`/`inf`, no spaces. The exponent is applied
    /// exactly (`1e3` is 1000 at scale 0, `1.5E-2` is 15 at scale 3); the written scale is
    /// kept where possible (`1.50` has scale 2). Returns nil when the value cannot be held
    /// exactly (more than 128 bits of significant digits, or more than 38 fractional digits
    /// after dropping trailing zeros). Never goes through `Double`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ExactDecimal? {
        let count = bytes.count
        var index = 0
        guard count > 0 else { return nil }
        let negative = bytes[0] == 0x2D  // '-'
        if negative { index = 1 }
        guard index < count else { return nil }

        var accumulator = DigitAccumulator()
        // Integer part: a single 0, or a non-zero digit followed by digits.
        let first = bytes[index]
        if first == 0x30 {
            index += 1
            if index < count, isDigit(bytes[index]) { return nil }
        } else if first >= 0x31, first <= 0x39 {
            while index < count, isDigit(bytes[index]) {
                accumulator.push(bytes[index] &- 0x30)
                index += 1
            }
        } else {
            return nil
        }
        var fractionDigits = 0
        if index < count, bytes[index] == 0x2E {  // '.'
            index += 1
            let start = index
            while index < count, isDigit(bytes[index]) {
                accumulator.push(bytes[index] &- 0x30)
                index += 1
            }
            fractionDigits = index - start
            guard fractionDigits > 0 else { return nil }
        }
        var exponent = 0
        if index < count, bytes[index] == 0x65 || bytes[index] == 0x45 {  // 'e' / 'E'
            index += 1
            var exponentNegative = false
            if index < count, bytes[index] == 0x2B || bytes[index] == 0x2D {
                exponentNegative = bytes[index] == 0x2D
                index += 1
            }
            let start = index
            while index < count, isDigit(bytes[index]) {
                // Saturate: anything this large fails below unless the value is zero.
                if exponent < 1_000_000 { exponent = exponent * 10 + Int(bytes[index] &- 0x30) }
                index += 1
            }
            guard index > start else { return nil }
            if exponentNegative { exponent = -exponent }
        }
        guard index == count, !accumulator.overflowed else { return nil }

        // The preferred (written) scale, before any trailing zeros are dropped.
        let writtenScale = Swift.max(0, fractionDigits - exponent)
        guard accumulator.value != 0 else {
            return ExactDecimal(unchecked: 0, scale: Swift.min(writtenScale, maxScale))
        }
        // value = mantissa × 10^power, mantissa without its trailing zeros.
        let power = accumulator.trailingZeros - fractionDigits + exponent
        let neededScale = Swift.max(0, -power)
        guard neededScale <= maxScale else { return nil }
        // Prefer the written scale; fall back to the smallest scale that holds the value.
        return make(accumulator.value, power: power, scale: Swift.min(writtenScale, maxScale), negative: negative)
            ?? make(accumulator.value, power: power, scale: neededScale, negative: negative)
    }

    /// `mantissa × 10^power` expressed at `scale` (with `scale + power ≥ 0`), if it fits.
    private static func make(_ mantissa: UInt128, power: Int, scale: Int, negative: Bool) -> ExactDecimal? {
        let multiplierExponent = scale + power
        guard multiplierExponent >= 0, multiplierExponent <= maxScale else { return nil }
        let (scaled, overflow) = mantissa.multipliedReportingOverflow(by: UInt128(powerOfTen(multiplierExponent)))
        guard !overflow, scaled <= UInt128(Int128.max) else { return nil }
        let magnitude = Int128(scaled)
        return ExactDecimal(unchecked: negative ? -magnitude : magnitude, scale: scale)
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }

    /// Collects significant digits, deferring zeros so trailing zeros can be dropped
    /// instead of overflowing (`1.000…0` with 50 zeros is still 1).
    struct DigitAccumulator {
        var value: UInt128 = 0
        var trailingZeros = 0
        var overflowed = false

        @inline(__always)
        mutating func push(_ digit: UInt8) {
            if digit == 0 {
                if value != 0 { trailingZeros += 1 }
                return
            }
            if value == 0 {
                value = UInt128(digit)
                return
            }
            let shift = trailingZeros + 1
            trailingZeros = 0
            guard shift <= ExactDecimal.maxScale else { overflowed = true; return }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: UInt128(ExactDecimal.powerOfTen(shift)))
            let (sum, carry) = scaled.addingReportingOverflow(UInt128(digit))
            if overflow || carry { overflowed = true } else { value = sum }
        }
    }

    // MARK: Codable

    /// Encoded as a JSON string of `description`: JSON numbers are read as `Double` by most
    /// clients, which would silently round amounts.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Decodes a string in the JSON number grammar. A bare JSON number is accepted only when it
    /// is an integer that fits `Int64`: `Decoder` offers no exact access to other number text.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let value = ExactDecimal(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an exact decimal number: \(text)")
            }
            self = value
            return
        }
        if let integer = try? container.decode(Int64.self) {
            self.init(unchecked: Int128(integer), scale: 0)
            return
        }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a decimal number as a string, e.g. \"12.50\"")
    }
}
