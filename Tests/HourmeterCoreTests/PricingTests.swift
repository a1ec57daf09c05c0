import Foundation
import Testing
@testable import HourmeterCore

private func d(_ text: String) -> ExactDecimal {
    guard let value = ExactDecimal(text) else { fatalError("test literal \(text) did not parse") }
    return value
}

private func range(_ from: String, _ to: String?, _ perUnit: String, flat: String = "0") -> PriceRange {
    PriceRange(fromValue: d(from), toValue: to.map(d), perUnitAmount: d(perUnit), flatAmount: d(flat))
}

private func stepSum(_ charge: RatedCharge) throws -> ExactDecimal {
    var total = ExactDecimal.zero
    for step in charge.steps { total = try total.adding(step.amount) }
    return total
}

/// A worked example: `units` under the model must cost `expected`, computed by hand.
struct PricingExample: Sendable, CustomStringConvertible {
    let units: String
    let expected: String
    var description: String { "\(units) units → \(expected)" }
}

private func ex(_ units: String, _ expected: String) -> PricingExample { PricingExample(units: units, expected: expected) }

private func check(_ model: ChargeModel, _ example: PricingExample) throws {
    let charge = try model.rate(units: d(example.units))
    #expect(charge.amount == d(example.expected), "\(example)")
    #expect(try stepSum(charge) == charge.amount, "steps of \(example)")
}

/// Tiers used by the graduated and volume tables, written both ways plans write them.
private let adjoiningTiers = [range("0", "10", "1", flat: "5"), range("10", "20", "0.5", flat: "2"), range("20", nil, "0.1", flat: "1")]
private let steppedTiers = [range("0", "10", "1", flat: "5"), range("11", "20", "0.5", flat: "2"), range("21", nil, "0.1", flat: "1")]

@Suite struct PricingTests {
    // MARK: standard

    @Test(arguments: [
        ex("0", "0"),
        ex("1", "0.5"),
        ex("10", "5"),
        ex("2.5", "1.25"),
        ex("0.001", "0.0005"),
        ex("1000000000000", "500000000000"),
    ])
    func standard(_ example: PricingExample) throws {
        try check(.standard(d("0.5")), example)
    }

