import ArgumentParser
import Foundation
import HourmeterCore

/// `hourmeter bench rate`: how fast the pure rating function turns usage into explained,
/// rounded lines, on one core (no I/O: the same code the invoices and previews run).
struct BenchRate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rate",
        abstract: "Rate synthetic subscriptions × 5 charges of mixed models on one core and print lines/s.")

    @Option(help: "Synthetic subscriptions; each has 5 charges.") var subscriptions = 200_000
    @Option(help: "Timed rounds per figure; the best round is reported.") var rounds = 3

    /// The five charges of every synthetic subscription: one per quantity model.
    static func charges() throws -> [PlanCharge] {
        func d(_ text: String) -> ExactDecimal { ExactDecimal(text)! }
        let tiers = [PriceRange(fromValue: .zero, toValue: d("100"), perUnitAmount: d("10"), flatAmount: d("50")),
                     PriceRange(fromValue: d("100"), toValue: d("1000"), perUnitAmount: d("8.5")),
                     PriceRange(fromValue: d("1000"), toValue: nil, perUnitAmount: d("7.25"), flatAmount: d("20"))]
        return [
            PlanCharge(key: "api_calls", meter: "api_calls", model: .standard(d("0.00003"))),
            PlanCharge(key: "run_hours", meter: "run_hours", model: .graduated(try ChargeModel.validated(ranges: tiers))),
            PlanCharge(key: "energy", meter: "energy_kwh", model: .volume(try ChargeModel.validated(ranges: tiers))),
            PlanCharge(key: "reports", meter: "reports", model: .package(amount: d("100"), packageSize: d("10"), freeUnits: d("5"))),
            PlanCharge(key: "financing", meter: "financed", model: .percentage(PercentageTerms(rate: d("1.3"), freeTotal: d("250")))),
        ]
    }

    func run() async throws {
        guard subscriptions > 0, rounds > 0 else { throw ValidationError("--subscriptions and --rounds must be positive") }
        let charges = try Self.charges()
        let currency = Currency(code: "CNY")!
        // Usage per subscription and charge, fixed by a seeded generator: 0–5000.xyz units.
        var state: UInt64 = 0x4855_4F55_524D_4554
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let usage: [ExactDecimal] = try (0..<(subscriptions * charges.count)).map { _ in
            try ExactDecimal(significand: Int128(next() % 5_000_000), scale: 3)
        }
        say("rating \(subscriptions) subscriptions × \(charges.count) charges (\(usage.count) lines), best of \(rounds) rounds, one core")

        func time(_ label: String, lines: Int, _ body: () throws -> ExactDecimal) rethrows -> Double {
            var best = Double.infinity
            var checksum = ExactDecimal.zero
            for _ in 0..<rounds {
                let start = ContinuousClock.now
                checksum = try body()
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                best = min(best, seconds)
            }
            let rate = Double(lines) / best
            say("  \(label.padding(toLength: 34, withPad: " ", startingAt: 0)) \(Int(rate).formatted()) lines/s  (sum \(checksum))")
            return rate
        }

        var perModel: [(String, Double)] = []
        for (index, charge) in charges.enumerated() {
            let rate = try time("\(charge.model.name) only", lines: subscriptions) {
                var sum = ExactDecimal.zero
                for subscription in 0..<subscriptions {
                    let line = try Rating.rateCharge(charge, usage: .total(usage[subscription * charges.count + index]), currency: currency)
                    sum = try sum.adding(line.amount)
                }
                return sum
            }
            perModel.append((charge.model.name, rate))
        }
        let mixed = try time("mixed, 5 charges per subscription", lines: usage.count) {
            var sum = ExactDecimal.zero
            for subscription in 0..<subscriptions {
                for (index, charge) in charges.enumerated() {
                    let line = try Rating.rateCharge(charge, usage: .total(usage[subscription * charges.count + index]), currency: currency)
                    sum = try sum.adding(line.amount)
                }
            }
            return sum
        }
        // Whole statements: the same five charges plus a fee and a commitment, through `Rating.rate`.
        let version = PlanVersion(currency: currency, interval: .month,
                                  recurringFees: [RecurringFee(key: "base_rental", amount: ExactDecimal(3000), timing: .inAdvance)],
                                  charges: charges, minimumCommitment: ExactDecimal(5000))
        func request(_ subscription: Int) -> RatingRequest {
            var request = RatingRequest(version: version, usage: [:])
            for (index, charge) in charges.enumerated() { request.usage[charge.key] = .total(usage[subscription * charges.count + index]) }
            return request
        }
        // A fee and five charges per statement, and a top-up line where the commitment is not met: counted, not assumed.
        var statementLines = 0
        for subscription in 0..<subscriptions { statementLines += try Rating.rate(request(subscription)).lines.count }
        let statements = try time("whole statements via Rating.rate", lines: statementLines) {
            var sum = ExactDecimal.zero
            for subscription in 0..<subscriptions { sum = try sum.adding(Rating.rate(request(subscription)).total) }
            return sum
        }
        let target = 1_000_000.0
        let core = perModel.filter { ["standard", "graduated", "volume"].contains($0.0) }
        let met = core.allSatisfy { $0.1 >= target }
        say("target ≥ \(Int(target).formatted()) lines/s on one core for standard, graduated and volume: \(met ? "met" : "NOT met") "
            + "(\(core.map { "\($0.0) \(Int($0.1).formatted())" }.joined(separator: ", ")); mixed \(Int(mixed).formatted()); statements \(Int(statements).formatted()) lines/s)")
    }
}
