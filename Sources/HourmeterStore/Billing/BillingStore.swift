import Foundation
import HourmeterCore
import SQLKit

/// An invoice as stored. `lines` and `evidence` are JSON documents: the lines with their
/// decompositions, and what they were computed from (for `ledger verify`).
public struct Invoice: Sendable, Equatable {
    public var id: String
    public var subscriptionID: String
    public var customerID: String
    public var period: BillingPeriod
    public var currency: Currency
    public var state: InvoiceLedgerState
    /// Gapless per tenant, given at finalization ("INV-000001").
    public var number: String?
    public var lines: String
    public var evidence: String
    public var contractSHA256: String
    public var graceUntilMicros: Int64
    public var createdAtMicros: Int64
    public var finalizedAtMicros: Int64?

    public init(id: String, subscriptionID: String, customerID: String, period: BillingPeriod, currency: Currency, state: InvoiceLedgerState,
                number: String?, lines: String, evidence: String, contractSHA256: String, graceUntilMicros: Int64, createdAtMicros: Int64,
                finalizedAtMicros: Int64?) {
        self.id = id
        self.subscriptionID = subscriptionID
        self.customerID = customerID
        self.period = period
        self.currency = currency
        self.state = state
        self.number = number
        self.lines = lines
        self.evidence = evidence
        self.contractSHA256 = contractSHA256
        self.graceUntilMicros = graceUntilMicros
        self.createdAtMicros = createdAtMicros
        self.finalizedAtMicros = finalizedAtMicros
    }
}

public enum BillingStoreError: Error, Sendable, Equatable {
    case noSuchInvoice(String)
    case transition(InvoiceTransitionError)
    case currencyMismatch(expected: String, got: String)
    case ledger(LedgerError)
}

/// What changes an invoice after finalization, and how each posts to the ledger.
public enum InvoiceChange: Sendable, Equatable {
    case payment(ExactDecimal)
    case credit(ExactDecimal, reason: String)
    case void(reason: String)
}

public protocol BillingStore: Sendable {
    /// Creates the draft for (subscription, period start), or revises it while it is a draft.
    /// Returns the stored invoice (a finalized one is returned unchanged). Two runs at once
    /// never make two invoices for one period: the pair is unique in the database.
    func saveDraft(tenantID: String, _ invoice: Invoice) async throws -> Invoice
    /// `saveDraft` for many invoices in one transaction (a billing run writes hundreds at once).
    func saveDrafts(tenantID: String, _ invoices: [Invoice]) async throws
    func invoice(tenantID: String, id: String) async throws -> Invoice?
    func invoices(tenantID: String, subscriptionID: String?, limit: Int, after: String?) async throws -> [Invoice]
    /// Drafts whose grace period has ended by `atMicros`.
    func draftsDue(tenantID: String, atMicros: Int64) async throws -> [Invoice]
    /// Numbers the draft, makes it immutable and posts it to the ledger, in one transaction.
    /// A draft finalized meanwhile by another run is returned as it is.
    func finalize(tenantID: String, invoiceID: String, atMicros: Int64, postings: @Sendable (Invoice) -> [Posting]) async throws -> Invoice
    /// Finalizes the drafts among `invoiceIDs` in one transaction, numbered in the given order;
    /// returns how many it finalized (others were finalized meanwhile or are not drafts).
    func finalizeAll(tenantID: String, invoiceIDs: [String], atMicros: Int64, postings: @Sendable (Invoice) -> [Posting]) async throws -> Int
    /// Applies a payment, credit note or void through the invoice state machine and posts it.
    func change(tenantID: String, invoiceID: String, _ change: InvoiceChange, currency: String, atMicros: Int64) async throws -> Invoice
    /// The tenant's ledger in sequence order.
    func ledger(tenantID: String) async throws -> [LedgerEntry]
    func tenantsWithLedger() async throws -> [String]
}

struct SQLBillingStore: BillingStore {
    let backend: any SQLBackend

    func saveDrafts(tenantID: String, _ invoices: [Invoice]) async throws {
        guard !invoices.isEmpty else { return }
        try await backend.transaction { db in
            for invoice in invoices { _ = try await Self.saveDraft(tenantID: tenantID, invoice, on: db) }
        }
    }

    func saveDraft(tenantID: String, _ invoice: Invoice) async throws -> Invoice {
        try await backend.transaction { db in try await Self.saveDraft(tenantID: tenantID, invoice, on: db) }
    }

