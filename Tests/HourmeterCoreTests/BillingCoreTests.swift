import Crypto
import Foundation
import Testing
@testable import HourmeterCore

private func dec(_ text: String) -> ExactDecimal { ExactDecimal(text)! }
private func micros(_ text: String) -> Int64 { RFC3339.parseMicroseconds(text)! }

@Suite struct InvoiceLifecycleTests {
    @Test func draftIsRevisedThenFinalizedThenPaid() throws {
        var invoice = InvoiceLedgerState(total: dec("100"))
        invoice = try invoice.applying(.revise(total: dec("120.50")))
        invoice = try invoice.applying(.finalize)
        #expect(invoice.status == .finalized && invoice.amountDue == dec("120.50"))
        #expect(throws: InvoiceTransitionError.notDraft(.finalized)) { try invoice.applying(.revise(total: dec("1"))) }
        #expect(throws: InvoiceTransitionError.notDraft(.finalized)) { try invoice.applying(.finalize) }
        invoice = try invoice.applying(.pay(dec("20.50")))
        #expect(invoice.status == .finalized && invoice.amountDue == dec("100"))
        #expect(throws: InvoiceTransitionError.overpayment(due: dec("100"))) { try invoice.applying(.pay(dec("100.01"))) }
        #expect(throws: InvoiceTransitionError.nonPositiveAmount) { try invoice.applying(.pay(.zero)) }
        #expect(throws: InvoiceTransitionError.voidWithPayments(paid: dec("20.50"))) { try invoice.applying(.void) }
        invoice = try invoice.applying(.pay(dec("100")))
        #expect(invoice.status == .paid && invoice.amountDue.isZero)
        #expect(throws: InvoiceTransitionError.notFinalized(.paid)) { try invoice.applying(.pay(dec("1"))) }
    }

    @Test func zeroInvoicesArePaidOnFinalization() throws {
        #expect(try InvoiceLedgerState(total: .zero).applying(.finalize).status == .paid)
    }

    @Test func creditNotesReduceWhatIsDueAndCannotExceedTheTotal() throws {
        var invoice = try InvoiceLedgerState(total: dec("300")).applying(.finalize)
        #expect(throws: InvoiceTransitionError.notFinalized(.draft)) { try InvoiceLedgerState(total: dec("1")).applying(.credit(dec("1"))) }
        invoice = try invoice.applying(.credit(dec("100")))
        #expect(invoice.amountDue == dec("200") && invoice.status == .finalized)
        #expect(throws: InvoiceTransitionError.creditExceedsRemaining(remaining: dec("200"))) { try invoice.applying(.credit(dec("200.01"))) }
        invoice = try invoice.applying(.credit(dec("200")))
        #expect(invoice.status == .paid && invoice.amountDue.isZero)
    }

    @Test func voidOnlyAFinalizedInvoiceWithoutPayments() throws {
        let finalized = try InvoiceLedgerState(total: dec("50")).applying(.finalize)
        #expect(try finalized.applying(.void).status == .void)
        #expect(throws: InvoiceTransitionError.voidWithCredits(credited: dec("10"))) { try finalized.applying(.credit(dec("10"))).applying(.void) }
        // Credits never exceed what is due: a paid part would need a refund.
        let partPaid = try finalized.applying(.pay(dec("30")))
        #expect(throws: InvoiceTransitionError.creditExceedsRemaining(remaining: dec("20"))) { try partPaid.applying(.credit(dec("21"))) }
        #expect(throws: InvoiceTransitionError.notFinalized(.draft)) { try InvoiceLedgerState(total: dec("50")).applying(.void) }
        #expect(throws: InvoiceTransitionError.notFinalized(.void)) { try finalized.applying(.void).applying(.pay(dec("1"))) }
    }
}

@Suite struct BillingCalendarTests {
    @Test func monthlyPeriodsCloseAtLocalMidnightAcrossDST() {
        // Berlin leaves summer time on 25 October 2026: October has 31 days of 24 h but one of 25 h.
        let calendar = BillingCalendar(interval: .month, anchorMicros: micros("2026-09-01T00:00:00+02:00"),
                                       timeZone: TimeZone(identifier: "Europe/Berlin")!)
        let october = calendar.period(containing: micros("2026-10-15T12:00:00Z"))
        #expect(october.startMicros == micros("2026-09-30T22:00:00Z"))
        #expect(october.endMicros == micros("2026-10-31T23:00:00Z"))  // midnight CET, one hour later in UTC
        #expect(calendar.days(fromMicros: october.startMicros, toMicros: october.endMicros) == 31)
    }

