import Foundation
import HourmeterCore
import HourmeterStore
import Logging

/// The billing cycle: closes every period that has ended, as drafts (recomputed on every run
/// while their grace lasts, so late events update them), and finalizes drafts whose grace has
/// ended. Runs for one tenant "as if the clock stood at" an instant, so the background loop,
/// `POST /api/v1/billing/run` and tests all run the same code.
///
/// A run reads in bulk and writes in batches: contracts, customers, plans and invoices once per
/// run; usage once per meter and period for all devices (one rollup read, split by subject);
/// drafts and finalizations a few hundred per transaction. Per subscription it only computes.
public struct BillingRun: Sendable {
    let store: Store
    /// How long a draft stays open for late events after its period ends.
    let graceMicros: Int64
    /// Most periods one run closes per subscription (a long history is billed over several runs).
    let maxPeriodsPerSubscription: Int
    let logger: Logger
    /// Invoices written per transaction.
    static let batchSize = 500

    public init(store: Store, graceSeconds: Int64, maxPeriodsPerSubscription: Int = 120, logger: Logger = Logger(label: "hourmeter.billing")) {
        self.store = store
        self.graceMicros = graceSeconds * 1_000_000
        self.maxPeriodsPerSubscription = maxPeriodsPerSubscription
        self.logger = logger
    }

    public struct Result: Sendable, Equatable {
        public var drafted = 0
        public var finalized = 0
        /// Subscriptions skipped because their contract is not signed by both parties yet.
        public var unsigned = 0
        /// Subscriptions that could not be billed this run (logged; retried on the next).
        public var failed = 0
        /// Revenue-share minimum top-ups posted for the month that ended last.
        public var minimumsSettled = 0
    }

    /// One period of one subscription to draft.
    struct Work {
        var subscription: Subscription
        var period: BillingPeriod
        var timeZone: TimeZone
        var existingID: String?
        /// Finalized earlier periods to check for late events (the latest `adjustmentLookback`).
        var priors: [Invoice]
        /// The plan each prior was billed under (from its evidence), by invoice id.
        var priorPlans: [String: PlanVersion] = [:]
        /// What earlier adjustments already billed, by the invoice they adjusted.
        var adjusted: [String: ExactDecimal]
        /// The parts of the period under one plan version each: one, or more when the plan
        /// changed within the period (fees prorated by the day of each part, usage rated per part).
        var segments: [Segment]
        /// The invoice names the contract in force at the period's end.
        var contract: Contract { segments[segments.count - 1].contract }
        var currency: Currency { segments[0].plan.currency }
    }

    /// A part of a period under one plan version and contract.
    struct Segment {
        var planKey: String
        var planVersion: Int
        var plan: PlanVersion
        var contract: Contract
        var period: BillingPeriod
        var usageFrom: Int64
        var proration: Proration
    }

    /// How many finalized periods back late events are looked for on each draft.
    static let adjustmentLookback = 3

    public func run(tenantID: String, atMicros: Int64) async throws -> Result {
        var result = Result()
        let works = try await plan(tenantID: tenantID, atMicros: atMicros, result: &result)
        var usage = UsageCache(store: store, tenantID: tenantID)
        var batch: [Invoice] = []
        for work in works {
            do {
                batch.append(try await draft(work, usage: &usage, atMicros: atMicros))
            } catch {
                // One subscription that cannot be billed (its usage exceeds a limit, its plan went
                // missing) must not stop the others: it is counted and logged, and retried.
                result.failed += 1
                logger.error("billing a subscription failed", metadata: ["subscription": "\(work.subscription.id)", "error": "\(error)"])
            }
            if batch.count >= Self.batchSize {
                try await store.billing.saveDrafts(tenantID: tenantID, batch)
                result.drafted += batch.count
                batch.removeAll(keepingCapacity: true)
            }
        }
        try await store.billing.saveDrafts(tenantID: tenantID, batch)
        result.drafted += batch.count
        // Revenue-share minimums are settled once a calendar month (UTC) has ended: every ended
        // month since the oldest rule (at most two years back), each once, even after a pause.
        let rules = try await store.revenueShares.rules(tenantID: tenantID).filter { $0.minimumPerPeriod > .zero }
        if let oldest = rules.map(\.createdAtMicros).min() {
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            let micros = { (date: Date) in Int64(date.timeIntervalSince1970) * 1_000_000 }
            let earliest = max(oldest, atMicros - 731 * 86_400_000_000)
            if var month = utc.dateInterval(of: .month, for: Date(timeIntervalSince1970: Double(earliest) / 1_000_000)) {
                while micros(month.end) <= atMicros {
                    result.minimumsSettled += try await store.revenueShares.settleMinimums(
                        tenantID: tenantID, monthStartMicros: micros(month.start), monthEndMicros: micros(month.end), atMicros: atMicros)
                    guard let next = utc.dateInterval(of: .month, for: month.end) else { break }
                    month = next
                }
            }
        }
        let due = try await store.billing.draftsDue(tenantID: tenantID, atMicros: atMicros).map(\.id)
        for start in stride(from: 0, to: due.count, by: Self.batchSize) {
            result.finalized += try await store.billing.finalizeAll(tenantID: tenantID, invoiceIDs: Array(due[start..<min(start + Self.batchSize, due.count)]),
                                                                    atMicros: atMicros, postings: { Self.postings(for: $0) })
        }
        return result
    }