    @Test func standardKeepsSubCentPrecision() throws {
        let charge = try ChargeModel.standard(d("0.00003")).rate(units: ExactDecimal(1_234_567))
        #expect(charge.amount == d("37.03701"))
        #expect(charge.steps == [DecompositionStep(kind: "unit", description: "1234567 units at 0.00003 each",
                                                   quantity: ExactDecimal(1_234_567), rate: d("0.00003"), amount: d("37.03701"))])
    }

    // MARK: graduated
    // Tiers: (0,10] at 1 + flat 5 (charged even at 0), (10,20] at 0.5 + flat 2, above 20 at 0.1 + flat 1.

    static let graduatedExamples = [
        ex("0", "5"),            // only the first tier's flat amount
        ex("0.5", "5.5"),        // 0.5 × 1 + 5
        ex("10", "15"),          // exactly at the edge: tier 2 not entered
        ex("10.5", "17.25"),     // fractional: 15 + 0.5 × 0.5 + 2
        ex("11", "17.5"),        // just past: 15 + 1 × 0.5 + 2
        ex("20", "22"),          // 15 + 10 × 0.5 + 2
        ex("25", "23.5"),        // 22 + 5 × 0.1 + 1
        ex("1000000", "100021"), // 22 + 999980 × 0.1 + 1
    ]

    @Test(arguments: graduatedExamples)
    func graduatedAdjoining(_ example: PricingExample) throws {
        try check(.graduated(adjoiningTiers), example)
    }

    @Test(arguments: graduatedExamples)
    func graduatedSteppingOverIntegers(_ example: PricingExample) throws {
        try check(.graduated(steppedTiers), example)
    }

    @Test func graduatedDecompositionNamesEachTier() throws {
        let charge = try ChargeModel.graduated(steppedTiers).rate(units: ExactDecimal(11))
        #expect(charge.steps.map(\.kind) == ["tier", "flat", "tier", "flat"])
        #expect(charge.steps.map(\.quantity) == [ExactDecimal(10), .one, .one, .one])
        #expect(charge.steps.map(\.rate) == [ExactDecimal(1), ExactDecimal(5), d("0.5"), ExactDecimal(2)])
        #expect(charge.steps[2].description == "tier 2: units above 10 up to 20")
    }

    // MARK: volume
    // Same tiers; all units at the rate of the tier the total falls in, plus that tier's flat.

    static let volumeExamples = [
        ex("0", "5"),            // first tier's flat amount
        ex("10", "15"),          // at the edge: still tier 1, 10 × 1 + 5
        ex("10.5", "7.25"),      // fractional, past the edge: 10.5 × 0.5 + 2
        ex("11", "7.5"),         // 11 × 0.5 + 2
        ex("20", "12"),          // 20 × 0.5 + 2
        ex("21", "3.1"),         // 21 × 0.1 + 1
        ex("1000000", "100001"), // 1000000 × 0.1 + 1
    ]

    @Test(arguments: volumeExamples)
    func volumeAdjoining(_ example: PricingExample) throws {
        try check(.volume(adjoiningTiers), example)
    }

    @Test(arguments: volumeExamples)
    func volumeSteppingOverIntegers(_ example: PricingExample) throws {
        try check(.volume(steppedTiers), example)
    }

    // MARK: package
    // 3 per package of 10 units, first 5 units free: ceil((units − 5) / 10) × 3, never below 0.

    @Test(arguments: [
        ex("0", "0"),
        ex("3", "0"),             // free units larger than usage
        ex("5", "0"),             // exactly the free units
        ex("5.5", "3"),           // fractional: ceil(0.05) = 1
        ex("15", "3"),            // exactly one package
        ex("16", "6"),            // just past: 2 packages
        ex("1000005", "300000"),  // 100000 packages
        ex("1000006", "300003"),  // 100001 packages
    ])
    func package(_ example: PricingExample) throws {
        try check(.package(amount: d("3"), packageSize: d("10"), freeUnits: d("5")), example)
    }

    /// A fractional package size, where the half-even quotient is below the ceiling.
    @Test(arguments: [
        ex("0", "0"),
        ex("3.75", "1.5"),  // 1.5 packages → 2
        ex("5", "1.5"),     // exactly 2
        ex("5.1", "2.25"),  // 2.04 → 3
        ex("6.25", "2.25"), // 2.5 → 3 (half-even would say 2)
        ex("0.001", "0.75"),
    ])
    func packageOfFractionalSize(_ example: PricingExample) throws {
        try check(.package(amount: d("0.75"), packageSize: d("2.5"), freeUnits: .zero), example)
    }

    @Test func negativeUnitsAreZeroForTieredAndPackage() throws {
        #expect(try ChargeModel.graduated(adjoiningTiers).rate(units: d("-3")).amount == ExactDecimal(5))
        #expect(try ChargeModel.volume(adjoiningTiers).rate(units: d("-3")).amount == ExactDecimal(5))
        #expect(try ChargeModel.package(amount: .one, packageSize: .one, freeUnits: .zero).rate(units: d("-3")).amount == .zero)
        #expect(try ChargeModel.standard(d("2")).rate(units: d("-3")).amount == ExactDecimal(-6))
    }

    // MARK: currency

    @Test func currencyRoundsHalfEvenToMinorUnits() throws {
        let cny = try #require(Currency(code: "CNY"))
        let jpy = try #require(Currency(code: "JPY"))
        let kwd = try #require(Currency(code: "KWD"))
        #expect(try cny.round(d("1.005")) == d("1.00"))
        #expect(try cny.round(d("1.015")) == d("1.02"))
        #expect(try cny.round(d("1.0051")) == d("1.01"))
        #expect(try cny.round(d("-0.125")) == d("-0.12"))
        #expect(try jpy.round(d("2.5")) == ExactDecimal(2))
        #expect(try jpy.round(d("3.5")) == ExactDecimal(4))
        #expect(try kwd.round(d("1.0005")) == d("1.000"))
        #expect(try kwd.round(d("1.0015")).description == "1.002")
    }

    @Test func currencyTable() throws {
        let expected = ["CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "CHF": 2, "INR": 2,
                        "HKD": 2, "SGD": 2, "AUD": 2, "CAD": 2, "BHD": 3, "KWD": 3]
        for (code, minorUnits) in expected {
            #expect(Currency(code: code)?.minorUnits == minorUnits, "\(code)")
        }
        #expect(Currency(code: "usd")?.code == "USD")
        #expect(Currency(code: "XYZ") == nil)
        let usd = try #require(Currency(code: "USD"))
        let encoded = try JSONEncoder().encode([usd])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["USD"]"#)
        #expect(try JSONDecoder().decode([Currency].self, from: encoded) == [usd])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Currency].self, from: Data(#"["XYZ"]"#.utf8)) }
    }

    // MARK: validation

    private func validationError(_ ranges: [PriceRange]) -> PricingError? {
        do {
            _ = try ChargeModel.validated(ranges: ranges)
            return nil
        } catch {
            return error
        }
    }

    @Test func validRangesPass() throws {
        #expect(try ChargeModel.validated(ranges: adjoiningTiers) == adjoiningTiers)
        #expect(try ChargeModel.validated(ranges: steppedTiers) == steppedTiers)
        #expect(try ChargeModel.validated(ranges: [range("0", nil, "1")]).count == 1)
        // Both forms may be mixed, boundary by boundary.
        #expect(try ChargeModel.validated(ranges: [range("0", "10", "1"), range("10", "20", "1"), range("21", nil, "1")]).count == 3)
    }

    @Test func validationNamesTheField() {
        let base = "properties.graduated_ranges"
        #expect(validationError([])?.field == base)
        #expect(validationError([range("1", nil, "1")])?.field == "\(base)[0].from_value")
        #expect(validationError([range("0", "10", "1"), range("12", nil, "1")])?.field == "\(base)[1].from_value")   // gap
        #expect(validationError([range("0", "10", "1"), range("5", nil, "1")])?.field == "\(base)[1].from_value")    // overlap
        #expect(validationError([range("0", "10.5", "1"), range("11.5", nil, "1")])?.field == "\(base)[1].from_value") // not an integer step
        #expect(validationError([range("0", nil, "1"), range("10", nil, "1")])?.field == "\(base)[0].to_value")      // open-ended too early
        #expect(validationError([range("0", "10", "1")])?.field == "\(base)[0].to_value")                            // last closed
        #expect(validationError([range("0", "10", "1"), range("10", "10", "1"), range("10", nil, "1")])?.field == "\(base)[1].to_value")
        #expect(validationError([range("0", "10", "1"), range("10", nil, "-1")])?.field == "\(base)[1].per_unit_amount")
        #expect(validationError([range("0", "10", "1", flat: "-0.01"), range("10", nil, "1")])?.field == "\(base)[0].flat_amount")
        #expect(throws: PricingError(field: "properties.volume_ranges[0].from_value", reason: "the first range must start at 0, not 2")) {
            try ChargeModel.validated(ranges: [range("2", nil, "1")], field: "properties.volume_ranges")
        }
    }

    // MARK: parsing

    private func parse(_ model: String, _ json: String) throws(PricingError) -> ChargeModel {
        let object = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try ChargeModel.parse(model: model, properties: object)
    }

    private func parseError(_ model: String, _ json: String) -> PricingError? {
        do {
            _ = try parse(model, json)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesEachModel() throws {
        #expect(try parse("standard", #"{"amount": "0.00003"}"#) == .standard(d("0.00003")))
        #expect(try parse("graduated", """
            {"graduated_ranges": [
              {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "5"},
              {"from_value": "11", "to_value": 20, "per_unit_amount": "0.5", "flat_amount": "2"},
              {"from_value": 21, "to_value": null, "per_unit_amount": "0.1", "flat_amount": "1"}]}
            """) == .graduated(steppedTiers))
        #expect(try parse("volume", """
            {"volume_ranges": [
              {"from_value": 0, "to_value": 10.5, "per_unit_amount": "1"},
              {"from_value": 10.5, "per_unit_amount": "0.5"}]}
            """) == .volume([range("0", "10.5", "1"), range("10.5", nil, "0.5")]))
        #expect(try parse("package", #"{"amount": "3", "package_size": 10, "free_units": "5"}"#)
                == .package(amount: ExactDecimal(3), packageSize: ExactDecimal(10), freeUnits: ExactDecimal(5)))
        #expect(try parse("package", #"{"amount": "3", "package_size": 0.25}"#)
                == .package(amount: ExactDecimal(3), packageSize: d("0.25"), freeUnits: .zero))
    }

    @Test func parsesHandBuiltDictionaries() throws {
        #expect(try ChargeModel.parse(model: "package", properties: ["amount": "2", "package_size": 1, "free_units": 0.5])
                == .package(amount: ExactDecimal(2), packageSize: .one, freeUnits: d("0.5")))
        #expect(throws: PricingError.self) {
            try ChargeModel.parse(model: "package", properties: ["amount": "2", "package_size": 1, "free_units": true])
        }
    }

    @Test func parseErrorsNameTheField() {
        #expect(parseError("tiered", "{}")?.field == "model")
        #expect(parseError("standard", "{}")?.field == "properties.amount")
        #expect(parseError("standard", #"{"amount": 0.5}"#)?.field == "properties.amount")     // amounts are strings
        #expect(parseError("standard", #"{"amount": "abc"}"#)?.field == "properties.amount")
        #expect(parseError("standard", #"{"amount": "-1"}"#)?.field == "properties.amount")
        #expect(parseError("graduated", "{}")?.field == "properties.graduated_ranges")
        #expect(parseError("graduated", #"{"graduated_ranges": [{"from_value": 0, "per_unit_amount": "1"}, 3]}"#)?.field
                == "properties.graduated_ranges[1]")
        #expect(parseError("graduated", """
            {"graduated_ranges": [{"from_value": 0, "to_value": 10, "per_unit_amount": "1"},
                                  {"from_value": 15, "per_unit_amount": "1"}]}
            """)?.field == "properties.graduated_ranges[1].from_value")
        #expect(parseError("volume", #"{"volume_ranges": [{"from_value": true, "per_unit_amount": "1"}]}"#)?.field
                == "properties.volume_ranges[0].from_value")
        #expect(parseError("volume", #"{"volume_ranges": [{"from_value": 0}]}"#)?.field
                == "properties.volume_ranges[0].per_unit_amount")
        #expect(parseError("package", #"{"amount": "3"}"#)?.field == "properties.package_size")
        #expect(parseError("package", #"{"amount": "3", "package_size": 0}"#)?.field == "properties.package_size")
        #expect(parseError("package", #"{"amount": "3", "package_size": 1, "free_units": -1}"#)?.field == "properties.free_units")
        #expect(parseError("package", #"{"amount": "3", "package_size": 12345678901234567890}"#)?.field == "properties.package_size")
    }

    // MARK: properties

    /// Deterministic pseudo-random numbers (Knuth's MMIX LCG), so a failure reproduces.
    struct LCG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        mutating func below(_ bound: UInt64) -> Int { Int(next() % bound) }
        /// A decimal in [0, bound) with `scale` fractional digits.
        mutating func decimal(below bound: Int, scale: Int) -> ExactDecimal {
            let unit = Int128(1) * Int128(ExactDecimal.powerOfTen(scale))
            return try! ExactDecimal(significand: Int128(below(UInt64(bound) * UInt64(unit))), scale: scale)
        }
    }

    /// Random tiers as both plan forms: adjoining, and (where the boundary is an integer)
    /// stepping over it. Both must validate and price alike.
    private func randomTiers(_ random: inout LCG) throws -> (adjoining: [PriceRange], stepped: [PriceRange]) {
        let count = 1 + random.below(5)
        var adjoining: [PriceRange] = [], stepped: [PriceRange] = []
        var lower = ExactDecimal.zero
        var lowerIsInteger = true
        for index in 0..<count {
            let last = index == count - 1
            let width = try random.decimal(below: 50, scale: random.below(3)).adding(.one)
            let upper = last ? nil : try lower.adding(width)
            let perUnit = random.decimal(below: 10, scale: random.below(6))
            let flat = random.below(3) == 0 ? ExactDecimal.zero : random.decimal(below: 20, scale: 2)
            adjoining.append(PriceRange(fromValue: lower, toValue: upper, perUnitAmount: perUnit, flatAmount: flat))
            let steppedFrom = index > 0 && lowerIsInteger ? try lower.adding(.one) : lower
            stepped.append(PriceRange(fromValue: steppedFrom, toValue: upper, perUnitAmount: perUnit, flatAmount: flat))
            if let upper {
                lower = upper
                lowerIsInteger = upper.normalized.scale == 0
            }
        }
        return (try ChargeModel.validated(ranges: adjoining), try ChargeModel.validated(ranges: stepped))
    }

    @Test func graduatedNeverDecreasesAndStepsSumToAmount() throws {
        var random = LCG(state: 20_240_601)
        for plan in 0..<300 {
            let tiers = try randomTiers(&random)
            let models: [ChargeModel] = [
                .graduated(tiers.adjoining), .volume(tiers.adjoining),
                .package(amount: random.decimal(below: 10, scale: 2),
                         packageSize: try random.decimal(below: 20, scale: random.below(2)).adding(.one),
                         freeUnits: random.decimal(below: 30, scale: 0)),
                .standard(random.decimal(below: 5, scale: 5)),
            ]
            var usages = (0..<20).map { _ in random.decimal(below: 400, scale: random.below(3)) }
            usages.append(.zero)
            usages.sort()
            var previous: ExactDecimal?
            for units in usages {
                let graduated = try ChargeModel.graduated(tiers.adjoining).rate(units: units)
                let stepped = try ChargeModel.graduated(tiers.stepped).rate(units: units)
                #expect(graduated.amount == stepped.amount, "plan \(plan), \(units) units: the two forms disagree")
                if let previous {
                    #expect(graduated.amount >= previous, "plan \(plan): total fell at \(units) units")
                }
                previous = graduated.amount
                for model in models {
                    let charge = try model.rate(units: units)
                    #expect(try stepSum(charge) == charge.amount, "plan \(plan), \(model), \(units) units")
                    #expect(!charge.amount.isNegative)
                }
            }
        }
    }
}