    @Test func anchorOnThe31stNeverDrifts() {
        let calendar = BillingCalendar(interval: .month, anchorMicros: micros("2026-01-31T00:00:00Z"), timeZone: TimeZone(identifier: "UTC")!)
        #expect(calendar.boundary(1) == micros("2026-02-28T00:00:00Z"))
        #expect(calendar.boundary(2) == micros("2026-03-31T00:00:00Z"))
    }

    @Test func aSubscriptionStartingMidPeriodIsProratedByTheDay() {
        let calendar = BillingCalendar(interval: .month, anchorMicros: micros("2026-11-01T00:00:00+08:00"),
                                       timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let periods = calendar.closedPeriods(startMicros: micros("2026-11-21T09:30:00+08:00"), untilMicros: micros("2027-01-01T00:00:00+08:00"))
        #expect(periods.count == 2)
        #expect(periods[0].startMicros == micros("2026-11-21T09:30:00+08:00") && periods[0].endMicros == micros("2026-12-01T00:00:00+08:00"))
        // 21–30 November: 10 of 30 days.
        #expect(calendar.proration(of: periods[0]) == Proration(numerator: ExactDecimal(10), denominator: ExactDecimal(30)))
        #expect(calendar.proration(of: periods[1]).isFull)
        // A quarter anchored on 1 January.
        let quarterly = BillingCalendar(interval: .quarter, anchorMicros: micros("2026-01-01T00:00:00Z"), timeZone: TimeZone(identifier: "UTC")!)
        #expect(quarterly.period(containing: micros("2026-05-05T00:00:00Z")) ==
                BillingPeriod(startMicros: micros("2026-04-01T00:00:00Z"), endMicros: micros("2026-07-01T00:00:00Z")))
    }
}

@Suite struct LedgerTests {
    static func chain() throws -> [LedgerEntry] {
        let first = try LedgerEntry(sequence: 1, kind: "invoice.finalized", reference: "inv_1",
                                    postings: [Posting(.receivable, amount: dec("5000"), currency: "CNY"),
                                               Posting(.revenueSubscription, amount: dec("-4850"), currency: "CNY"),
                                               Posting(.revenueUsage, amount: dec("-150"), currency: "CNY")],
                                    atMicros: 1, previousHash: LedgerChain.genesis)
        let second = try LedgerEntry(sequence: 2, kind: "payment", reference: "inv_1",
                                     postings: [Posting(.cash, amount: dec("5000"), currency: "CNY"), Posting(.receivable, amount: dec("-5000"), currency: "CNY")],
                                     atMicros: 2, previousHash: first.hash)
        return [first, second]
    }

    @Test func entriesMustBalancePerCurrency() {
        #expect(throws: LedgerError.unbalanced(currency: "USD")) {
            try LedgerEntry(sequence: 1, kind: "x", reference: "r",
                            postings: [Posting(.cash, amount: dec("10"), currency: "CNY"), Posting(.receivable, amount: dec("-10"), currency: "CNY"),
                                       Posting(.cash, amount: dec("1"), currency: "USD")],
                            atMicros: 0, previousHash: LedgerChain.genesis)
        }
    }

    @Test func theChainCatchesChangedRemovedAndReorderedEntries() throws {
        let entries = try Self.chain()
        #expect(LedgerChain.firstDiscrepancy(entries) == nil)
        var changed = entries
        changed[0].postings[1].amount = dec("-4851")
        changed[0].postings[0].amount = dec("5001")  // still balanced, but not what was hashed
        #expect(LedgerChain.firstDiscrepancy(changed)?.contains("entry 1") == true)
        #expect(LedgerChain.firstDiscrepancy([entries[1]])?.contains("missing") == true)
        var rehashed = entries
        rehashed[0].postings[0].amount = dec("5001")
        rehashed[0].postings[1].amount = dec("-4851")
        rehashed[0].hash = rehashed[0].computedHash  // a forger recomputes entry 1's hash: entry 2 no longer points to it
        #expect(LedgerChain.firstDiscrepancy(rehashed)?.contains("entry 2") == true)
    }
}