    /// The closed, unfinalized periods of every signed subscription, from bulk reads.
    private func plan(tenantID: String, atMicros: Int64, result: inout Result) async throws -> [Work] {
        var subscriptions: [Subscription] = []
        var after: String?
        while true {
            let page = try await store.subscriptions.subscriptions(tenantID: tenantID, limit: 1_000, after: after)
            subscriptions += page
            guard let last = page.last, page.count == 1_000 else { break }
            after = last.id
        }
        guard !subscriptions.isEmpty else { return [] }
        let contracts = try await store.subscriptions.contracts(tenantID: tenantID)
        let phases = try await store.subscriptions.phases(tenantID: tenantID)
        var invoices: [String: [Invoice]] = [:]
        after = nil
        while true {
            let page = try await store.billing.invoices(tenantID: tenantID, subscriptionID: nil, limit: 1_000, after: after)
            for invoice in page { invoices[invoice.subscriptionID, default: []].append(invoice) }
            guard let last = page.last, page.count == 1_000 else { break }
            after = last.id
        }
        var plans: [String: PlanVersion] = [:]
        var works: [Work] = []
        // Late events can only concern a finalized period if a batch arrived after it was
        // finalized holding an event from before its end: one query tells which periods to recheck.
        let oldestFinalization = invoices.values.flatMap { list in
            list.filter { $0.state.status != .draft }.sorted { $0.period.startMicros < $1.period.startMicros }.suffix(Self.adjustmentLookback)
        }.compactMap(\.finalizedAtMicros).min()
        let lateEventsFrom = try await oldestFinalization.asyncMap { try await store.events.earliestEventReceived(tenantID: tenantID, afterMicros: $0) } ?? nil
        for subscription in subscriptions {
            guard let contract = contracts[subscription.contractID], contract.isActive else {
                result.unsigned += 1
                continue
            }
            let planID = "\(subscription.planKey)#\(subscription.planVersion)"
            if plans[planID] == nil {
                plans[planID] = try await store.plans.version(tenantID: tenantID, planKey: subscription.planKey, number: subscription.planVersion)?.version
            }
            guard let plan = plans[planID], let timeZone = TimeZone(identifier: subscription.timeZone) else {
                result.failed += 1
                continue
            }
            let calendar = BillingCalendar(interval: plan.interval, anchorMicros: subscription.anchorMicros, timeZone: timeZone)
            let existing = invoices[subscription.id] ?? []
            let finalizedStarts = Set(existing.filter { $0.state.status != .draft }.map(\.period.startMicros))
            // Resume after the last finalized period, so a long history is billed over several runs.
            let resume = existing.filter { $0.state.status != .draft }.map(\.period.endMicros).max() ?? subscription.startMicros
            let periods = calendar.closedPeriods(startMicros: max(resume, subscription.startMicros), endMicros: subscription.endsAtMicros,
                                                 untilMicros: atMicros, limit: maxPeriodsPerSubscription)
            let trialEnd = Self.trialEnd(subscription, timeZone: timeZone)
            let finalized = existing.filter { $0.state.status != .draft }.sorted { $0.period.startMicros < $1.period.startMicros }
            let adjusted = Self.adjustmentsBilled(finalized)
            // The plan in force over time: the first, then each change whose amendment both signed.
            var timeline: [(start: Int64, key: String, version: Int, contract: Contract)] =
                [(subscription.startMicros, subscription.planKey, subscription.planVersion, contract)]
            for phase in phases[subscription.id] ?? [] {
                guard let amendment = contracts[phase.contractID], amendment.isActive else { continue }
                timeline.append((phase.startsAtMicros, phase.planKey, phase.planVersion, amendment))
            }
            timeline.sort { $0.start < $1.start }
            var adjustmentsPlaced = false
            var missingPlan = false
            periods: for period in periods where !finalizedStarts.contains(period.startMicros) {
                var segments: [Segment] = []
                for (index, entry) in timeline.enumerated() {
                    let start = max(period.startMicros, entry.start)
                    let end = min(period.endMicros, index + 1 < timeline.count ? timeline[index + 1].start : period.endMicros)
                    guard start < end else { continue }
                    let id = "\(entry.key)#\(entry.version)"
                    if plans[id] == nil { plans[id] = try await store.plans.version(tenantID: tenantID, planKey: entry.key, number: entry.version)?.version }
                    // A plan version that went missing must not make a part free: the subscription fails and is retried.
                    guard let segmentPlan = plans[id] else {
                        missingPlan = true
                        break periods
                    }
                    let from = min(max(start, trialEnd), end)
                    segments.append(Segment(planKey: entry.key, planVersion: entry.version, plan: segmentPlan, contract: entry.contract,
                                            period: BillingPeriod(startMicros: start, endMicros: end), usageFrom: from,
                                            proration: from >= end ? Proration(numerator: .zero, denominator: .one)!
                                                : calendar.proration(of: BillingPeriod(startMicros: from, endMicros: end))))
                }
                guard !segments.isEmpty else { continue }
                // Late events of finalized periods go on the earliest open period only, so one
                // adjustment is never billed on several drafts of the same run.
                var priors: [Invoice] = []
                var priorPlans: [String: PlanVersion] = [:]
                if !adjustmentsPlaced, segments.count == 1 {
                    adjustmentsPlaced = true
                    for prior in finalized.filter({ $0.period.endMicros <= period.startMicros && $0.state.status != .void }).suffix(Self.adjustmentLookback)
                    where lateEventsFrom.map({ $0 < prior.period.endMicros }) ?? false {
                        guard let object = try? JSONSerialization.jsonObject(with: Data(prior.evidence.utf8)) as? [String: Any],
                              let key = object["plan_key"] as? String, let version = object["plan_version"] as? Int else { continue }
                        let id = "\(key)#\(version)"
                        if plans[id] == nil { plans[id] = try await store.plans.version(tenantID: tenantID, planKey: key, number: version)?.version }
                        guard let priorPlan = plans[id] else { continue }
                        priors.append(prior)
                        priorPlans[prior.id] = priorPlan
                    }
                }
                adjustmentsPlaced = true
                var work = Work(subscription: subscription, period: period, timeZone: timeZone,
                                existingID: existing.first { $0.period.startMicros == period.startMicros }?.id,
                                priors: priors, adjusted: adjusted, segments: segments)
                work.priorPlans = priorPlans
                works.append(work)
            }
            if missingPlan {
                result.failed += 1
                works.removeAll { $0.subscription.id == subscription.id }
                logger.error("a plan version of the subscription is missing", metadata: ["subscription": "\(subscription.id)"])
            }
        }
        return works
    }

