import Foundation
import HourmeterCore
import HourmeterStore

/// What a subscription's open period costs so far, and what it will cost if usage goes on at
/// the same pace: the customer's "projected bill".
///
/// The period so far is rated exactly as the billing run would rate it (same usage reads, same
/// statement). The projection keeps the fees as they are, continues each usage line's amount in
/// proportion to the time (amount × period ÷ elapsed, rounded half-even to the currency), and
/// applies the minimum commitment to the result: an estimate, and labelled as one; tiers
/// reached later are not anticipated.
public struct BillingProjection: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    public struct Result: Sendable {
        public var period: BillingPeriod
        public var currency: Currency
        public var soFar: RatedStatement
        public var projectedTotal: ExactDecimal
        /// Usage by charge so far: (charge, quantity, amount so far, projected amount).
        public var usage: [(charge: String, quantity: ExactDecimal?, soFar: ExactDecimal, projected: ExactDecimal)]
    }

    public func project(tenantID: String, subscription: Subscription, atMicros: Int64) async throws -> Result? {
        guard subscription.startMicros < atMicros, subscription.endsAtMicros.map({ $0 > atMicros }) ?? true,
              let plan = try await store.plans.version(tenantID: tenantID, planKey: subscription.planKey, number: subscription.planVersion)?.version,
              let timeZone = TimeZone(identifier: subscription.timeZone) else { return nil }
        let calendar = BillingCalendar(interval: plan.interval, anchorMicros: subscription.anchorMicros, timeZone: timeZone)
        let period = calendar.period(containing: atMicros)
        let from = min(max(period.startMicros, subscription.startMicros, BillingRun.trialEnd(subscription, timeZone: timeZone)), atMicros)
        var cache = UsageCache(store: store, tenantID: tenantID, onlySubjects: subscription.devices)
        let usage = try await cache.usage(of: plan, devices: subscription.devices, fromMicros: from, toMicros: atMicros, timeZone: timeZone)
        let proration = from >= period.endMicros ? Proration(numerator: .zero, denominator: .one)!
            : calendar.proration(of: BillingPeriod(startMicros: from, endMicros: period.endMicros))
        let evidence = InvoiceEvidence(planKey: subscription.planKey, planVersion: subscription.planVersion, contractSHA256: "",
                                       period: period, usageFromMicros: from, proration: proration, slaTier: subscription.slaTier,
                                       timeZone: subscription.timeZone, usage: usage)
        let statement = try InvoiceComputation.statement(plan: plan, evidence: evidence)
        let elapsed = ExactDecimal(Int(max(1, (atMicros - from) / 1_000_000)))
        let remaining = ExactDecimal(Int(max(0, (period.endMicros - from) / 1_000_000)))
        // The projected subtotal is today's with each usage line continued; the commitment then
        // applies to it as it does to any statement. `statement.total` is the (prorated)
        // commitment when it topped today's subtotal up, and today's subtotal otherwise, which
        // the projection never falls below: so the larger of the two is the projected total.
        var projectedSubtotal = statement.subtotal
        var lines: [(String, ExactDecimal?, ExactDecimal, ExactDecimal)] = []
        for line in statement.lines where line.kind == .usage {
            let projected = try line.amount.multiplied(by: remaining).divided(by: elapsed, scale: plan.currency.minorUnits)
            projectedSubtotal = try projectedSubtotal.adding(projected.subtracting(line.amount))
            lines.append((line.charge, line.quantity, line.amount, projected))
        }
        return Result(period: period, currency: plan.currency, soFar: statement, projectedTotal: max(projectedSubtotal, statement.total), usage: lines)
    }
}
