import Foundation
import HourmeterCore
import HourmeterStore

/// `hourmeter ledger verify`: walks every tenant's hash chain, checks each entry balances,
/// and recomputes every finalized invoice from its stored evidence under the terms of the
/// contract it names. The first discrepancy is reported; nothing is changed.
public struct LedgerVerification: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    public struct Report: Sendable, Equatable {
        public var entries = 0
        public var invoices = 0
        /// The first problem found, or nil when everything holds.
        public var discrepancy: String?
    }

    /// Checks `tenants`, or every tenant with a ledger or subscriptions when nil.
    public func run(tenants only: [String]? = nil) async throws -> Report {
        var report = Report()
        var tenants = Set(try await store.billing.tenantsWithLedger())
        tenants.formUnion(try await store.subscriptions.tenantsWithSubscriptions())
        if let only { tenants = Set(only) }
        for tenantID in tenants.sorted() {
            let entries = try await store.billing.ledger(tenantID: tenantID)
            report.entries += entries.count
            if let problem = LedgerChain.firstDiscrepancy(entries) {
                report.discrepancy = "tenant \(tenantID): \(problem)"
                return report
            }
            let finalizedTotals = Dictionary(entries.filter { $0.kind == "invoice.finalized" }.map { entry in
                (entry.reference, entry.postings.first { $0.account == LedgerAccount.receivable.rawValue }?.amount ?? .zero)
            }, uniquingKeysWith: { first, _ in first })
            var after: String?
            var contracts = Contracts(all: try await store.subscriptions.contracts(tenantID: tenantID))
            let subscriptionIDs = Set(contracts.bySHA.values.map(\.subscriptionID))
            while true {
                let page = try await store.billing.invoices(tenantID: tenantID, subscriptionID: nil, limit: 500, after: after)
                for invoice in page where invoice.state.status != .draft {
                    report.invoices += 1
                    if let problem = try await check(invoice, tenantID: tenantID, postedTotal: finalizedTotals[invoice.id], contracts: &contracts,
                                                     subscriptionExists: subscriptionIDs.contains(invoice.subscriptionID)) {
                        report.discrepancy = "tenant \(tenantID), invoice \(invoice.number ?? invoice.id): \(problem)"
                        return report
                    }
                }
                guard let last = page.last, page.count == 500 else { break }
                after = last.id
            }
        }
        return report
    }

    /// The tenant's contracts by hash, and the plan terms of each, read once per contract.
    struct Contracts {
        let bySHA: [String: Contract]
        var plans: [String: PlanVersion?] = [:]

        init(all: [String: Contract]) {
            bySHA = Dictionary(all.values.map { ($0.sha256, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// The contract with this hash and the plan terms it signed (nil terms when its document
    /// no longer matches its hash).
    private func contract(sha256: String, tenantID: String, contracts: inout Contracts) async throws -> (Contract, PlanVersion?)? {
        guard let summary = contracts.bySHA[sha256] else { return nil }
        if contracts.plans[sha256] == nil {
            let full = try await store.subscriptions.contract(tenantID: tenantID, id: summary.id)
            contracts.plans[sha256] = .some(full.flatMap(Self.plan(of:)))
        }
        return (summary, contracts.plans[sha256] ?? nil)
    }

    private func check(_ invoice: Invoice, tenantID: String, postedTotal: ExactDecimal?, contracts: inout Contracts,
                       subscriptionExists: Bool) async throws -> String? {
        // Every subscription has a contract, so the tenant's contracts name its subscriptions: no read per invoice.
        guard subscriptionExists else { return "its subscription is missing" }
        guard let evidenceObject = try? JSONSerialization.jsonObject(with: Data(invoice.evidence.utf8)) as? [String: Any] else {
            return "its evidence does not read"
        }
        if let parts = evidenceObject["segments"] as? [[String: Any]] {
            return try await checkSegments(invoice, parts: parts, tenantID: tenantID, postedTotal: postedTotal, contracts: &contracts)
        }
        guard let (named, terms) = try await self.contract(sha256: invoice.contractSHA256, tenantID: tenantID, contracts: &contracts),
              named.subscriptionID == invoice.subscriptionID else {
            return "it names contract \(invoice.contractSHA256), which is not one of its subscription's"
        }
        guard let plan = terms else { return "its contract's plan terms do not read, or its document no longer matches its hash" }
        guard let evidence = InvoiceEvidence(document: evidenceObject) else { return "its evidence does not read" }
        let statement: RatedStatement
        do { statement = try InvoiceComputation.statement(plan: plan, evidence: evidence) } catch {
            return "its evidence does not rate: \(error)"
        }
        // Adjustments for late events of earlier periods: each recomputed from its own evidence.
        var total = statement.total
        var adjustmentAmounts: [ExactDecimal] = []
        for item in evidenceObject["adjustments"] as? [[String: Any]] ?? [] {
            guard let id = item["invoice"] as? String, let number = item["number"] as? String,
                  let billed = (item["billed"] as? String).flatMap(ExactDecimal.init),
                  let recorded = (item["amount"] as? String).flatMap(ExactDecimal.init),
                  let recomputedObject = item["evidence"] as? [String: Any], let recomputed = InvoiceEvidence(document: recomputedObject) else {
                return "an adjustment's evidence does not read"
            }
            // Under the plan of the contract the adjusted period was billed under.
            guard let (_, priorTerms) = try await self.contract(sha256: recomputed.contractSHA256, tenantID: tenantID, contracts: &contracts),
                  let priorPlan = priorTerms else { return "the adjustment of \(number) names a contract that is missing or changed" }
            let amount: ExactDecimal
            do {
                amount = try InvoiceComputation.adjustment(plan: priorPlan, recomputed: recomputed, invoiceID: id, invoiceNumber: number, billed: billed)?.amount ?? .zero
            } catch { return "an adjustment's evidence does not rate: \(error)" }
            guard amount == recorded else { return "the adjustment of \(number) recomputes to \(amount), recorded \(recorded)" }
            adjustmentAmounts.append(amount)
            total = (try? total.adding(amount)) ?? total
        }
        guard total == invoice.state.total else {
            return "recomputed total \(plan.currency.format(total)) differs from the stored \(plan.currency.format(invoice.state.total))"
        }
        let stored = (try? JSONSerialization.jsonObject(with: Data(invoice.lines.utf8)) as? [[String: Any]]) ?? []
        guard stored.count == statement.lines.count + adjustmentAmounts.count else {
            return "it stores \(stored.count) lines; its evidence gives \(statement.lines.count + adjustmentAmounts.count)"
        }
        for (offset, amount) in adjustmentAmounts.enumerated() {
            let line = stored[statement.lines.count + offset]
            guard (line["amount"] as? String).flatMap(ExactDecimal.init) == amount else {
                return "adjustment line \(statement.lines.count + offset) does not match its evidence"
            }
        }
        for (index, line) in statement.lines.enumerated() {
            let amount = (stored[index]["amount"] as? String).flatMap(ExactDecimal.init)
            guard amount == line.amount, stored[index]["charge"] as? String == line.charge else {
                return "line \(index) (\(line.charge)) recomputes to \(plan.currency.format(line.amount)), stored \(stored[index]["amount"] ?? "nothing")"
            }
        }
        return Self.checkPosted(invoice, postedTotal: postedTotal, currency: plan.currency)
    }

    /// The plan terms a contract signed, when its document still matches its hash.
    static func plan(of contract: Contract) -> PlanVersion? {
        guard ContractSignature.sha256(Data(contract.document.utf8)) == contract.sha256,
              let document = try? JSONSerialization.jsonObject(with: Data(contract.document.utf8)) as? [String: Any],
              let terms = (document["plan"] as? [String: Any])?["terms"] else { return nil }
        return try? PlanVersion.parse(terms)
    }

    /// An invoice whose plan changed within its period: each part under the contract it names.
    private func checkSegments(_ invoice: Invoice, parts: [[String: Any]], tenantID: String, postedTotal: ExactDecimal?,
                               contracts: inout Contracts) async throws -> String? {
        var total = ExactDecimal.zero
        var amounts: [ExactDecimal] = []
        for (index, part) in parts.enumerated() {
            guard let evidence = InvoiceEvidence(document: part) else { return "part \(index) of its evidence does not read" }
            guard let (contract, terms) = try await contract(sha256: evidence.contractSHA256, tenantID: tenantID, contracts: &contracts),
                  contract.subscriptionID == invoice.subscriptionID, let plan = terms else {
                return "part \(index) names a contract that is missing or no longer matches its hash"
            }
            let statement: RatedStatement
            do { statement = try InvoiceComputation.statement(plan: plan, evidence: evidence) } catch { return "part \(index) does not rate: \(error)" }
            total = (try? total.adding(statement.total)) ?? total
            amounts += statement.lines.map(\.amount)
        }
        guard total == invoice.state.total else {
            return "recomputed total \(invoice.currency.format(total)) differs from the stored \(invoice.currency.format(invoice.state.total))"
        }
        let stored = (try? JSONSerialization.jsonObject(with: Data(invoice.lines.utf8)) as? [[String: Any]]) ?? []
        guard stored.map({ ($0["amount"] as? String).flatMap(ExactDecimal.init) }) == amounts.map({ Optional($0) }) else {
            return "its lines do not match what their evidence gives"
        }
        return Self.checkPosted(invoice, postedTotal: postedTotal, currency: invoice.currency)
    }

    /// What finalization posted as receivable must be the invoice's total.
    static func checkPosted(_ invoice: Invoice, postedTotal: ExactDecimal?, currency: Currency) -> String? {
        guard invoice.state.total > .zero else { return nil }
        guard let posted = postedTotal else { return "it was never posted to the ledger" }
        guard posted == invoice.state.total else {
            return "the ledger posted \(currency.format(posted)) as receivable, the invoice totals \(currency.format(invoice.state.total))"
        }
        return nil
    }
}
