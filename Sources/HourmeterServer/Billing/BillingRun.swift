import Foundation
import HourmeterCore
import HourmeterStore
import Logging

/// The billing cycle: closes every period that has ended, as drafts (recomputed on every run
/// while their grace lasts, so late events update them), and finalizes drafts whose grace has
/// ended. Runs for one tenant "as if the clock stood at" an instant, so the background loop,
/// `POST /api/v1/billing/run` and tests all run the same code.
public struct BillingRun: Sendable {
    let store: Store
    /// How long a draft stays open for late events after its period ends.
    let graceMicros: Int64
    /// Most periods one run closes per subscription (back-filling years is several runs).
    let maxPeriodsPerSubscription: Int
    let logger: Logger

    public init(store: Store, graceSeconds: Int64, maxPeriodsPerSubscription: Int = 120, logger: Logger = Logger(label: "hourmeter.billing")) {
        self.store = store
        self.logger = logger
        self.graceMicros = graceSeconds * 1_000_000
        self.maxPeriodsPerSubscription = maxPeriodsPerSubscription
    }

    public struct Result: Sendable, Equatable {
        public var drafted = 0
        public var finalized = 0
        /// Subscriptions skipped because their contract is not signed by both parties yet.
        public var unsigned = 0
        /// Subscriptions that could not be billed this run (logged; retried on the next).
        public var failed = 0
    }

    public func run(tenantID: String, atMicros: Int64) async throws -> Result {
        var result = Result()
        var after: String?
        while true {
            let page = try await store.subscriptions.subscriptions(tenantID: tenantID, limit: 500, after: after)
            for subscription in page {
                // One subscription that cannot be billed (its usage exceeds a limit, its plan
                // went missing) must not stop the others: it is counted and logged, and retried.
                do {
                    result.drafted += try await draft(subscription, tenantID: tenantID, atMicros: atMicros, unsigned: &result.unsigned)
                } catch {
                    result.failed += 1
                    logger.error("billing a subscription failed", metadata: ["subscription": "\(subscription.id)", "error": "\(error)"])
                }
            }
            guard let last = page.last, page.count == 500 else { break }
            after = last.id
        }
        for draft in try await store.billing.draftsDue(tenantID: tenantID, atMicros: atMicros) {
            let finalized = try await store.billing.finalize(tenantID: tenantID, invoiceID: draft.id, atMicros: atMicros,
                                                             postings: { Self.postings(for: $0) })
            if finalized.finalizedAtMicros == atMicros { result.finalized += 1 }
        }
        return result
    }

    /// Drafts (or revises) the subscription's closed, unfinalized periods; returns how many.
    private func draft(_ subscription: Subscription, tenantID: String, atMicros: Int64, unsigned: inout Int) async throws -> Int {
        guard let contract = try await store.subscriptions.contract(tenantID: tenantID, id: subscription.contractID), contract.isActive else {
            unsigned += 1
            return 0
        }
        guard let published = try await store.plans.version(tenantID: tenantID, planKey: subscription.planKey, number: subscription.planVersion),
              let customer = try await store.customers.customer(tenantID: tenantID, id: subscription.customerID),
              let timeZone = TimeZone(identifier: subscription.timeZone) else { return 0 }
        let plan = published.version
        let calendar = BillingCalendar(interval: plan.interval, anchorMicros: subscription.anchorMicros, timeZone: timeZone)
        let existing = try await store.billing.invoices(tenantID: tenantID, subscriptionID: subscription.id, limit: 1_000, after: nil)
        let finalizedStarts = Set(existing.filter { $0.state.status != .draft }.map(\.period.startMicros))
        // Resume after the last finalized period, so a long history is billed over several runs.
        let resume = existing.filter { $0.state.status != .draft }.map(\.period.endMicros).max() ?? subscription.startMicros
        let periods = calendar.closedPeriods(startMicros: max(resume, subscription.startMicros), endMicros: subscription.endsAtMicros,
                                             untilMicros: atMicros, limit: maxPeriodsPerSubscription)
        guard !periods.isEmpty else { return 0 }
        let trialEnd = Self.trialEnd(subscription, calendar: calendar)
        var drafted = 0
        for period in periods where !finalizedStarts.contains(period.startMicros) {
            let usageFrom = min(max(period.startMicros, trialEnd), period.endMicros)
            let proration = usageFrom >= period.endMicros ? Proration(numerator: .zero, denominator: .one)!
                : calendar.proration(of: BillingPeriod(startMicros: usageFrom, endMicros: period.endMicros))
            var usage: [String: ChargeUsage] = [:]
            if usageFrom < period.endMicros {
                for charge in plan.charges {
                    usage[charge.key] = try await self.usage(of: charge, tenantID: tenantID, devices: subscription.devices,
                                                             fromMicros: usageFrom, toMicros: period.endMicros, timeZone: timeZone)
                }
            }
            let evidence = InvoiceEvidence(planKey: subscription.planKey, planVersion: subscription.planVersion, contractSHA256: contract.sha256,
                                           period: period, usageFromMicros: usageFrom, proration: proration,
                                           slaTier: subscription.slaTier, timeZone: subscription.timeZone, usage: usage)
            let statement = try InvoiceComputation.statement(plan: plan, evidence: evidence)
            let lines = statement.lines.map { InvoiceComputation.lineDocument($0, currency: plan.currency, evidence: evidence) }
            let invoice = Invoice(
                id: existing.first { $0.period.startMicros == period.startMicros }?.id ?? APIKeyMaterial.identifier("inv"),
                subscriptionID: subscription.id, customerID: customer.id, period: period, currency: plan.currency,
                state: InvoiceLedgerState(total: statement.total), number: nil, lines: Self.json(lines), evidence: Self.json(evidence.document),
                contractSHA256: contract.sha256, graceUntilMicros: period.endMicros + graceMicros, createdAtMicros: atMicros, finalizedAtMicros: nil)
            _ = try await store.billing.saveDraft(tenantID: tenantID, invoice)
            drafted += 1
        }
        return drafted
    }