    private func draft(_ work: Work, usage cache: inout UsageCache, atMicros: Int64) async throws -> Invoice {
        guard work.segments.count == 1 else { return try await draftSegments(work, usage: &cache, atMicros: atMicros) }
        let subscription = work.subscription, whole = work.segments[0]
        let usage = try await cache.usage(of: whole.plan, devices: subscription.devices, fromMicros: whole.usageFrom,
                                          toMicros: work.period.endMicros, timeZone: work.timeZone)
        let evidence = InvoiceEvidence(planKey: whole.planKey, planVersion: whole.planVersion, contractSHA256: whole.contract.sha256,
                                       period: work.period, usageFromMicros: whole.usageFrom, proration: whole.proration,
                                       slaTier: subscription.slaTier, timeZone: subscription.timeZone, usage: usage)
        let statement = try InvoiceComputation.statement(plan: whole.plan, evidence: evidence)
        var lines = statement.lines.map { InvoiceComputation.lineDocument($0, currency: whole.plan.currency, evidence: evidence) }
        var evidenceDocument = evidence.document
        var total = statement.total
        // Late events of finalized periods: what those periods cost now, less what was billed.
        var adjustments: [[String: Any]] = []
        for prior in work.priors {
            // Recomputed under the plan that period was billed under, with the usage the meters hold now.
            guard let priorPlan = work.priorPlans[prior.id],
                  let object = try? JSONSerialization.jsonObject(with: Data(prior.evidence.utf8)) as? [String: Any],
                  var recomputed = InvoiceEvidence(document: object) else { continue }
            recomputed.usage = try await cache.usage(of: priorPlan, devices: subscription.devices, fromMicros: recomputed.usageFromMicros,
                                                     toMicros: recomputed.period.endMicros, timeZone: work.timeZone)
            let billed = try prior.state.total.adding(work.adjusted[prior.id] ?? .zero)
            if let adjustment = try InvoiceComputation.adjustment(plan: priorPlan, recomputed: recomputed, invoiceID: prior.id,
                                                                   invoiceNumber: prior.number ?? prior.id, billed: billed) {
                lines.append(adjustment.line)
                adjustments.append(adjustment.evidence)
                total = try total.adding(adjustment.amount)
            }
        }
        if !adjustments.isEmpty { evidenceDocument["adjustments"] = adjustments }
        let linesJSON = Self.json(lines), evidenceJSON = Self.json(evidenceDocument)
        return Invoice(id: work.existingID ?? APIKeyMaterial.identifier("inv"), subscriptionID: subscription.id, customerID: subscription.customerID,
                       period: work.period, currency: work.currency, state: InvoiceLedgerState(total: total), number: nil,
                       lines: linesJSON, evidence: evidenceJSON, contractSHA256: work.contract.sha256,
                       graceUntilMicros: work.period.endMicros + graceMicros, createdAtMicros: atMicros, finalizedAtMicros: nil)
    }

