import Foundation
import Testing
@testable import HourmeterCore

private func dec(_ text: String) -> ExactDecimal {
    guard let value = ExactDecimal(text) else { fatalError("test literal \(text) did not parse") }
    return value
}

@Suite struct ExactDecimalTests {
    @Test func fixedFractionDigitsForMoney() throws {
        #expect(dec("1500").text(fractionDigits: 2) == "1500.00")
        #expect(dec("0.5").text(fractionDigits: 2) == "0.50")
        #expect(dec("-0.05").text(fractionDigits: 2) == "-0.05")
        #expect(dec("0").text(fractionDigits: 3) == "0.000")
        #expect(dec("12").text(fractionDigits: 0) == "12")
        #expect(dec("1.005").text(fractionDigits: 2) == "1.005")  // more digits than asked: printed as is
        #expect(Currency(code: "JPY")!.format(dec("2500")) == "2500")
    }

    @Test func summingTenthsIsExact() throws {
        let tenth = dec("0.1")
        var sum = ExactDecimal.zero
        for _ in 0..<1_000_000 { sum = try sum.adding(tenth) }
        #expect(sum == ExactDecimal(100_000))
        #expect(sum.description == "100000")
    }

    @Test func additionAcrossScales() throws {
        #expect(try dec("1.25").adding(dec("2")) == dec("3.25"))
        #expect(try dec("0.00003").adding(dec("1e3")).description == "1000.00003")
        #expect(try dec("1").subtracting(dec("1.5")).description == "-0.5")
        // Aligning 1e37 (scale 0) with 0.10 (scale 2) overflows unless trailing zeros are dropped.
        #expect(try dec("1e37").adding(dec("0.10")) == dec("10000000000000000000000000000000000000.1"))
    }

    @Test func overflowThrows() throws {
        let max = try ExactDecimal(significand: Int128.max, scale: 0)
        #expect(throws: DecimalError.overflow) { try max.adding(.one) }
        #expect(throws: DecimalError.overflow) { try max.negated().subtracting(.one) }
        #expect(throws: DecimalError.overflow) { try max.multiplied(by: ExactDecimal(2)) }
        #expect(throws: DecimalError.overflow) { try ExactDecimal(significand: 1, scale: 39) }
        #expect(throws: DecimalError.overflow) { try ExactDecimal(significand: Int128.min, scale: 0) }
        #expect(throws: DecimalError.overflow) { try dec("1e30").adding(dec("1e-30")) }
    }

