/// Where an invoice is in its life. Draft → finalized → paid, or finalized → void; credit
/// notes reduce what is due after finalization. Nothing goes back to draft.
public enum InvoiceStatus: String, Sendable, Codable, CaseIterable {
    /// Open for late events during the grace period; not yet a claim on the customer.
    case draft
    /// Numbered, immutable, posted to the ledger; money is due.
    case finalized
    /// Nothing left due (paid, or paid and credited).
    case paid
    /// Cancelled after finalization; reversed in the ledger.
    case void
}

/// Why an invoice refused an action. Each maps to a 4xx with the numbers in it.
public enum InvoiceTransitionError: Error, Sendable, Equatable, CustomStringConvertible {
    case notDraft(InvoiceStatus)
    case notFinalized(InvoiceStatus)
    case nonPositiveAmount
    case overpayment(due: ExactDecimal)
    case creditExceedsRemaining(remaining: ExactDecimal)
    case voidWithPayments(paid: ExactDecimal)
    case voidWithCredits(credited: ExactDecimal)
    case overflow

    public var description: String {
        switch self {
        case .notDraft(let status): "the invoice is \(status.rawValue), not a draft"
        case .notFinalized(let status): "the invoice is \(status.rawValue); only a finalized invoice takes this"
        case .nonPositiveAmount: "the amount must be greater than zero"
        case .overpayment(let due): "the payment exceeds the amount due \(due)"
        case .creditExceedsRemaining(let remaining): "the credit exceeds what can still be credited, \(remaining)"
        case .voidWithPayments(let paid): "the invoice has payments of \(paid); issue a credit note instead of voiding it"
        case .voidWithCredits(let credited): "the invoice has credit notes of \(credited); credit the rest instead of voiding it"
        case .overflow: "the amount exceeds the 38 significant digits an exact decimal holds"
        }
    }
}

/// The money state of an invoice and the rules that change it: a pure state machine, so the
/// lifecycle is tested without a database and the store only persists what it returns.
public struct InvoiceLedgerState: Sendable, Equatable {
    public private(set) var status: InvoiceStatus
    public private(set) var total: ExactDecimal
    public private(set) var paid: ExactDecimal
    public private(set) var credited: ExactDecimal

    public init(status: InvoiceStatus = .draft, total: ExactDecimal, paid: ExactDecimal = .zero, credited: ExactDecimal = .zero) {
        self.status = status
        self.total = total
        self.paid = paid
        self.credited = credited
    }

    /// What the customer still owes: total − credited − paid.
    public var amountDue: ExactDecimal {
        (try? total.subtracting(credited).subtracting(paid)) ?? .zero
    }

    public enum Action: Sendable, Equatable {
        /// Recomputed lines of a draft (late events in the grace period).
        case revise(total: ExactDecimal)
        /// Numbered and posted; an invoice of zero is paid at once (nothing is due).
        case finalize
        case pay(ExactDecimal)
        case credit(ExactDecimal)
        case void
    }

    /// The state after `action`, or why it is refused; `self` is never changed by a refusal.
    public func applying(_ action: Action) throws(InvoiceTransitionError) -> InvoiceLedgerState {
        var next = self
        switch action {
        case .revise(let total):
            guard status == .draft else { throw .notDraft(status) }
            next.total = total
        case .finalize:
            guard status == .draft else { throw .notDraft(status) }
            next.status = total.isZero || total.isNegative ? .paid : .finalized
        case .pay(let amount):
            guard status == .finalized else { throw .notFinalized(status) }
            guard amount > .zero else { throw .nonPositiveAmount }
            let due = amountDue
            guard amount <= due else { throw .overpayment(due: due) }
            do { next.paid = try paid.adding(amount) } catch { throw .overflow }
            if next.amountDue.isZero { next.status = .paid }
        case .credit(let amount):
            guard status == .finalized else { throw .notFinalized(status) }
            guard amount > .zero else { throw .nonPositiveAmount }
            // Credit at most what is still due: crediting a paid part would be a refund, which
            // is not modelled yet, and would leave the invoice owing a negative amount.
            let remaining = amountDue
            guard amount <= remaining else { throw .creditExceedsRemaining(remaining: remaining) }
            do { next.credited = try credited.adding(amount) } catch { throw .overflow }
            if next.status == .finalized, !next.amountDue.isNegative, next.amountDue.isZero { next.status = .paid }
        case .void:
            guard status == .finalized else { throw .notFinalized(status) }
            guard paid.isZero else { throw .voidWithPayments(paid: paid) }
            guard credited.isZero else { throw .voidWithCredits(credited: credited) }
            next.status = .void
        }
        return next
    }
}