    /// A period whose plan changed: each part rated under its own plan and contract, the lines
    /// marked with their part, the evidence kept per part.
    private func draftSegments(_ work: Work, usage cache: inout UsageCache, atMicros: Int64) async throws -> Invoice {
        let subscription = work.subscription
        var lines: [[String: Any]] = [], parts: [[String: Any]] = []
        var total = ExactDecimal.zero
        for (index, segment) in work.segments.enumerated() {
            let usage = try await cache.usage(of: segment.plan, devices: subscription.devices, fromMicros: segment.usageFrom,
                                              toMicros: segment.period.endMicros, timeZone: work.timeZone)
            let evidence = InvoiceEvidence(planKey: segment.planKey, planVersion: segment.planVersion, contractSHA256: segment.contract.sha256,
                                           period: segment.period, usageFromMicros: segment.usageFrom, proration: segment.proration,
                                           slaTier: subscription.slaTier, timeZone: subscription.timeZone, usage: usage)
            let statement = try InvoiceComputation.statement(plan: segment.plan, evidence: evidence)
            lines += statement.lines.map { line in
                var document = InvoiceComputation.lineDocument(line, currency: segment.plan.currency, evidence: evidence)
                document["segment"] = index
                document["plan"] = "\(segment.planKey) v\(segment.planVersion)"
                return document
            }
            parts.append(evidence.document)
            total = try total.adding(statement.total)
        }
        let evidenceDocument: [String: Any] = ["segments": parts, "period_start": RFC3339.format(microseconds: work.period.startMicros),
                                               "period_end": RFC3339.format(microseconds: work.period.endMicros)]
        return Invoice(id: work.existingID ?? APIKeyMaterial.identifier("inv"), subscriptionID: subscription.id, customerID: subscription.customerID,
                       period: work.period, currency: work.currency, state: InvoiceLedgerState(total: total), number: nil,
                       lines: Self.json(lines), evidence: Self.json(evidenceDocument), contractSHA256: work.contract.sha256,
                       graceUntilMicros: work.period.endMicros + graceMicros, createdAtMicros: atMicros, finalizedAtMicros: nil)
    }