    /// The trial ends `trialDays` local days after the start.
    static func trialEnd(_ subscription: Subscription, calendar: BillingCalendar) -> Int64 {
        guard subscription.trialDays > 0 else { return subscription.startMicros }
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = calendar.timeZone
        let start = Date(timeIntervalSince1970: Double(subscription.startMicros) / 1_000_000)
        guard let end = gregorian.date(byAdding: .day, value: subscription.trialDays, to: start) else { return subscription.startMicros }
        return Int64((end.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// A charge's usage of the covered devices from the meter's rollups: per hour when the
    /// charge has time-of-use windows, per device state when the meter records one, else a total.
    /// States outside the device-state list are kept as usage without a state (×1).
    private func usage(of charge: PlanCharge, tenantID: String, devices: [String], fromMicros: Int64, toMicros: Int64,
                       timeZone: TimeZone) async throws -> ChargeUsage {
        guard !devices.isEmpty, let meter = try await store.meters.meter(tenantID: tenantID, slug: charge.meter) else { return .none }
        if charge.model.needsEvents {
            // Priced event by event: read the events themselves, not their rollups.
            let events = try await store.events.meterEvents(meter: meter, subjects: devices, fromMicros: fromMicros, toMicros: toMicros,
                                                            limit: ChargeUsage.maxSlices)
            return .events(events.map { event in
                var event = event
                if let state = event.state, !DeviceState.known.contains(state) { event.state = nil }
                return event
            })
        }
        let hasState = meter.definition.groupBy.contains { $0.name == "state" }
        let hourly = !charge.adjustments.timeOfUse.isEmpty
        let from = fromMicros / 1_000_000, to = toMicros / 1_000_000
        let windows = try WindowPlan(from: from, to: to, size: hourly ? .hour : nil, timeZone: timeZone, maxWindows: 100_000)
        let rows = try await store.events.usage(meter: meter, query: UsageQuery(
            fromSeconds: from, toSeconds: to, windows: windows, subjects: devices, groupBy: hasState ? ["state"] : [], filterGroupBy: [:]))
        let slices = rows.map { row -> UsageSlice in
            let state = (row.groupBy["state"] ?? nil).flatMap { DeviceState.known.contains($0) ? $0 : nil }
            return UsageSlice(quantity: row.value, state: state, startMicros: hourly ? row.windowStart * 1_000_000 : nil)
        }
        if hourly || hasState { return .windows(slices) }
        var total = ExactDecimal.zero
        for slice in slices { total = try total.adding(slice.quantity) }
        return .total(total)
    }

    /// What finalizing `invoice` posts: the receivable against revenue by stream.
    static func postings(for invoice: Invoice) -> [Posting] {
        guard let lines = try? JSONSerialization.jsonObject(with: Data(invoice.lines.utf8)) as? [[String: Any]] else { return [] }
        let code = invoice.currency.code
        var byAccount: [LedgerAccount: ExactDecimal] = [:]
        var total = ExactDecimal.zero
        for line in lines {
            guard let amount = (line["amount"] as? String).flatMap(ExactDecimal.init), !amount.isZero else { continue }
            let account: LedgerAccount = line["kind"] as? String == "usage" ? .revenueUsage : .revenueSubscription
            byAccount[account] = (try? (byAccount[account] ?? .zero).adding(amount)) ?? amount
            total = (try? total.adding(amount)) ?? total
        }
        guard !total.isZero else { return [] }
        var postings = [Posting(.receivable, amount: total, currency: code)]
        for account in LedgerAccount.allCases { if let amount = byAccount[account] { postings.append(Posting(account, amount: amount.negated(), currency: code)) } }
        return postings
    }

    static func json(_ value: Any) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8),
               as: UTF8.self)
    }
}