    static func saveDraft(tenantID: String, _ invoice: Invoice, on db: any SQLDatabase) async throws -> Invoice {
        let inserted = try await db.raw("""
            INSERT INTO invoices (id, tenant_id, subscription_id, customer_id, period_start, period_end, currency, status, number, total,
                                  paid, credited, lines, evidence, contract_sha256, grace_until, created_at, finalized_at)
            VALUES (\(bind: invoice.id), \(bind: tenantID), \(bind: invoice.subscriptionID), \(bind: invoice.customerID),
                    \(bind: invoice.period.startMicros), \(bind: invoice.period.endMicros), \(bind: invoice.currency.code), 'draft', NULL,
                    \(bind: invoice.state.total.description), '0', '0', \(bind: invoice.lines), \(bind: invoice.evidence),
                    \(bind: invoice.contractSHA256), \(bind: invoice.graceUntilMicros), \(bind: invoice.createdAtMicros), NULL)
            ON CONFLICT DO NOTHING RETURNING id
            """).first()
        if inserted == nil {
            try await db.raw("""
                UPDATE invoices SET total = \(bind: invoice.state.total.description), lines = \(bind: invoice.lines),
                    evidence = \(bind: invoice.evidence), contract_sha256 = \(bind: invoice.contractSHA256),
                    period_end = \(bind: invoice.period.endMicros), grace_until = \(bind: invoice.graceUntilMicros)
                WHERE tenant_id = \(bind: tenantID) AND subscription_id = \(bind: invoice.subscriptionID)
                  AND period_start = \(bind: invoice.period.startMicros) AND status = 'draft'
                """).run()
        }
        guard let row = try await db.raw("""
            SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND subscription_id = \(bind: invoice.subscriptionID)
            AND period_start = \(bind: invoice.period.startMicros)
            """).first() else { throw StoreError.unavailable("the draft invoice vanished") }
        return try Self.invoice(row)
    }