    /// Sums the adjustments finalized invoices carry, by the invoice they adjusted (from their evidence).
    static func adjustmentsBilled(_ finalized: [Invoice]) -> [String: ExactDecimal] {
        var sums: [String: ExactDecimal] = [:]
        // A voided invoice's adjustments were never billed.
        for invoice in finalized where invoice.state.status != .void && invoice.evidence.contains("\"adjustments\"") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(invoice.evidence.utf8)) as? [String: Any],
                  let list = object["adjustments"] as? [[String: Any]] else { continue }
            for item in list {
                guard let id = item["invoice"] as? String, let amount = (item["amount"] as? String).flatMap(ExactDecimal.init) else { continue }
                sums[id] = (try? (sums[id] ?? .zero).adding(amount)) ?? amount
            }
        }
        return sums
    }

    /// The trial ends `trialDays` local days after the start.
    static func trialEnd(_ subscription: Subscription, timeZone: TimeZone) -> Int64 {
        guard subscription.trialDays > 0 else { return subscription.startMicros }
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = timeZone
        let start = Date(timeIntervalSince1970: Double(subscription.startMicros) / 1_000_000)
        guard let end = gregorian.date(byAdding: .day, value: subscription.trialDays, to: start) else { return subscription.startMicros }
        return Int64((end.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// What finalizing `invoice` posts: the receivable against revenue by stream.
    static func postings(for invoice: Invoice) -> [Posting] {
        guard let lines = try? JSONSerialization.jsonObject(with: Data(invoice.lines.utf8)) as? [[String: Any]] else { return [] }
        let code = invoice.currency.code
        var byAccount: [LedgerAccount: ExactDecimal] = [:]
        for line in lines {
            guard let amount = (line["amount"] as? String).flatMap(ExactDecimal.init), !amount.isZero else { continue }
            let kind = line["kind"] as? String
            let account: LedgerAccount = kind == "usage" || kind == "adjustment" ? .revenueUsage : .revenueSubscription
            byAccount[account] = (try? (byAccount[account] ?? .zero).adding(amount)) ?? amount
        }
        guard !invoice.state.total.isZero else { return [] }
        var postings = [Posting(.receivable, amount: invoice.state.total, currency: code)]
        for account in LedgerAccount.allCases { if let amount = byAccount[account] { postings.append(Posting(account, amount: amount.negated(), currency: code)) } }
        return postings
    }

    static func json(_ value: Any) -> String { JSONText.serialize(value) }
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// Usage of a run, read once per meter, range and granularity for all devices and split by
/// device, so ten thousand subscriptions cost a handful of rollup reads.
struct UsageCache {
    let store: Store
    let tenantID: String
    private var meters: [String: Meter]?
    /// (meter, from, to, hourly, zone) → subject → rows.
    private var rows: [String: [String: [UsageRow]]] = [:]

    /// Reads only these subjects' usage (one subscription's projection) instead of every
    /// subject's at once (a billing run, which serves all subscriptions from one read).
    let onlySubjects: [String]?

    init(store: Store, tenantID: String, onlySubjects: [String]? = nil) {
        self.store = store
        self.tenantID = tenantID
        self.onlySubjects = onlySubjects
    }

    /// Every charge's usage of `devices` in `[from, to)`; none when the range is empty (a trial).
    mutating func usage(of plan: PlanVersion, devices: [String], fromMicros: Int64, toMicros: Int64,
                        timeZone: TimeZone) async throws -> [String: ChargeUsage] {
        guard fromMicros < toMicros, !devices.isEmpty else { return [:] }
        var usage: [String: ChargeUsage] = [:]
        for charge in plan.charges {
            usage[charge.key] = try await self.usage(of: charge, devices: devices, fromMicros: fromMicros, toMicros: toMicros, timeZone: timeZone)
        }
        return usage
    }

    /// A charge's usage of `devices`: per hour when the charge has time-of-use windows, per
    /// device state when the meter records one, else a total; the events themselves for charges
    /// priced per event. States outside the device-state list count without a state (×1).
    mutating func usage(of charge: PlanCharge, devices: [String], fromMicros: Int64, toMicros: Int64, timeZone: TimeZone) async throws -> ChargeUsage {
        if meters == nil {
            meters = Dictionary(uniqueKeysWithValues: try await store.meters.meters(tenantID: tenantID).map { ($0.definition.slug, $0) })
        }
        guard let meter = meters?[charge.meter] else { return .none }
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
        let key = "\(meter.id)|\(fromMicros)|\(toMicros)|\(hourly)|\(hourly ? timeZone.identifier : "")"
        if rows[key] == nil {
            let from = fromMicros / 1_000_000, to = toMicros / 1_000_000
            let windows = try WindowPlan(from: from, to: to, size: hourly ? .hour : nil, timeZone: timeZone, maxWindows: 100_000)
            let all = try await store.events.usage(meter: meter, query: UsageQuery(
                fromSeconds: from, toSeconds: to, windows: windows, subjects: onlySubjects ?? [], groupBy: hasState ? ["subject", "state"] : ["subject"],
                filterGroupBy: [:]))
            rows[key] = Dictionary(grouping: all, by: { $0.subject ?? "" })
        }
        let slices = devices.flatMap { rows[key]?[$0] ?? [] }.map { row -> UsageSlice in
            let state = (row.groupBy["state"] ?? nil).flatMap { DeviceState.known.contains($0) ? $0 : nil }
            return UsageSlice(quantity: row.value, state: state, startMicros: hourly ? row.windowStart * 1_000_000 : nil)
        }
        if hourly || hasState { return .windows(slices) }
        var total = ExactDecimal.zero
        for slice in slices { total = try total.adding(slice.quantity) }
        return .total(total)
    }
}