@Suite struct ContractTests {
    static func terms(replaces: String? = nil) throws -> ContractTerms {
        let plan = try PlanVersion.parse(JSONSerialization.jsonObject(with: Data(#"{"currency":"CNY","interval":"month","recurring_fees":[{"key":"base","amount":"3000"}]}"#.utf8)))
        return ContractTerms(tenantID: "ten_1", customerID: "cus_1", customerName: "Yangtze", customerTaxID: nil, subscriptionID: "sub_1",
                             planKey: "rental", planVersion: 1, plan: plan, slaTier: nil, devices: ["EX-2", "EX-1"],
                             startMicros: micros("2026-10-01T00:00:00+08:00"), anchorMicros: micros("2026-10-01T00:00:00+08:00"),
                             timeZone: "Asia/Shanghai", trialDays: 0, dataUse: DataUseTerms(), replaces: replaces)
    }

    @Test func theHashCoversEveryTermAndSignaturesVerify() throws {
        let bytes = try Self.terms().canonicalJSON()
        let hash = ContractSignature.sha256(bytes)
        #expect(hash == ContractSignature.sha256(try Self.terms().canonicalJSON()))  // canonical: same terms, same bytes
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""devices":["EX-1","EX-2"]"#))
        #expect(ContractSignature.sha256(try Self.terms(replaces: hash).canonicalJSON()) != hash)
        let key = Curve25519.Signing.PrivateKey()
        let publicKey = try #require(ContractSignature.publicKey(base64: key.publicKey.rawRepresentation.base64EncodedString()))
        let signature = try key.signature(for: Data(hash.utf8)).base64EncodedString()
        #expect(ContractSignature.verify(signatureBase64: signature, hash: hash, publicKey: publicKey))
        #expect(!ContractSignature.verify(signatureBase64: signature, hash: String(hash.reversed()), publicKey: publicKey))
        #expect(!ContractSignature.verify(signatureBase64: "bm90IGEgc2lnbmF0dXJl", hash: hash, publicKey: publicKey))
        #expect(ContractSignature.publicKey(base64: "c2hvcnQ=") == nil)
    }
}

@Suite struct JSONTextTests {
    @Test func serializeWritesWhatJSONSerializationWrites() throws {
        let value: [String: Any] = [
            "b": [1, "two", true, false, NSNull(), ["z": "é/\"\\\n\t\u{01}", "a": []] as [String: Any]] as [Any],
            "a": "plain", "count": 42, "nested": ["k": ["x", "y"]],
        ]
        let ours = JSONText.serialize(value)
        let foundation = String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        // Same text, or at least the same JSON (escape spellings of control characters may differ).
        let reparsedOurs = try JSONSerialization.jsonObject(with: Data(ours.utf8)) as? NSDictionary
        let reparsedFoundation = try JSONSerialization.jsonObject(with: Data(foundation.utf8)) as? NSDictionary
        #expect(reparsedOurs == reparsedFoundation)
        #expect(ours.hasPrefix(#"{"a":"plain","b":[1,"two",true,false,null,{"a":[],"z":"é/\"#))
    }
}

@Suite struct RevenueShareTests {
    @Test func sharesRoundOnceAndMinimumsTopUp() throws {
        let rule = RevenueShareRule(id: "r", party: "partner:insurer-1", percent: dec("7.5"), minimumPerPeriod: dec("100"), currency: Currency(code: "USD")!)
        #expect(try rule.share(of: dec("33.30")) == dec("2.50"))   // 2.4975 → 2.50
        #expect(try rule.share(of: dec("0.30")) == dec("0.02"))    // 0.0225 → 0.02 (half-even)
        #expect(try rule.topUp(sharedInPeriod: dec("40")) == dec("60"))
        #expect(try rule.topUp(sharedInPeriod: dec("120")).isZero)
        let postings = rule.postings(dec("2.50"))
        #expect(postings.map(\.account) == ["expense:revenue_shares", "payable:partner"])
        #expect(try LedgerEntry(sequence: 1, kind: "revenue_share", reference: "inv", postings: postings, atMicros: 0,
                                previousHash: LedgerChain.genesis).hash.count == 64)
        let platform = RevenueShareRule(id: "p", party: "platform", percent: dec("5"), minimumPerPeriod: .zero, currency: Currency(code: "JPY")!)
        #expect(platform.payableAccount == .platformCommission)
        #expect(try platform.share(of: dec("1050")) == dec("52"))  // 52.5 → 52
    }
}
