import Crypto
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import HTTPTypes
import HourmeterCore
import HourmeterServer
import HourmeterStore
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

private func decimal(_ value: Any?) -> ExactDecimal? { (value as? String).flatMap(ExactDecimal.init) }

/// A clock a test moves by hand.
private final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(micros: Int64) { value = micros }
    var micros: Int64 {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// A tenant set up to bill: a meter, a plan, a customer in Shanghai with one excavator, and
/// Ed25519 keys for both parties.
private struct BillingFixture: Sendable {
    let tenant: String
    let key: String
    let customer: String
    let device: String
    // Raw bytes: the key type is not Sendable; each use rebuilds it.
    let makerSeed = Curve25519.Signing.PrivateKey().rawRepresentation
    let customerSeed = Curve25519.Signing.PrivateKey().rawRepresentation
    var makerKey: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: makerSeed) }
    var customerKey: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: customerSeed) }

    static let plan = """
        {"key":"rental","name":"Excavator rental","version":{"currency":"CNY","interval":"month",
         "recurring_fees":[{"key":"base_rental","amount":"3000","timing":"in_advance"}],
         "charges":[{"key":"run_hours","meter":"run_hours","model":"graduated",
           "properties":{"graduated_ranges":[{"from_value":0,"to_value":100,"per_unit_amount":"10"},{"from_value":100,"to_value":null,"per_unit_amount":"8"}]}}],
         "minimum_commitment":"5000"}}
        """

    static func make(_ app: LiveFixture) async throws -> BillingFixture {
        let (tenant, key) = try await app.tenantWithKey("Excavator maker")
        func created(_ path: String, _ body: String) async throws -> [String: Any] {
            let answer = try await app.request(.post, path, key: key, json: body)
            #expect(answer.status == .created, "\(path): \(answer.text)")
            return try answer.json()
        }
        _ = try await created("/api/v1/meters", #"{"slug":"run_hours","eventType":"machine.usage","aggregation":"SUM","valueProperty":"$.hours","groupBy":{"state":"$.state"}}"#)
        _ = try await created("/api/v1/plans", plan)
        let customer = try await created("/api/v1/customers", #"{"name":"Yangtze Builders","currency":"CNY","time_zone":"Asia/Shanghai","billing_email":"ap@yangtze.example","tax_id":"91310000XYZ"}"#)["id"] as! String
        let model = try await created("/api/v1/device-models", #"{"name":"EX-200","category":"excavator","machine_group":"class_iii"}"#)["id"] as! String
        let device = try await created("/api/v1/devices", #"{"serial":"EX-1","model":"\#(model)","customer":"\#(customer)","commissioned_at":"2026-09-20T00:00:00Z"}"#)["id"] as! String
        let fixture = BillingFixture(tenant: tenant, key: key, customer: customer, device: device)
        _ = try await created("/api/v1/signing-keys", #"{"owner":"maker","public_key":"\#(fixture.makerKey.publicKey.rawRepresentation.base64EncodedString())"}"#)
        // The customer's key is enrolled with a customer API key, never by the maker.
        let customerPublic = fixture.customerKey.publicKey.rawRepresentation.base64EncodedString()
        let byMaker = try await app.request(.post, "/api/v1/signing-keys", key: key, json: #"{"owner":"customer","customer":"\#(customer)","public_key":"\#(customerPublic)"}"#)
        _ = try byMaker.problem(.forbidden, "forbidden")
        let customerAPIKey = try await created("/api/v1/api-keys", #"{"role":"customer"}"#)["key"] as! String
        let enrolled = try await app.request(.post, "/api/v1/signing-keys", key: customerAPIKey,
                                             json: #"{"owner":"customer","customer":"\#(customer)","public_key":"\#(customerPublic)"}"#)
        #expect(enrolled.status == .created, "\(enrolled.text)")
        return fixture
    }

    /// Creates a subscription from 1 October (Shanghai) and returns (subscription, contract id, contract hash).
    func subscribe(_ app: LiveFixture, trialDays: Int = 0) async throws -> (String, String, String) {
        let answer = try await app.request(.post, "/api/v1/subscriptions", key: key, json: """
            {"customer":"\(customer)","plan_key":"rental","devices":["\(device)"],"start":"2026-10-01T00:00:00+08:00","trial_days":\(trialDays)}
            """)
        #expect(answer.status == .created, "\(answer.text)")
        let body = try answer.json()
        let contract = try #require(body["contract"] as? [String: Any])
        return (body["id"] as! String, contract["id"] as! String, contract["sha256"] as! String)
    }

    func sign(_ app: LiveFixture, contract: String, hash: String, with signer: Curve25519.Signing.PrivateKey) async throws -> TestResponse {
        let signature = try signer.signature(for: Data(hash.utf8)).base64EncodedString()
        return try await app.request(.post, "/api/v1/contracts/\(contract)/signatures", key: key, json: """
            {"public_key":"\(signer.publicKey.rawRepresentation.base64EncodedString())","signature":"\(signature)"}
            """)
    }

    func run(_ app: LiveFixture, at: String) async throws -> [String: Any] {
        let answer = try await app.request(.post, "/api/v1/billing/run", key: key, json: #"{"at":"\#(at)"}"#)
        #expect(answer.status == .ok, "\(answer.text)")
        return try answer.json()
    }
}

@Suite struct BillingTests {
    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func usageBecomesAFinalizedExplainedInvoiceInTheLedger(postgres: Bool) async throws {
        // The clock stands on 26 November 2026 (payments and revenue shares fall in November).
        try await withLiveServer(postgres: postgres, configure: {
            $0.billingRunMaxAheadSeconds = 400 * 86_400
            $0.nowMicros = { 1_795_694_400_000_000 }
        }) { app in
            let fixture = try await BillingFixture.make(app)
            let (subscription, contract, hash) = try await fixture.subscribe(app)
            #expect(hash.count == 64)

            // Ten running hours in October (Shanghai), sent as CloudEvents from the excavator.
            let october = cloudEvent("oct-1", subject: "EX-1", time: "2026-10-10T02:00:00Z", data: #"{"hours":10,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(october)]").status == .noContent)

            // Unsigned: nothing is billed.
            let unsigned = try await fixture.run(app, at: "2026-11-01T12:00:00+08:00")
            #expect(unsigned["drafted"] as? Int == 0 && unsigned["awaiting_signatures"] as? Int == 1)

            // A signature that does not verify, or by an unregistered key, changes nothing.
            let stranger = Curve25519.Signing.PrivateKey()
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: stranger).problem(.badRequest, "validation")
            let forged = try fixture.makerKey.signature(for: Data("something else".utf8)).base64EncodedString()
            let bad = try await app.request(.post, "/api/v1/contracts/\(contract)/signatures", key: fixture.key, json: """
                {"public_key":"\(fixture.makerKey.publicKey.rawRepresentation.base64EncodedString())","signature":"\(forged)"}
                """).problem(.badRequest, "validation")
            #expect((bad["errors"] as? [[String: Any]])?.first?["field"] as? String == "signature")
            #expect(try await app.request(.get, "/api/v1/contracts/\(contract)", key: fixture.key).json()["status"] as? String == "awaiting_signatures")

            #expect(try await fixture.sign(app, contract: contract, hash: hash, with: fixture.makerKey).status == .created)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.makerKey).problem(.conflict, "conflict")
            let signed = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.customerKey)
            #expect(try signed.json()["status"] as? String == "active")

            // October closes at midnight Shanghai time: a draft, open for 24 hours.
            let first = try await fixture.run(app, at: "2026-11-01T12:00:00+08:00")
            #expect(first["drafted"] as? Int == 1 && first["finalized"] as? Int == 0)
            let drafts = try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray()
            #expect(drafts.count == 1 && drafts.first?["status"] as? String == "draft" && drafts.first?["number"] is NSNull)
            #expect(drafts.first?["period_start"] as? String == "2026-09-30T16:00:00Z")

            // A late October event inside the grace period updates the draft; then it is finalized.
            let late = cloudEvent("oct-2", subject: "EX-1", time: "2026-10-31T15:00:00Z", data: #"{"hours":5,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(late)]").status == .noContent)
            let second = try await fixture.run(app, at: "2026-11-02T00:00:00+08:00")
            #expect(second["finalized"] as? Int == 1)
            let invoiceID = try #require(drafts.first?["id"] as? String)
            let invoice = try await app.request(.get, "/api/v1/invoices/\(invoiceID)", key: fixture.key).json()
            // By hand: 3000 base + 15 h × 10 = 150 → 3150; the commitment of 5000 tops up 1850.
            #expect(invoice["status"] as? String == "finalized" && invoice["number"] as? String == "INV-000001")
            #expect(invoice["total"] as? String == "5000.00" && invoice["amount_due"] as? String == "5000.00")
            #expect(invoice["contract_sha256"] as? String == hash)
            let lines = try #require(invoice["lines"] as? [[String: Any]])
            #expect(lines.map { $0["charge"] as? String } == ["base_rental", "run_hours", "minimum_commitment"])
            #expect(lines.map { $0["amount"] as? String } == ["3000.00", "150.00", "1850.00"])
            let usage = lines[1]
            #expect(decimal(usage["quantity"]) == ExactDecimal(15) && usage["meter"] as? String == "run_hours")
            #expect((usage["evidence"] as? [String: Any])?["contract_sha256"] as? String == hash)
            for line in lines {
                var sum = ExactDecimal.zero
                for step in line["decomposition"] as? [[String: Any]] ?? [] { sum = try sum.adding(try #require(decimal(step["amount"]))) }
                #expect(sum == decimal(line["amount"]))
            }

            // For ERPs: UBL 2.1 XML whose lines sum to its totals, and CSV; for people: an explanation in English or Chinese.
            let xml = try await app.request(.get, "/api/v1/invoices/\(invoiceID)", key: fixture.key, headers: [.accept: "application/xml"])
            #expect(xml.headers[.contentType]?.hasPrefix("application/xml") == true)
            let document = try XMLDocument(data: Data(buffer: xml.body))
            func values(_ name: String) throws -> [String] {
                try document.nodes(forXPath: "//*[local-name()='\(name)']").compactMap(\.stringValue)
            }
            #expect(try values("UBLVersionID") == ["2.1"] && values("ID").first == "INV-000001")
            #expect(try values("DocumentCurrencyCode") == ["CNY"] && values("InvoiceTypeCode") == ["380"])
            #expect(try values("Name").contains("Yangtze Builders") && values("CompanyID") == ["91310000XYZ"])
            let lineAmounts = try document.nodes(forXPath: "//*[local-name()='InvoiceLine']/*[local-name()='LineExtensionAmount']").compactMap(\.stringValue)
            #expect(lineAmounts == ["3000.00", "150.00", "1850.00"])
            var lineSum = ExactDecimal.zero
            for amount in lineAmounts { lineSum = try lineSum.adding(try #require(ExactDecimal(amount))) }
            let totals = try document.nodes(forXPath: "//*[local-name()='LegalMonetaryTotal']/*[local-name()='LineExtensionAmount']").compactMap(\.stringValue)
            #expect(totals.count == 1 && ExactDecimal(totals[0]) == lineSum)
            #expect(try values("PayableAmount") == ["5000.00"])
            let csv = try await app.request(.get, "/api/v1/invoices/\(invoiceID)", key: fixture.key, headers: [.accept: "text/csv"])
            let rows = csv.text.split(separator: "\r\n")
            #expect(rows.count == 4 && rows[2].hasPrefix("INV-000001,2,usage,run_hours,run_hours,15,150.00,CNY,"))
            let english = try await app.request(.get, "/api/v1/invoices/\(invoiceID)/explain", key: fixture.key).json()
            #expect(english["language"] as? String == "en")
            let englishLines = try #require(english["lines"] as? [[String: Any]])
            #expect((englishLines[1]["headline"] as? String)?.contains("15 units used") == true)
            let chinese = try await app.request(.get, "/api/v1/invoices/\(invoiceID)/explain", key: fixture.key,
                                                headers: [.acceptLanguage: "zh-CN,zh;q=0.9,en;q=0.5"])
            #expect(chinese.headers[.contentLanguage] == "zh-Hans")
            let chineseLines = try #require(try chinese.json()["lines"] as? [[String: Any]])
            #expect((chineseLines[1]["text"] as? String)?.contains("阶梯计价：15 单位 × 10 = 150") == true)
            #expect((try chinese.json()["summary"] as? String)?.contains("合计 5000.00 CNY") == true)

            // A finalized invoice no longer changes; runs again change nothing.
            let again = try await fixture.run(app, at: "2026-11-03T00:00:00+08:00")
            #expect(again["finalized"] as? Int == 0)

            // Revenue shares split at payment: the platform takes 5 %, an insurer 10 % with 1000 guaranteed a month.
            for rule in [#"{"party":"platform","percent":"5","currency":"CNY"}"#,
                         #"{"party":"partner:insurer-1","percent":"10","minimum_per_period":"1000","currency":"CNY"}"#] {
                #expect(try await app.request(.post, "/api/v1/revenue-shares", key: fixture.key, json: rule).status == .created)
            }
            _ = try await app.request(.post, "/api/v1/revenue-shares", key: fixture.key, json: #"{"party":"bank","percent":"5","currency":"CNY"}"#)
                .problem(.badRequest, "validation")

            // Payments: above the amount due, in another currency, or finer than the currency's cents, are refused and change nothing.
            _ = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/payments", key: fixture.key, json: #"{"amount":"9.995"}"#)
                .problem(.badRequest, "validation")
            let over = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/payments", key: fixture.key, json: #"{"amount":"5000.01"}"#)
                .problem(.badRequest, "validation")
            #expect((over["errors"] as? [[String: Any]])?.first?["field"] as? String == "amount")
            _ = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/payments", key: fixture.key, json: #"{"amount":"10","currency":"USD"}"#)
                .problem(.badRequest, "validation")
            #expect(try await app.request(.get, "/api/v1/invoices/\(invoiceID)", key: fixture.key).json()["amount_paid"] as? String == "0.00")
            let part = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/payments", key: fixture.key, json: #"{"amount":"2000"}"#)
            #expect(try part.json()["amount_due"] as? String == "3000.00")
            // Voiding an invoice with payments is refused; a credit note then the rest pays it.
            _ = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/void", key: fixture.key, json: "{}").problem(.conflict, "conflict")
            let credited = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/credit-notes", key: fixture.key,
                                                 json: #"{"amount":"500","reason":"downtime on 20 October"}"#)
            #expect(try credited.json()["amount_due"] as? String == "2500.00")
            let paid = try await app.request(.post, "/api/v1/invoices/\(invoiceID)/payments", key: fixture.key, json: #"{"amount":"2500"}"#)
            #expect(try paid.json()["status"] as? String == "paid")

            // The ledger: finalization, two payments and a credit note, chained and balanced.
            let ledger = try await app.request(.get, "/api/v1/ledger", key: fixture.key).jsonArray()
            #expect(ledger.map { $0["kind"] as? String } == ["invoice.finalized", "payment", "revenue_share", "credit_note", "payment", "revenue_share"])
            #expect(ledger[1]["previous_hash"] as? String == ledger[0]["hash"] as? String)
            // 2000 paid: platform 100, insurer 200; 2500 paid: platform 125, insurer 250.
            let shares = (ledger[5]["postings"] as? [[String: Any]] ?? []).filter { $0["account"] as? String == "expense:revenue_shares" }
            let shareByParty = Dictionary(uniqueKeysWithValues: shares.map { ($0["party"] as? String ?? "", decimal($0["amount"])) })
            #expect(shareByParty == ["platform": ExactDecimal(125), "partner:insurer-1": ExactDecimal(250)])
            let verified = try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant])
            #expect(verified.discrepancy == nil && verified.invoices == 1 && verified.entries == 6)

            // Another tenant sees none of it.
            let (_, other) = try await app.tenantWithKey("Other maker")
            _ = try await app.request(.get, "/api/v1/invoices/\(invoiceID)", key: other).problem(.notFound, "not-found")
            #expect(try await app.request(.get, "/api/v1/ledger", key: other).jsonArray().isEmpty)

            // An October event that arrives after October was finalized is not lost: November's
            // invoice carries an adjustment naming INV-000001. By hand: October now has
            // 315 hours, 100 × 10 + 215 × 8 = 2720, plus 3000 = 5720 (above the commitment);
            // 5000 was billed, so the adjustment is 720. November: 3000 + 0 usage, topped up to 5000.
            let veryLate = cloudEvent("oct-3", subject: "EX-1", time: "2026-10-20T08:00:00Z", data: #"{"hours":300,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(veryLate)]").status == .noContent)
            let december = try await fixture.run(app, at: "2026-12-02T00:00:00+08:00")
            #expect(december["finalized"] as? Int == 1)
            let all = try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray()
            let novemberID = try #require(all.first { $0["period_start"] as? String == "2026-10-31T16:00:00Z" }?["id"] as? String)
            let november = try await app.request(.get, "/api/v1/invoices/\(novemberID)", key: fixture.key).json()
            #expect(november["number"] as? String == "INV-000002" && november["total"] as? String == "5720.00")
            let novemberLines = try #require(november["lines"] as? [[String: Any]])
            let adjustment = try #require(novemberLines.last)
            #expect(adjustment["kind"] as? String == "adjustment" && adjustment["adjusts_number"] as? String == "INV-000001")
            #expect(adjustment["amount"] as? String == "720.00")
            #expect(try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant]).discrepancy == nil)
            // November ended: the insurer got 450 of its 1000 guaranteed, so 550 is topped up, once.
            #expect(december["minimums"] as? Int == 1)
            let topUps = try await app.request(.get, "/api/v1/ledger", key: fixture.key).jsonArray().filter { $0["kind"] as? String == "revenue_share.minimum" }
            #expect(topUps.count == 1)
            #expect(decimal((topUps.first?["postings"] as? [[String: Any]])?.first { $0["account"] as? String == "payable:partner" }?["amount"]) == ExactDecimal(-550))
            // Billed once: another run finds nothing more to adjust.
            #expect(try await fixture.run(app, at: "2026-12-03T00:00:00+08:00")["drafted"] as? Int == 0)

            // The database itself refuses to change or remove a ledger entry.
            await #expect(throws: (any Error).self) {
                try await app.store.backend.transaction { db in try await db.raw("UPDATE ledger_entries SET kind = 'x'").run() }
            }
            await #expect(throws: (any Error).self) {
                try await app.store.backend.transaction { db in try await db.raw("DELETE FROM ledger_entries").run() }
            }

            // Changing a stored amount behind the application's back is caught.
            try await app.store.backend.transaction { db in
                try await db.raw("UPDATE invoices SET total = '4000' WHERE id = \(bind: invoiceID)").run()
            }
            let tampered = try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant])
            #expect(tampered.discrepancy?.contains("INV-000001") == true, "\(tampered)")
        }
    }

    @Test func aPlanChangeMidPeriodBillsEachPartUnderItsOwnSignedTerms() async throws {
        // The clock stands on 10 October 2026 while the change (from 16 October, Shanghai) is
        // made, then moves to 25 October for the second event.
        let clock = TestClock(micros: 1_791_590_400_000_000)
        try await withLiveServer(configure: { $0.billingRunMaxAheadSeconds = 400 * 86_400; $0.nowMicros = { clock.micros } }) { app in
            let fixture = try await BillingFixture.make(app)
            #expect(try await app.request(.post, "/api/v1/plans", key: fixture.key, json: """
                {"key":"premium","version":{"currency":"CNY","interval":"month","recurring_fees":[{"key":"base_rental","amount":"6000"}],
                 "charges":[{"key":"run_hours","meter":"run_hours","model":"standard","properties":{"amount":"5"}}]}}
                """).status == .created)
            let (subscription, contract, hash) = try await fixture.subscribe(app)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.makerKey)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.customerKey)
            let first = cloudEvent("a", subject: "EX-1", time: "2026-10-09T02:00:00Z", data: #"{"hours":10,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(first)]").status == .noContent)

            _ = try await app.request(.post, "/api/v1/subscriptions/\(subscription)/change-plan", key: fixture.key,
                                      json: #"{"plan_key":"premium","at":"2026-10-01T00:00:00+08:00"}"#).problem(.badRequest, "validation")
            let change = try await app.request(.post, "/api/v1/subscriptions/\(subscription)/change-plan", key: fixture.key,
                                               json: #"{"plan_key":"premium","at":"2026-10-16T00:00:00+08:00"}"#)
            #expect(change.status == .created, "\(change.text)")
            let amendment = try #require(try change.json()["contract"] as? [String: Any])
            #expect(amendment["replaces"] as? String == hash && amendment["status"] as? String == "awaiting_signatures")
            let amendmentID = amendment["id"] as! String, amendmentHash = amendment["sha256"] as! String
            clock.micros = 1_792_886_400_000_000  // 25 October
            let second = cloudEvent("b", subject: "EX-1", time: "2026-10-20T02:00:00Z", data: #"{"hours":20,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(second)]").status == .noContent)

            // Until both sign the amendment, the old terms go on: October under "rental" alone, 3000 + 300 → 5000.
            _ = try await fixture.run(app, at: "2026-11-01T12:00:00+08:00")
            let draft = try #require(try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray().first)
            #expect(draft["total"] as? String == "5000.00" && draft["status"] as? String == "draft")

            _ = try await fixture.sign(app, contract: amendmentID, hash: amendmentHash, with: fixture.makerKey)
            _ = try await fixture.sign(app, contract: amendmentID, hash: amendmentHash, with: fixture.customerKey)
            let run = try await fixture.run(app, at: "2026-11-02T00:00:00+08:00")
            #expect(run["finalized"] as? Int == 1)
            let invoice = try await app.request(.get, "/api/v1/invoices/\(draft["id"] as! String)", key: fixture.key).json()
            // By hand. 1–16 October under rental (15 of 31 days): base 3000 × 15/31 = 1451.61; 10 h × 10 = 100;
            // commitment 5000 × 15/31 = 2419.35, so a top-up of 2419.35 − 1551.61 = 867.74.
            // 16–31 October under premium (16 of 31 days): 6000 × 16/31 = 3096.77; 20 h × 5 = 100.
            // Total 2419.35 + 3196.77 = 5616.12.
            let lines = try #require(invoice["lines"] as? [[String: Any]])
            #expect(lines.map { $0["amount"] as? String } == ["1451.61", "100.00", "867.74", "3096.77", "100.00"])
            #expect(lines.map { $0["segment"] as? Int } == [0, 0, 0, 1, 1])
            #expect(invoice["total"] as? String == "5616.12" && invoice["contract_sha256"] as? String == amendmentHash)
            #expect(try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant]).discrepancy == nil)
        }
    }

    /// The customer's projected bill: this period so far, rated as the billing run rates it,
    /// with usage continued at the same pace and the minimum commitment (5,000) applied once.
    @Test func theProjectedBillContinuesUsageAndAppliesTheCommitmentOnce() async throws {
        try await withLiveServer(configure: { $0.nowMicros = { 1_795_694_400_000_000 } }) { app in
            let fixture = try await BillingFixture.make(app)
            let (subscriptionID, contract, hash) = try await fixture.subscribe(app)
            for signer in [fixture.makerKey, fixture.customerKey] {
                #expect(try await fixture.sign(app, contract: contract, hash: hash, with: signer).status == .created)
            }
            let tenantID = fixture.tenant
            let subscription = try #require(try await app.store.subscriptions.subscription(tenantID: tenantID, id: subscriptionID))
            let projection = BillingProjection(store: app.store)
            // 11 November, 00:00 Shanghai: 10 of November's 30 days have passed.
            let at = RFC3339.parseMicroseconds("2026-11-11T00:00:00+08:00")!
            // 30 hours so far: 3,000 fee + 300 usage, topped up to 5,000; at this pace 900 of
            // usage, 3,900, still topped up: 5,000.
            let light = cloudEvent("nov-1", subject: "EX-1", time: "2026-11-05T02:00:00Z", data: #"{"hours":30,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(light)]").status == .noContent)
            let first = try #require(try await projection.project(tenantID: tenantID, subscription: subscription, atMicros: at))
            #expect(first.soFar.total == ExactDecimal(5000) && first.projectedTotal == ExactDecimal(5000))
            #expect(first.usage.first?.soFar == ExactDecimal(300) && first.usage.first?.projected == ExactDecimal(900))
            // 100 hours so far (1,000 on the first tier): 4,000 topped up to 5,000 today; at this
            // pace 3,000 of usage, 6,000, above the commitment (counting the top-up as well would say 7,000).
            let heavy = cloudEvent("nov-2", subject: "EX-1", time: "2026-11-06T02:00:00Z", data: #"{"hours":70,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(heavy)]").status == .noContent)
            let second = try #require(try await projection.project(tenantID: tenantID, subscription: subscription, atMicros: at))
            #expect(second.soFar.total == ExactDecimal(5000) && second.projectedTotal == ExactDecimal(6000), "\(second.projectedTotal)")
            #expect(second.period.startMicros == RFC3339.parseMicroseconds("2026-11-01T00:00:00+08:00"))
        }
    }

    @Test func creditingALineAndCancellingAtOnce() async throws {
        // The clock stands on 10 November 2026, Shanghai midnight.
        try await withLiveServer(configure: { $0.billingRunMaxAheadSeconds = 400 * 86_400; $0.nowMicros = { 1_794_240_000_000_000 } }) { app in
            let fixture = try await BillingFixture.make(app)
            let (subscription, contract, hash) = try await fixture.subscribe(app)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.makerKey)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.customerKey)
            _ = try await fixture.run(app, at: "2026-11-02T00:00:00+08:00")
            let october = try #require(try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray().first)
            let id = october["id"] as! String
            // No usage: 3000 base, 0 usage, topped up to 5000. Credit the base rental line whole.
            #expect(october["total"] as? String == "5000.00")
            let credited = try await app.request(.post, "/api/v1/invoices/\(id)/credit-notes", key: fixture.key, json: #"{"line":0,"reason":"machine delivered late"}"#)
            #expect(try credited.json()["amount_credited"] as? String == "3000.00" && credited.json()["amount_due"] as? String == "2000.00")
            let zeroLine = try await app.request(.post, "/api/v1/invoices/\(id)/credit-notes", key: fixture.key, json: #"{"line":1}"#)
                .problem(.badRequest, "validation")
            #expect((zeroLine["errors"] as? [[String: Any]])?.first?["field"] as? String == "line")

            // Cancelled at once on 10 November: November is billed for 9 of its 30 days, then nothing more.
            _ = try await app.request(.post, "/api/v1/subscriptions/\(subscription)/cancel", key: fixture.key, json: #"{"at":"2026-11-01T00:00:00Z"}"#)
                .problem(.badRequest, "validation")
            let cancelled = try await app.request(.post, "/api/v1/subscriptions/\(subscription)/cancel", key: fixture.key, json: "{}")
            #expect(try cancelled.json()["ends_at"] as? String == "2026-11-09T16:00:00Z")
            _ = try await fixture.run(app, at: "2027-01-05T00:00:00+08:00")
            let invoices = try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray()
            #expect(invoices.count == 2)
            let november = try #require(invoices.first { $0["period_start"] as? String == "2026-10-31T16:00:00Z" })
            // 3000 × 9/30 = 900, commitment 5000 × 9/30 = 1500: topped up by 600, total 1500.
            #expect(november["period_end"] as? String == "2026-11-09T16:00:00Z" && november["total"] as? String == "1500.00")
            #expect(try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant]).discrepancy == nil)
        }
    }

    @Test func oneAdjustmentPerLateEventAndAMinimumEveryMonth() async throws {
        // The clock stands on 10 November 2026; October is finalized, then an October event arrives late.
        let clock = TestClock(micros: 1_794_240_000_000_000)
        try await withLiveServer(configure: { $0.billingRunMaxAheadSeconds = 400 * 86_400; $0.nowMicros = { clock.micros } }) { app in
            let fixture = try await BillingFixture.make(app)
            #expect(try await app.request(.post, "/api/v1/revenue-shares", key: fixture.key,
                                          json: #"{"party":"partner:bank-1","percent":"2","minimum_per_period":"100","currency":"CNY"}"#).status == .created)
            _ = try await app.request(.post, "/api/v1/revenue-shares", key: fixture.key, json: #"{"party":"partner:bank-1","percent":"3","currency":"CNY"}"#)
                .problem(.conflict, "conflict")
            let (subscription, contract, hash) = try await fixture.subscribe(app)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.makerKey)
            _ = try await fixture.sign(app, contract: contract, hash: hash, with: fixture.customerKey)
            _ = try await fixture.run(app, at: "2026-11-02T00:00:00+08:00")
            let late = cloudEvent("late", subject: "EX-1", time: "2026-10-20T08:00:00Z", data: #"{"hours":300,"state":"running"}"#)
            #expect(try await app.request(.post, "/api/v1/events", key: fixture.key, json: "[\(late)]").status == .noContent)
            clock.micros = 1_798_905_600_000_000  // 3 January 2027
            // November and December close in one run: the adjustment goes on November's invoice only.
            let run = try await fixture.run(app, at: "2027-01-03T00:00:00+08:00")
            #expect(run["finalized"] as? Int == 2)
            let invoices = try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray()
            var adjustmentLines = 0
            for invoice in invoices {
                let lines = try await app.request(.get, "/api/v1/invoices/\(invoice["id"] as! String)", key: fixture.key).json()["lines"] as? [[String: Any]] ?? []
                adjustmentLines += lines.filter { $0["kind"] as? String == "adjustment" }.count
            }
            #expect(adjustmentLines == 1)
            // The bank's minimum with no payments: November and December were both settled by that
            // January run (no run happened in December), each once; January by the next one.
            #expect(run["minimums"] as? Int == 2)
            let run2 = try await fixture.run(app, at: "2027-02-02T00:00:00+08:00")
            #expect(run2["minimums"] as? Int == 1)
            let topUps = try await app.request(.get, "/api/v1/ledger", key: fixture.key).jsonArray().filter { $0["kind"] as? String == "revenue_share.minimum" }
            #expect(topUps.count == 3)
            #expect(try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant]).discrepancy == nil)
        }
    }

    @Test func customersModelsAndDevicesAreManagedWithValidation() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            let bad = try await app.request(.post, "/api/v1/customers", key: key, json: #"{"name":"C","currency":"XYZ","time_zone":"Asia/Shanghai"}"#)
                .problem(.badRequest, "validation")
            #expect((bad["errors"] as? [[String: Any]])?.first?["field"] as? String == "currency")
            _ = try await app.request(.post, "/api/v1/customers", key: key, json: #"{"name":"C","currency":"CNY","time_zone":"Mars/Base"}"#).problem(.badRequest, "validation")
            _ = try await app.request(.post, "/api/v1/customers", key: key, json: #"{"name":"C","currency":"CNY","time_zone":"UTC","billing_email":"nope"}"#)
                .problem(.badRequest, "validation")
            let customer = try await app.request(.post, "/api/v1/customers", key: key, json: #"{"name":"C","currency":"CNY","time_zone":"UTC"}"#).json()["id"] as! String
            let renamed = try await app.request(.put, "/api/v1/customers/\(customer)", key: key, json: #"{"name":"C2","currency":"CNY","time_zone":"Asia/Shanghai","address":"1 Road"}"#)
            #expect(try renamed.json()["name"] as? String == "C2")
            #expect(try await app.request(.get, "/api/v1/customers/\(customer)", key: key).json()["time_zone"] as? String == "Asia/Shanghai")
            _ = try await app.request(.post, "/api/v1/device-models", key: key, json: #"{"name":"M","category":"cnc","machine_group":"class_v"}"#)
                .problem(.badRequest, "validation")
            let model = try await app.request(.post, "/api/v1/device-models", key: key, json: #"{"name":"M","category":"cnc"}"#).json()["id"] as! String
            #expect(try await app.request(.put, "/api/v1/device-models/\(model)", key: key, json: #"{"name":"M2","category":"cnc","machine_group":"class_iv"}"#)
                .json()["machine_group"] as? String == "class_iv")
            _ = try await app.request(.post, "/api/v1/devices", key: key, json: #"{"serial":"S","model":"dmd_missing"}"#).problem(.badRequest, "validation")
            let device = try await app.request(.post, "/api/v1/devices", key: key, json: #"{"serial":"S","model":"\#(model)","customer":"\#(customer)"}"#).json()["id"] as! String
            _ = try await app.request(.post, "/api/v1/devices", key: key, json: #"{"serial":"S","model":"\#(model)"}"#).problem(.conflict, "conflict")
            _ = try await app.request(.put, "/api/v1/devices/\(device)", key: key, json: #"{"serial":"T","model":"\#(model)"}"#).problem(.badRequest, "validation")
            #expect(try await app.request(.put, "/api/v1/devices/\(device)", key: key, json: #"{"model":"\#(model)","customer":"\#(customer)","status":"maintenance"}"#).json()["status"] as? String == "maintenance")
            // In use: refused and nothing changes; free: removed.
            _ = try await app.request(.delete, "/api/v1/device-models/\(model)", key: key).problem(.conflict, "conflict")
            _ = try await app.request(.delete, "/api/v1/customers/\(customer)", key: key).problem(.conflict, "conflict")
            #expect(try await app.request(.get, "/api/v1/devices?customer=\(customer)", key: key).jsonArray().count == 1)
            #expect(try await app.request(.delete, "/api/v1/devices/\(device)", key: key).status == .noContent)
            #expect(try await app.request(.delete, "/api/v1/device-models/\(model)", key: key).status == .noContent)
            #expect(try await app.request(.delete, "/api/v1/customers/\(customer)", key: key).status == .noContent)
            // A customer key reads but does not write; another tenant sees nothing.
            let (_, other) = try await app.tenantWithKey("Other")
            _ = try await app.request(.get, "/api/v1/customers/\(customer)", key: other).problem(.notFound, "not-found")
        }
    }

    @Test func billingRefusesTheFutureAndBadListingParameters() async throws {
        try await withLiveServer { app in
            let (_, key) = try await app.tenantWithKey("Maker")
            // By default a run cannot stand the clock in the future: it would finalize periods that have not happened.
            let future = try await app.request(.post, "/api/v1/billing/run", key: key, json: #"{"at":"2099-01-01T00:00:00Z"}"#)
                .problem(.badRequest, "validation")
            #expect((future["errors"] as? [[String: Any]])?.first?["field"] as? String == "at")
            #expect(try await app.request(.post, "/api/v1/billing/run", key: key, json: #"{"at":"2020-01-01T00:00:00Z"}"#).status == .ok)
            // No body at all: the run stands at now; a create without a body names what it needs.
            #expect(try await app.request(.post, "/api/v1/billing/run", key: key).status == .ok)
            let empty = try await app.request(.post, "/api/v1/customers", key: key).problem(.badRequest, "validation")
            #expect((empty["errors"] as? [[String: Any]])?.first?["field"] as? String == "name")
            _ = try await app.request(.post, "/api/v1/customers", key: key, json: "{not json").problem(.badRequest, "validation")
            // A NUL in a cursor is a 400, on every engine.
            _ = try await app.request(.get, "/api/v1/invoices?after=%00", key: key).problem(.badRequest, "validation")
            _ = try await app.request(.get, "/api/v1/devices?customer=%00", key: key).problem(.badRequest, "validation")
        }
    }

    @Test(arguments: postgresConfigured ? [false, true] : [false])
    func concurrentRunsMakeOneInvoicePerPeriodAndTrialsBillZero(postgres: Bool) async throws {
        try await withLiveServer(postgres: postgres, configure: { $0.billingRunMaxAheadSeconds = 400 * 86_400 }) { app in
            let fixture = try await BillingFixture.make(app)
            let (subscription, contract, hash) = try await fixture.subscribe(app, trialDays: 61)
            #expect(try await fixture.sign(app, contract: contract, hash: hash, with: fixture.makerKey).status == .created)
            #expect(try await fixture.sign(app, contract: contract, hash: hash, with: fixture.customerKey).status == .created)
            // Four runs at once, well after October and November closed and their grace ended.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { _ = try await fixture.run(app, at: "2026-12-05T00:00:00+08:00") } }
                try await group.waitForAll()
            }
            let invoices = try await app.request(.get, "/api/v1/invoices?subscription=\(subscription)", key: fixture.key).jsonArray()
            #expect(invoices.count == 2)
            #expect(Set(invoices.compactMap { $0["period_start"] as? String }) == ["2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z"])
            // Inside the 61-day trial nothing is charged, and each period still gets its invoice of zero, paid at once.
            #expect(invoices.allSatisfy { $0["total"] as? String == "0.00" && $0["status"] as? String == "paid" })
            #expect(Set(invoices.compactMap { $0["number"] as? String }) == ["INV-000001", "INV-000002"])
            #expect(try await LedgerVerification(store: app.store).run(tenants: [fixture.tenant]).discrepancy == nil)
        }
    }
}
