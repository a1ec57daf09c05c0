import Foundation
import HourmeterCore
import SQLKit

public protocol RevenueShareStore: Sendable {
    func createRule(tenantID: String, _ rule: RevenueShareRule, nowMicros: Int64) async throws
    func rules(tenantID: String) async throws -> [RevenueShareRule]
    /// Posts each rule's minimum-guarantee top-up for the month `[start, end)` once: the shares
    /// posted in the month are summed from the ledger; a month already settled is skipped.
    /// Returns the number of top-ups posted.
    func settleMinimums(tenantID: String, monthStartMicros: Int64, monthEndMicros: Int64, atMicros: Int64) async throws -> Int
}

struct SQLRevenueShareStore: RevenueShareStore {
    let backend: any SQLBackend

    func createRule(tenantID: String, _ rule: RevenueShareRule, nowMicros: Int64) async throws {
        try await backend.transaction { db in
            // One rule per party and currency: the shares of two could not be told apart.
            if try await db.raw("""
                SELECT id FROM revenue_share_rules WHERE tenant_id = \(bind: tenantID) AND party = \(bind: rule.party) AND currency = \(bind: rule.currency.code)
                """).first() != nil {
                throw CustomerStoreError.duplicate("a revenue share for \(rule.party) in \(rule.currency.code)")
            }
            try await db.raw("""
                INSERT INTO revenue_share_rules (id, tenant_id, party, percent, minimum_per_period, currency, created_at)
                VALUES (\(bind: rule.id), \(bind: tenantID), \(bind: rule.party), \(bind: rule.percent.description),
                        \(bind: rule.minimumPerPeriod.description), \(bind: rule.currency.code), \(bind: nowMicros))
                """).run()
        }
    }

    func rules(tenantID: String) async throws -> [RevenueShareRule] {
        try await backend.read { db in try await Self.rules(tenantID: tenantID, on: db) }
    }

    static func rules(tenantID: String, on db: any SQLDatabase) async throws -> [RevenueShareRule] {
        try await db.raw("SELECT * FROM revenue_share_rules WHERE tenant_id = \(bind: tenantID) ORDER BY id").all().compactMap { row in
            guard let percent = ExactDecimal(try row.decode(column: "percent", as: String.self)),
                  let minimum = ExactDecimal(try row.decode(column: "minimum_per_period", as: String.self)),
                  let currency = Currency(code: try row.decode(column: "currency", as: String.self)) else { return nil }
            return RevenueShareRule(id: try row.decode(column: "id", as: String.self), party: try row.decode(column: "party", as: String.self),
                                    percent: percent, minimumPerPeriod: minimum, currency: currency,
                                    createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
        }
    }

    func settleMinimums(tenantID: String, monthStartMicros: Int64, monthEndMicros: Int64, atMicros: Int64) async throws -> Int {
        let engine = backend.engine
        return try await backend.transaction { db in
            try await SQLBillingStore.lockTenant(tenantID, engine: engine, on: db)
            var posted = 0
            // A month that ended before the rule existed owes nothing.
            for rule in try await Self.rules(tenantID: tenantID, on: db) where rule.minimumPerPeriod > .zero && rule.createdAtMicros < monthEndMicros {
                let settled = try await db.raw("""
                    INSERT INTO revenue_share_settlements (rule_id, period_start, settled_at) VALUES (\(bind: rule.id), \(bind: monthStartMicros), \(bind: atMicros))
                    ON CONFLICT DO NOTHING RETURNING rule_id
                    """).first()
                guard settled != nil else { continue }
                var shared = ExactDecimal.zero
                for row in try await db.raw("""
                    SELECT postings FROM ledger_entries WHERE tenant_id = \(bind: tenantID) AND kind = 'revenue_share'
                    AND at >= \(bind: monthStartMicros) AND at < \(bind: monthEndMicros)
                    """).all() {
                    let text = try row.decode(column: "postings", as: String.self)
                    let list = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: String]] ?? []
                    for item in list where item["account"] == LedgerAccount.revenueShares.rawValue && item["party"] == rule.party
                        && item["currency"] == rule.currency.code {
                        shared = try shared.adding(ExactDecimal(item["amount"] ?? "") ?? .zero)
                    }
                }
                let topUp = try rule.topUp(sharedInPeriod: shared)
                guard topUp > .zero else { continue }
                try await SQLBillingStore.append(kind: "revenue_share.minimum", reference: "\(rule.id)@\(RFC3339.format(microseconds: monthStartMicros))",
                                                 postings: rule.postings(topUp), tenantID: tenantID, atMicros: atMicros, on: db)
                posted += 1
            }
            return posted
        }
    }
}
