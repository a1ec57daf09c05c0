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
    /// Creates each invoice's draft for its (subscription, period start), or revises the stored
    /// one while it is a draft; a finalized invoice is left unchanged. Two runs at once never
    /// make two invoices for one period: the pair is unique in the database.
    func saveDrafts(tenantID: String, _ invoices: [Invoice]) async throws
    func invoice(tenantID: String, id: String) async throws -> Invoice?
    func invoices(tenantID: String, subscriptionID: String?, limit: Int, after: String?) async throws -> [Invoice]
    /// Drafts whose grace period has ended by `atMicros`.
    func draftsDue(tenantID: String, atMicros: Int64) async throws -> [Invoice]
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

    /// New drafts go in as multi-row inserts; those that exist already (a rerun within the
    /// grace period) are revised one by one, and only while they are drafts.
    func saveDrafts(tenantID: String, _ invoices: [Invoice]) async throws {
        guard !invoices.isEmpty else { return }
        try await backend.transaction { db in
            for start in stride(from: 0, to: invoices.count, by: 100) {
                let chunk = invoices[start..<min(start + 100, invoices.count)]
                var values: [SQLQueryString] = []
                for invoice in chunk {
                    values.append("""
                        (\(bind: invoice.id), \(bind: tenantID), \(bind: invoice.subscriptionID), \(bind: invoice.customerID),
                         \(bind: invoice.period.startMicros), \(bind: invoice.period.endMicros), \(bind: invoice.currency.code), 'draft', NULL,
                         \(bind: invoice.state.total.description), '0', '0', \(bind: invoice.lines), \(bind: invoice.evidence),
                         \(bind: invoice.contractSHA256), \(bind: invoice.graceUntilMicros), \(bind: invoice.createdAtMicros), NULL)
                        """)
                }
                let inserted = Set(try await db.raw("""
                    INSERT INTO invoices (id, tenant_id, subscription_id, customer_id, period_start, period_end, currency, status, number, total,
                                          paid, credited, lines, evidence, contract_sha256, grace_until, created_at, finalized_at)
                    VALUES \(values.joined(separator: ", ")) ON CONFLICT DO NOTHING RETURNING id
                    """).all().map { try $0.decode(column: "id", as: String.self) })
                for invoice in chunk where !inserted.contains(invoice.id) {
                    try await Self.revise(tenantID: tenantID, invoice, on: db)
                }
            }
        }
    }

    /// Revises the stored draft of the same subscription and period; a finalized one is left alone.
    static func revise(tenantID: String, _ invoice: Invoice, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE invoices SET total = \(bind: invoice.state.total.description), lines = \(bind: invoice.lines),
                evidence = \(bind: invoice.evidence), contract_sha256 = \(bind: invoice.contractSHA256),
                period_end = \(bind: invoice.period.endMicros), grace_until = \(bind: invoice.graceUntilMicros)
            WHERE tenant_id = \(bind: tenantID) AND subscription_id = \(bind: invoice.subscriptionID)
              AND period_start = \(bind: invoice.period.startMicros) AND status = 'draft'
            """).run()
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
            // Read the batch under lock, number it and chain its entries in memory, then write
            // the numbers, the invoices and the entries in a few statements.
            let lock = engine == .postgres ? " FOR UPDATE" : ""
            let ids = invoiceIDs.map { "\(bind: $0)" as SQLQueryString }.joined(separator: ", ")
            let rows = try await db.raw("""
                SELECT * FROM invoices WHERE tenant_id = \(bind: tenantID) AND status = 'draft' AND id IN (\(ids))\(unsafeRaw: lock)
                """).all()
            let drafts = Dictionary(uniqueKeysWithValues: try rows.map { row in let invoice = try Self.invoice(row); return (invoice.id, invoice) })
            let ordered = invoiceIDs.compactMap { drafts[$0] }
            guard !ordered.isEmpty else { return 0 }
            var number = try await db.raw("SELECT last_number FROM invoice_numbers WHERE tenant_id = \(bind: tenantID)").first()?
                .decode(column: "last_number", as: Int64.self)
            let hadNumbers = number != nil
            let last = try await db.raw("SELECT sequence, hash FROM ledger_entries WHERE tenant_id = \(bind: tenantID) ORDER BY sequence DESC LIMIT 1").first()
            var sequence = try last?.decode(column: "sequence", as: Int64.self) ?? 0
            var previous = try last?.decode(column: "hash", as: String.self) ?? LedgerChain.genesis
            var updates: [SQLQueryString] = [], entries: [SQLQueryString] = []
            for invoice in ordered {
                let state: InvoiceLedgerState
                do throws(InvoiceTransitionError) { state = try invoice.state.applying(.finalize) } catch { throw BillingStoreError.transition(error) }
                number = (number ?? 0) + 1
                updates.append("(\(bind: invoice.id), \(bind: state.status.rawValue), \(bind: Self.invoiceNumber(number!)))")
                sequence += 1
                let entry: LedgerEntry
                do throws(LedgerError) {
                    entry = try LedgerEntry(sequence: sequence, kind: "invoice.finalized", reference: invoice.id, postings: postings(invoice),
                                            atMicros: atMicros, previousHash: previous)
                } catch { throw BillingStoreError.ledger(error) }
                previous = entry.hash
                entries.append("""
                    (\(bind: tenantID), \(bind: sequence), 'invoice.finalized', \(bind: invoice.id), \(bind: Self.postingsJSON(entry.postings)),
                     \(bind: atMicros), \(bind: entry.previousHash), \(bind: entry.hash))
                    """)
            }
            if hadNumbers {
                try await db.raw("UPDATE invoice_numbers SET last_number = \(bind: number!) WHERE tenant_id = \(bind: tenantID)").run()
            } else {
                try await db.raw("INSERT INTO invoice_numbers (tenant_id, last_number) VALUES (\(bind: tenantID), \(bind: number!))").run()
            }
            let subscribers = try await WebhookOutbox.subscribers(tenantID: tenantID, on: db)
            for invoice in ordered where !subscribers.isEmpty {
                try await WebhookOutbox.emit("invoice.finalized", tenantID: tenantID, payload: ["invoice": invoice.id, "subscription": invoice.subscriptionID,
                                                                                                "total": invoice.state.total.description, "currency": invoice.currency.code],
                                             atMicros: atMicros, on: db, subscribers: subscribers)
            }
            for start in stride(from: 0, to: updates.count, by: 200) {
                let chunk = updates[start..<min(start + 200, updates.count)].joined(separator: ", ")
                try await db.raw("""
                    WITH v (id, status, number) AS (VALUES \(chunk))
                    UPDATE invoices SET status = (SELECT v.status FROM v WHERE v.id = invoices.id),
                        number = (SELECT v.number FROM v WHERE v.id = invoices.id), finalized_at = \(bind: atMicros)
                    WHERE tenant_id = \(bind: tenantID) AND id IN (SELECT v.id FROM v)
                    """).run()
                try await db.raw("""
                    INSERT INTO ledger_entries (tenant_id, sequence, kind, reference, postings, at, previous_hash, hash)
                    VALUES \(entries[start..<min(start + 200, entries.count)].joined(separator: ", "))
                    """).run()
            }
            return ordered.count
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
        let number = invoiceNumber(next)
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
            // Revenue shares are split at payment, by the tenant's rules in the invoice's currency.
            if case .payment = change {
                var shares: [Posting] = []
                for rule in try await SQLRevenueShareStore.rules(tenantID: tenantID, on: db) where rule.currency == invoice.currency {
                    let share = try rule.share(of: amount)
                    if share > .zero { shares += rule.postings(share) }
                }
                if !shares.isEmpty {
                    try await Self.append(kind: "revenue_share", reference: invoiceID, postings: shares, tenantID: tenantID, atMicros: atMicros, on: db)
                }
            }
            let payload: [String: Any] = ["invoice": invoiceID, "number": invoice.number ?? "", "amount": amount.description, "currency": code,
                                          "amount_due": invoice.state.amountDue.description, "status": invoice.state.status.rawValue]
            switch change {
            case .credit: try await WebhookOutbox.emit("credit_note.created", tenantID: tenantID, payload: payload, atMicros: atMicros, on: db)
            case .void: try await WebhookOutbox.emit("invoice.voided", tenantID: tenantID, payload: payload, atMicros: atMicros, on: db)
            case .payment: break
            }
            if invoice.state.status == .paid {
                try await WebhookOutbox.emit("invoice.paid", tenantID: tenantID, payload: payload, atMicros: atMicros, on: db)
            }
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

    /// "INV-000042": gapless per tenant, at least six digits.
    static func invoiceNumber(_ value: Int64) -> String {
        "INV-" + String(repeating: "0", count: max(0, 6 - String(value).count)) + String(value)
    }

    static func postingsJSON(_ postings: [Posting]) -> String {
        JSONText.serialize(postings.map { posting in
            ["account": posting.account, "party": posting.party, "amount": posting.amount.description, "currency": posting.currency]
        })
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
        let postingsJSON = Self.postingsJSON(postings)
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