    @Test func multiplication() throws {
        #expect(try dec("1.5").multiplied(by: dec("-2.25")) == dec("-3.375"))
        #expect(try dec("0.00003").multiplied(by: ExactDecimal(1_000_000)) == ExactDecimal(30))
        // Scale 40 would be needed, but the two dropped digits are zeros: exact, so allowed.
        let product = try dec("0.00000000000000000010").multiplied(by: dec("0.00000000000000000010"))
        #expect(product == dec("1e-38"))
        #expect(product.scale <= 38)
        // Dropping a non-zero digit would lose precision: overflow.
        #expect(throws: DecimalError.overflow) {
            try dec("0.0000000000000000001").multiplied(by: dec("0.00000000000000000001"))
        }
        // 2 × 5 written at scale 37 each: the 256-bit product 10^75 at scale 74 reduces exactly to 10.
        let two = try ExactDecimal(significand: 2 * ExactDecimal.powersOfTen[37], scale: 37)
        let five = try ExactDecimal(significand: 5 * ExactDecimal.powersOfTen[37], scale: 37)
        #expect(try two.multiplied(by: five) == ExactDecimal(10))
        #expect(try two.negated().multiplied(by: five) == ExactDecimal(-10))
    }

    @Test func division() throws {
        #expect(try ExactDecimal(1).divided(by: ExactDecimal(3), scale: 4) == dec("0.3333"))
        #expect(try ExactDecimal(2).divided(by: ExactDecimal(3), scale: 4) == dec("0.6667"))
        #expect(try ExactDecimal(-2).divided(by: ExactDecimal(3), scale: 2) == dec("-0.67"))
        // Ties go to even.
        #expect(try dec("0.25").divided(by: ExactDecimal(1), scale: 1) == dec("0.2"))
        #expect(try dec("0.35").divided(by: ExactDecimal(1), scale: 1) == dec("0.4"))
        #expect(try ExactDecimal(5).divided(by: ExactDecimal(2), scale: 0) == ExactDecimal(2))
        #expect(try ExactDecimal(7).divided(by: ExactDecimal(2), scale: 0) == ExactDecimal(4))
        #expect(try dec("1e-30").divided(by: dec("3e20"), scale: 38) == .zero)
        #expect(try dec("10").divided(by: dec("0.0001"), scale: 2) == ExactDecimal(100_000))
        #expect(try ExactDecimal(1).divided(by: ExactDecimal(7), scale: 38) == dec("0.14285714285714285714285714285714285714"))
        // 100000 at scale 38 needs a 43-digit significand.
        #expect(throws: DecimalError.overflow) { try dec("10").divided(by: dec("0.0001"), scale: 38) }
        #expect(throws: DecimalError.divisionByZero) { try ExactDecimal.one.divided(by: .zero, scale: 2) }
        #expect(throws: DecimalError.overflow) { try dec("1e30").divided(by: dec("1e-30"), scale: 0) }
    }

    @Test func halfEvenRounding() throws {
        #expect(try dec("2.5").rounded(scale: 0) == ExactDecimal(2))
        #expect(try dec("3.5").rounded(scale: 0) == ExactDecimal(4))
        #expect(try dec("-2.5").rounded(scale: 0) == ExactDecimal(-2))
        #expect(try dec("-3.5").rounded(scale: 0) == ExactDecimal(-4))
        #expect(try dec("2.51").rounded(scale: 0) == ExactDecimal(3))
        #expect(try dec("0.125").rounded(scale: 2) == dec("0.12"))
        #expect(try dec("0.135").rounded(scale: 2) == dec("0.14"))
        #expect(try dec("0.00003").rounded(scale: 2) == .zero)
    }

    @Test func otherRoundingRules() throws {
        #expect(try dec("2.5").rounded(scale: 0, .halfUp) == ExactDecimal(3))
        #expect(try dec("-2.5").rounded(scale: 0, .halfUp) == ExactDecimal(-3))
        #expect(try dec("2.49").rounded(scale: 0, .halfUp) == ExactDecimal(2))
        #expect(try dec("2.9").rounded(scale: 0, .down) == ExactDecimal(2))
        #expect(try dec("-2.9").rounded(scale: 0, .down) == ExactDecimal(-2))
        #expect(try dec("2.1").rounded(scale: 0, .up) == ExactDecimal(3))
        #expect(try dec("-2.1").rounded(scale: 0, .up) == ExactDecimal(-3))
        #expect(try dec("2.0").rounded(scale: 0, .up) == ExactDecimal(2))
        let padded = try dec("1.5").rounded(scale: 4)
        #expect(padded.scale == 4 && padded.significand == 15000)
        #expect(throws: DecimalError.overflow) { try dec("1").rounded(scale: 39) }
        #expect(RoundingRule(rawValue: "half_even") == .halfEven)
        #expect(RoundingRule.halfUp.rawValue == "half_up")
    }

    @Test func valueEqualityAndHashing() throws {
        let a = dec("1.0"), b = ExactDecimal(1), c = dec("1.000")
        #expect(a == b && b == c)
        #expect(a.hashValue == b.hashValue && b.hashValue == c.hashValue)
        #expect(Set([a, b, c]).count == 1)
        #expect(dec("0") == dec("-0.00"))
        #expect(dec("0").hashValue == dec("-0.00").hashValue)
        #expect(dec("1e2") == dec("100.0"))
        #expect(dec("1.01") != dec("1.1"))
    }

    @Test func ordering() throws {
        #expect(dec("0.1") < dec("0.11"))
        #expect(dec("-1") < dec("-0.999"))
        #expect(dec("2") > dec("1.999999999999999999999999999999999999"))
        // Aligning would overflow: the larger-magnitude operand decides by its sign.
        let huge = try ExactDecimal(significand: Int128.max, scale: 0)
        let tiny = try ExactDecimal(significand: 1, scale: 38)
        #expect(tiny < huge && huge.negated() < tiny && huge > tiny)
        #expect([dec("3"), dec("-1.5"), dec("0.25")].sorted() == [dec("-1.5"), dec("0.25"), dec("3")])
    }

    @Test func normalizedAndDescription() throws {
        #expect(dec("1.2300").normalized.scale == 2)
        #expect(dec("1e6").description == "1000000")
        #expect(dec("-0.250").description == "-0.25")
        #expect(dec("0.000").description == "0")
        #expect(dec("-0").description == "0")
        #expect(dec("1.5E-7").description == "0.00000015")
        #expect(try ExactDecimal(significand: -5, scale: 38).description == "-0.00000000000000000000000000000000000005")
        #expect(try ExactDecimal(significand: Int128.max, scale: 0).description == "170141183460469231731687303715884105727")
    }

    @Test(arguments: [
        ("-0.5", "-0.5"), ("12", "12"), ("1e3", "1000"), ("1.5E-2", "0.015"), ("2e+2", "200"), ("0", "0"),
        ("-0", "0"), ("0.0", "0"), ("1E0", "1"), ("123.456e1", "1234.56"), ("5e-38", "0.00000000000000000000000000000000000005"),
        ("0e99999999999999999999", "0"),
        ("1.0000000000000000000000000000000000000000000000", "1"),
        ("99999999999999999999999999999999999999", "99999999999999999999999999999999999999"),
    ])
    func acceptsJSONNumbers(text: String, expected: String) throws {
        let value = try #require(ExactDecimal(text))
        #expect(value.description == expected)
    }

    @Test(arguments: [
        "", "-", "+1", ".5", "5.", "01", "-01", "00", "1e", "1e+", "1.e3", "NaN", "nan", "inf", "-Infinity",
        " 1", "1 ", "1,5", "0x10", "1.2.3", "1e3.5", "--1", "1ee3", "١",
        "1e39", "1e-39", "1" + String(repeating: "0", count: 39), "0." + String(repeating: "0", count: 38) + "1",
        "1234567890123456789012345678901234567890",
    ])
    func rejectsEverythingElse(text: String) {
        #expect(ExactDecimal(text) == nil)
    }

    @Test func parseKeepsWrittenScale() throws {
        let value = try #require(ExactDecimal("1.50"))
        #expect(value.significand == 150 && value.scale == 2)
        let thousand = try #require(ExactDecimal("1e3"))
        #expect(thousand.significand == 1000 && thousand.scale == 0)
        let percent = try #require(ExactDecimal("1.5E-2"))
        #expect(percent.significand == 15 && percent.scale == 3)
    }

    @Test func parseFromBytes() {
        let bytes: [UInt8] = Array("12.75".utf8)
        #expect(bytes.withUnsafeBytes { ExactDecimal.parse($0) } == dec("12.75"))
        #expect([UInt8]().withUnsafeBytes { ExactDecimal.parse($0) } == nil)
    }

    @Test func codableAsString() throws {
        struct Line: Codable, Equatable { var amount: ExactDecimal }
        let encoded = try JSONEncoder().encode(Line(amount: dec("12.50")))
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"amount":"12.5"}"#)
        let decoded = try JSONDecoder().decode(Line.self, from: Data(#"{"amount":"0.00003"}"#.utf8))
        #expect(decoded.amount == dec("0.00003"))
        let integer = try JSONDecoder().decode(Line.self, from: Data(#"{"amount":42}"#.utf8))
        #expect(integer.amount == ExactDecimal(42))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Line.self, from: Data(#"{"amount":"1,5"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Line.self, from: Data(#"{"amount":0.1}"#.utf8)) }
    }

    @Test func descriptionIsAValidJSONNumberThatRoundTrips() throws {
        for text in ["0.1", "-123.456", "1e20", "7E-10", "-0.000001"] {
            let value = dec(text)
            #expect(ExactDecimal(value.description) == value)
            _ = try JSONSerialization.jsonObject(with: Data(value.description.utf8), options: [.fragmentsAllowed])
        }
    }
}
