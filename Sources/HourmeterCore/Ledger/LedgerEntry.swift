import Crypto
import Foundation

/// The accounts Hourmeter posts to. Revenue is split by stream so a maker sees what the
/// subscription, the usage, the API and the marketplace each earn.
public enum LedgerAccount: String, Sendable, CaseIterable {
    case receivable = "receivable"
    case cash = "cash"
    case revenueSubscription = "revenue:subscription"
    case revenueUsage = "revenue:usage"
    case revenueAPI = "revenue:api"
    case revenueMarketplace = "revenue:marketplace"
    case revenueData = "revenue:data"
    /// What the maker owes partners from revenue shares.
    case partnerPayable = "payable:partner"
    /// The platform's commission, owed to it by the maker.
    case platformCommission = "payable:platform"
    /// The maker's side of a share: a reduction of its revenue.
    case revenueShares = "expense:revenue_shares"
    /// Credit notes: reductions of revenue after finalization.
    case creditNotes = "contra:credit_notes"
}

/// One line of a double-entry: a positive amount is a debit, a negative one a credit.
public struct Posting: Sendable, Equatable {
    public var account: String
    /// A party the account is kept for (a partner id), or empty.
    public var party: String
    public var amount: ExactDecimal
    public var currency: String

    public init(_ account: LedgerAccount, party: String = "", amount: ExactDecimal, currency: String) {
        self.init(account: account.rawValue, party: party, amount: amount, currency: currency)
    }

    public init(account: String, party: String = "", amount: ExactDecimal, currency: String) {
        self.account = account
        self.party = party
        self.amount = amount
        self.currency = currency
    }
}

/// An entry of the append-only, hash-chained ledger. Its `hash` is the SHA-256 of its
/// canonical content including the previous entry's hash, so changing any stored amount, or
/// removing or reordering an entry, breaks the chain at that point.
public struct LedgerEntry: Sendable, Equatable {
    public var sequence: Int64
    /// What happened: "invoice.finalized", "payment", "credit_note", "invoice.voided", "revenue_share".
    public var kind: String
    /// The invoice (or other record) the entry is about.
    public var reference: String
    public var postings: [Posting]
    public var atMicros: Int64
    public var previousHash: String
    public var hash: String

    /// A new entry chained after `previousHash`; throws when the postings do not balance.
    public init(sequence: Int64, kind: String, reference: String, postings: [Posting], atMicros: Int64,
                previousHash: String) throws(LedgerError) {
        self.init(stored: sequence, kind: kind, reference: reference, postings: postings, atMicros: atMicros, previousHash: previousHash, hash: "")
        if let currency = try Self.unbalancedCurrency(postings) { throw .unbalanced(currency: currency) }
        self.hash = computedHash
    }

    /// An entry as stored, not checked (`LedgerChain.verify` checks it).
    public init(stored sequence: Int64, kind: String, reference: String, postings: [Posting], atMicros: Int64,
                previousHash: String, hash: String) {
        self.sequence = sequence
        self.kind = kind
        self.reference = reference
        self.postings = postings
        self.atMicros = atMicros
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The first currency whose postings do not sum to zero, if any.
    static func unbalancedCurrency(_ postings: [Posting]) throws(LedgerError) -> String? {
        var sums: [String: ExactDecimal] = [:]
        do {
            for posting in postings { sums[posting.currency] = try (sums[posting.currency] ?? .zero).adding(posting.amount) }
        } catch { throw .overflow }
        return sums.keys.sorted().first { !(sums[$0]!.isZero) }
    }

    /// The canonical text hashed: one line per field and posting, amounts canonical.
    public var canonicalText: String {
        var text = "hourmeter-ledger-v1\n\(sequence)\n\(kind)\n\(reference)\n\(atMicros)\n\(previousHash)\n"
        for posting in postings {
            text += "\(posting.account)|\(posting.party)|\(posting.currency)|\(posting.amount)\n"
        }
        return text
    }

    public var computedHash: String { SHA256.hash(data: Data(canonicalText.utf8)).hexString }
}

public enum LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    case unbalanced(currency: String)
    case overflow

    public var description: String {
        switch self {
        case .unbalanced(let currency): "the postings do not balance in \(currency)"
        case .overflow: "an amount exceeds the 38 significant digits an exact decimal holds"
        }
    }
}

/// Checks a chain of entries read back from storage.
public enum LedgerChain {
    /// The hash the first entry of a tenant's chain points to.
    public static let genesis = String(repeating: "0", count: 64)

    /// The first problem in `entries` (in sequence order), or nil when the chain holds.
    public static func firstDiscrepancy(_ entries: [LedgerEntry]) -> String? {
        var previous = genesis
        var expectedSequence: Int64 = 1
        for entry in entries {
            if entry.sequence != expectedSequence { return "entry \(expectedSequence) is missing (found \(entry.sequence) next)" }
            if entry.previousHash != previous { return "entry \(entry.sequence) does not point to the hash of entry \(entry.sequence - 1)" }
            if entry.computedHash != entry.hash { return "entry \(entry.sequence) (\(entry.kind) \(entry.reference)) does not match its hash: it was changed" }
            switch Result(catching: { () throws(LedgerError) -> String? in try LedgerEntry.unbalancedCurrency(entry.postings) }) {
            case .success(let currency?): return "entry \(entry.sequence) does not balance in \(currency)"
            case .failure(let error): return "entry \(entry.sequence): \(error)"
            case .success(nil): break
            }
            previous = entry.hash
            expectedSequence += 1
        }
        return nil
    }
}
