/// A share of the maker's takings owed to a party: the platform's commission or a partner's
/// cut, a percentage of every payment with a minimum guaranteed per calendar month.
public struct RevenueShareRule: Sendable, Equatable {
    public var id: String
    /// "platform", or "partner:<id>".
    public var party: String
    public var percent: ExactDecimal
    /// Owed for a month even when the percentage of its payments comes to less; zero for none.
    public var minimumPerPeriod: ExactDecimal
    public var currency: Currency
    /// When the rule was made: months that ended before it owe no minimum.
    public var createdAtMicros: Int64

    public init(id: String, party: String, percent: ExactDecimal, minimumPerPeriod: ExactDecimal, currency: Currency, createdAtMicros: Int64 = 0) {
        self.createdAtMicros = createdAtMicros
        self.id = id
        self.party = party
        self.percent = percent
        self.minimumPerPeriod = minimumPerPeriod
        self.currency = currency
    }

    /// The account the party's share is owed on.
    public var payableAccount: LedgerAccount { party == "platform" ? .platformCommission : .partnerPayable }

    /// The share of a payment, rounded half-even to the currency's minor unit (once).
    public func share(of payment: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        try currency.round(payment.multiplied(by: percent.percentAsFraction()))
    }

    /// Postings of a share: the maker's revenue is reduced, the party is owed.
    public func postings(_ amount: ExactDecimal) -> [Posting] {
        [Posting(.revenueShares, party: party, amount: amount, currency: currency.code),
         Posting(payableAccount, party: party, amount: amount.negated(), currency: currency.code)]
    }

    /// What tops a month's shares up to the minimum, or zero.
    public func topUp(sharedInPeriod: ExactDecimal) throws(DecimalError) -> ExactDecimal {
        sharedInPeriod < minimumPerPeriod ? try minimumPerPeriod.subtracting(sharedInPeriod) : .zero
    }
}