    func invoice(tenantID: String, id: String) async throws -> Invoice? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first().map(Self.invoice)
        }
    }

    func invoices(tenantID: String, subscriptionID: String?, limit: Int, after: String?) async throws -> [Invoice] {
        try await backend.read { db in
            let filter: SQLQueryString = subscriptionID.map { "AND subscription_id = \(bind: $0)" } ?? ""
            return try await db.raw("""
                SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND id > \(bind: after ?? "") \(filter) ORDER BY id LIMIT \(literal: limit)
                """).all().map(Self.invoice)
        }
    }

    func draftsDue(tenantID: String, atMicros: Int64) async throws -> [Invoice] {
        try await backend.read { db in
            try await db.raw("""
                SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND status = 'draft' AND grace_until <= \(bind: atMicros)
                ORDER BY period_start, id
                """).all().map(Self.invoice)
        }
    }

    func finalizeAll(tenantID: String, invoiceIDs: [String], atMicros: Int64, postings: @Sendable (Invoice) -> [Posting]) async throws -> Int {
        guard !invoiceIDs.isEmpty else { return 0 }
        let engine = backend.engine
        return try await backend.transaction { db in
            try await Self.lockTenant(tenantID, engine: engine, on: db)
            var count = 0
            for id in invoiceIDs where try await Self.finalize(tenantID: tenantID, invoiceID: id, atMicros: atMicros, postings: postings,
                                                                engine: engine, on: db).finalizedAtMicros == atMicros {
                count += 1
            }
            return count
        }
    }

    func finalize(tenantID: String, invoiceID: String, atMicros: Int64, postings: @Sendable (Invoice) -> [Posting]) async throws -> Invoice {
        let engine = backend.engine
        return try await backend.transaction { db in
            try await Self.lockTenant(tenantID, engine: engine, on: db)
            return try await Self.finalize(tenantID: tenantID, invoiceID: invoiceID, atMicros: atMicros, postings: postings, engine: engine, on: db)
        }
    }

    /// Finalizes one draft inside the caller's transaction, which holds the tenant's lock.
    static func finalize(tenantID: String, invoiceID: String, atMicros: Int64, postings: (Invoice) -> [Posting], engine: SQLEngine,
                         on db: any SQLDatabase) async throws -> Invoice {
        // The row lock keeps a concurrent draft revision from changing the total between
        // this read and the postings made from it.
        let lock = engine == .postgres ? " FOR UPDATE" : ""
        guard let row = try await db.raw("SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND id = \(bind: invoiceID)\(unsafeRaw: lock)").first() else {
            throw BillingStoreError.noSuchInvoice(invoiceID)
        }
        let invoice = try Self.invoice(row)
        guard invoice.state.status == .draft else { return invoice }
        let state: InvoiceLedgerState
        do throws(InvoiceTransitionError) { state = try invoice.state.applying(.finalize) } catch { throw BillingStoreError.transition(error) }
        let next = (try await db.raw("SELECT last_number FROM invoice_numbers WHERE tenant_id = \(bind: tenantID)").first()?
            .decode(column: "last_number", as: Int64.self) ?? 0) + 1
        if next == 1 {
            try await db.raw("INSERT INTO invoice_numbers (tenant_id, last_number) VALUES (\(bind: tenantID), 1)").run()
        } else {
            try await db.raw("UPDATE invoice_numbers SET last_number = \(bind: next) WHERE tenant_id = \(bind: tenantID)").run()
        }
        let number = "INV-" + String(repeating: "0", count: max(0, 6 - String(next).count)) + String(next)
        try await db.raw("""
            UPDATE invoices SET status = \(bind: state.status.rawValue), number = \(bind: number), finalized_at = \(bind: atMicros)
            WHERE id = \(bind: invoiceID)
            """).run()
        try await Self.append(kind: "invoice.finalized", reference: invoiceID, postings: postings(invoice), tenantID: tenantID, atMicros: atMicros, on: db)
        var finalized = invoice
        finalized.state = state
        finalized.number = number
        finalized.finalizedAtMicros = atMicros
        return finalized
    }

    func change(tenantID: String, invoiceID: String, _ change: InvoiceChange, currency: String, atMicros: Int64) async throws -> Invoice {
        let engine = backend.engine
        return try await backend.transaction { db in
            try await Self.lockTenant(tenantID, engine: engine, on: db)
            guard let row = try await db.raw("SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND id = \(bind: invoiceID)").first() else {
                throw BillingStoreError.noSuchInvoice(invoiceID)
            }
            var invoice = try Self.invoice(row)
            guard currency == invoice.currency.code else { throw BillingStoreError.currencyMismatch(expected: invoice.currency.code, got: currency) }
            let code = invoice.currency.code
            let action: InvoiceLedgerState.Action
            let kind: String
            var amount = ExactDecimal.zero
            var reason: String?
            var postings: [Posting]
            switch change {
            case .payment(let paid):
                action = .pay(paid); kind = "payment"; amount = paid
                postings = [Posting(.cash, amount: paid, currency: code), Posting(.receivable, amount: paid.negated(), currency: code)]
            case .credit(let credit, let why):
                action = .credit(credit); kind = "credit_note"; amount = credit; reason = why
                postings = [Posting(.creditNotes, amount: credit, currency: code), Posting(.receivable, amount: credit.negated(), currency: code)]
            case .void(let why):
                action = .void; kind = "invoice.voided"; reason = why
                amount = invoice.state.amountDue
                // Reverse what finalization posted for what is still due (a void has no payments).
                postings = try await Self.finalizationPostings(tenantID: tenantID, invoiceID: invoiceID, on: db).map { posting in
                    var reversed = posting
                    reversed.amount = posting.amount.negated()
                    return reversed
                }
            }
            do throws(InvoiceTransitionError) { invoice.state = try invoice.state.applying(action) } catch { throw BillingStoreError.transition(error) }
            try await db.raw("""
                UPDATE invoices SET status = \(bind: invoice.state.status.rawValue), paid = \(bind: invoice.state.paid.description),
                    credited = \(bind: invoice.state.credited.description) WHERE id = \(bind: invoiceID)
                """).run()
            try await db.raw("""
                INSERT INTO invoice_events (id, tenant_id, invoice_id, kind, amount, currency, reason, at)
                VALUES (\(bind: APIKeyMaterial.identifier("ive")), \(bind: tenantID), \(bind: invoiceID), \(bind: kind), \(bind: amount.description),
                        \(bind: code), \(bind: reason), \(bind: atMicros))
                """).run()
            try await Self.append(kind: kind, reference: invoiceID, postings: postings, tenantID: tenantID, atMicros: atMicros, on: db)
            return invoice
        }
    }

    func ledger(tenantID: String) async throws -> [LedgerEntry] {
        try await backend.read { db in
            try await db.raw("SELECT * FROM ledger_entries WHERE tenant_id = \(bind: tenantID) ORDER BY sequence").all().map(Self.entry)
        }
    }

    func tenantsWithLedger() async throws -> [String] {
        try await backend.read { db in
            try await db.raw("SELECT DISTINCT tenant_id FROM ledger_entries ORDER BY tenant_id").all().map { try $0.decode(column: "tenant_id", as: String.self) }
        }
    }

    /// Serializes a tenant's billing writes (numbers and the ledger chain) across processes on
    /// PostgreSQL; SQLite has one writer.
    static func lockTenant(_ tenantID: String, engine: SQLEngine, on db: any SQLDatabase) async throws {
        guard engine == .postgres else { return }
        try await db.raw("SELECT pg_advisory_xact_lock(4242003, hashtext(\(bind: tenantID)))").run()
    }

    static func finalizationPostings(tenantID: String, invoiceID: String, on db: any SQLDatabase) async throws -> [Posting] {
        guard let row = try await db.raw("""
            SELECT * FROM ledger_entries WHERE tenant_id = \(bind: tenantID) AND reference = \(bind: invoiceID) AND kind = 'invoice.finalized'
            """).first() else { return [] }
        return try entry(row).postings
    }

    /// Appends an entry after the tenant's last one (the caller holds the tenant's lock).
    static func append(kind: String, reference: String, postings: [Posting], tenantID: String, atMicros: Int64, on db: any SQLDatabase) async throws {
        let last = try await db.raw("""
            SELECT sequence, hash FROM ledger_entries WHERE tenant_id = \(bind: tenantID) ORDER BY sequence DESC LIMIT 1
            """).first()
        let sequence = (try last?.decode(column: "sequence", as: Int64.self) ?? 0) + 1
        let previous = try last?.decode(column: "hash", as: String.self) ?? LedgerChain.genesis
        let entry: LedgerEntry
        do throws(LedgerError) {
            entry = try LedgerEntry(sequence: sequence, kind: kind, reference: reference, postings: postings, atMicros: atMicros, previousHash: previous)
        } catch { throw BillingStoreError.ledger(error) }
        let postingsJSON = String(decoding: try JSONSerialization.data(withJSONObject: postings.map { posting in
            ["account": posting.account, "party": posting.party, "amount": posting.amount.description, "currency": posting.currency]
        }, options: [.sortedKeys]), as: UTF8.self)
        try await db.raw("""
            INSERT INTO ledger_entries (tenant_id, sequence, kind, reference, postings, at, previous_hash, hash)
            VALUES (\(bind: tenantID), \(bind: sequence), \(bind: kind), \(bind: reference), \(bind: postingsJSON), \(bind: atMicros),
                    \(bind: previous), \(bind: entry.hash))
            """).run()
    }

    static func entry(_ row: any SQLRow) throws -> LedgerEntry {
        let text = try row.decode(column: "postings", as: String.self)
        let list = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: String]] ?? []
        let postings = list.map { item in
            Posting(account: item["account"] ?? "", party: item["party"] ?? "",
                    amount: ExactDecimal(item["amount"] ?? "") ?? .zero, currency: item["currency"] ?? "")
        }
        return LedgerEntry(stored: try row.decode(column: "sequence", as: Int64.self), kind: try row.decode(column: "kind", as: String.self),
                           reference: try row.decode(column: "reference", as: String.self), postings: postings,
                           atMicros: try row.decode(column: "at", as: Int64.self), previousHash: try row.decode(column: "previous_hash", as: String.self),
                           hash: try row.decode(column: "hash", as: String.self))
    }

    static func invoice(_ row: any SQLRow) throws -> Invoice {
        let code = try row.decode(column: "currency", as: String.self)
        guard let currency = Currency(code: code),
              let status = InvoiceStatus(rawValue: try row.decode(column: "status", as: String.self)),
              let total = ExactDecimal(try row.decode(column: "total", as: String.self)),
              let paid = ExactDecimal(try row.decode(column: "paid", as: String.self)),
              let credited = ExactDecimal(try row.decode(column: "credited", as: String.self)) else {
            throw StoreError.unavailable("a stored invoice does not read back")
        }
        return Invoice(id: try row.decode(column: "id", as: String.self), subscriptionID: try row.decode(column: "subscription_id", as: String.self),
                       customerID: try row.decode(column: "customer_id", as: String.self),
                       period: BillingPeriod(startMicros: try row.decode(column: "period_start", as: Int64.self),
                                             endMicros: try row.decode(column: "period_end", as: Int64.self)),
                       currency: currency, state: InvoiceLedgerState(status: status, total: total, paid: paid, credited: credited),
                       number: try row.decode(column: "number", as: String?.self), lines: try row.decode(column: "lines", as: String.self),
                       evidence: try row.decode(column: "evidence", as: String.self),
                       contractSHA256: try row.decode(column: "contract_sha256", as: String.self),
                       graceUntilMicros: try row.decode(column: "grace_until", as: Int64.self),
                       createdAtMicros: try row.decode(column: "created_at", as: Int64.self),
                       finalizedAtMicros: try row.decode(column: "finalized_at", as: Int64?.self))
    }
}
