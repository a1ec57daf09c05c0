import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// The billing cycle on demand, invoices, and what changes them after finalization
/// (payments, credit notes, voids), each posted to the hash-chained ledger.
struct InvoiceRoutes {
    let store: Store
    let configuration: ServerConfiguration

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("billing/run") { request, context -> Response in
            let caller = try context.requireWriter("run billing")
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes), allowed: ["at"])
            let now = configuration.nowMicros()
            let at = try fields.instant("at") ?? now
            guard at <= now + configuration.billingRunMaxAheadSeconds * 1_000_000 else {
                throw FieldReader.invalid("at", "is in the future; billing closes only periods that have ended (setting billingRunMaxAheadSeconds)")
            }
            let result = try await BillingRun(store: store, graceSeconds: configuration.billingGraceSeconds).run(tenantID: caller.tenantID, atMicros: at)
            return try HTTPHelpers.json(object: ["at": HTTPHelpers.timestamp(at), "drafted": result.drafted, "finalized": result.finalized,
                                                 "awaiting_signatures": result.unsigned, "failed": result.failed,
                                                 "minimums": result.minimumsSettled])
        }
        group.get("invoices") { request, context -> Response in
            let caller = try context.requireCaller()
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let subscription = try HTTPHelpers.query(request, "subscription")
            var list: [Invoice] = []
            var after = try HTTPHelpers.query(request, "after")
            // A bound customer key's pages hold its customer's invoices only, and stay full while
            // there are more (a short page would read as the end).
            while list.count < limit {
                let page = try await store.billing.invoices(tenantID: caller.tenantID, subscriptionID: subscription, limit: limit, after: after)
                list += page.filter { invoice in caller.customerID.map { $0 == invoice.customerID } ?? true }
                guard page.count == limit, let last = page.last else { break }
                after = last.id
            }
            return try HTTPHelpers.json(object: list.prefix(limit).map { Self.invoiceObject($0, withLines: false) })
        }
        // JSON by default; `Accept: text/csv` or `application/xml` (UBL 2.1) for ERPs.
        group.get("invoices/{id}") { request, context -> Response in
            let caller = try context.requireCaller()
            let invoice = try await invoice(context, caller)
            let accept = request.headers[.accept] ?? ""
            if accept.contains("application/xml") || accept.contains("text/xml") {
                let tenant = try await store.tenants.tenant(id: caller.tenantID)
                let customer = try await store.customers.customer(tenantID: caller.tenantID, id: invoice.customerID)
                return HTTPHelpers.text(InvoiceDocuments.ubl(invoice, supplierName: tenant?.name ?? caller.tenantID, supplierID: caller.tenantID,
                                                             customer: customer), contentType: "application/xml; charset=utf-8")
            }
            if accept.contains("text/csv") {
                return HTTPHelpers.text(InvoiceDocuments.csv(invoice), contentType: "text/csv; charset=utf-8")
            }
            return try HTTPHelpers.json(object: Self.invoiceObject(invoice, withLines: true))
        }
        group.get("invoices/{id}/explain") { request, context -> Response in
            let caller = try context.requireCaller()
            let invoice = try await invoice(context, caller)
            let language = InvoiceDocuments.language(request.headers[.acceptLanguage])
            var response = try HTTPHelpers.json(object: InvoiceDocuments.explain(invoice, language: language))
            response.headers[.contentLanguage] = language.rawValue
            return response
        }
        group.post("invoices/{id}/payments") { request, context -> Response in
            let caller = try context.requireWriter("record payments")
            let existing = try await invoice(context, caller)
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["amount", "currency"])
            let amount = try fields.amount("amount")
            try Self.requireMinorUnits(amount, existing.currency)
            let currency = try fields.string("currency", max: 3) ?? existing.currency.code
            let changed = try await store.billing.change(tenantID: caller.tenantID, invoiceID: existing.id, .payment(amount),
                                                         currency: currency.uppercased(), atMicros: configuration.nowMicros())
            return try HTTPHelpers.json(object: Self.invoiceObject(changed, withLines: false), status: .created)
        }
        group.post("invoices/{id}/credit-notes") { request, context -> Response in
            let caller = try context.requireWriter("issue credit notes")
            let existing = try await invoice(context, caller)
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["amount", "currency", "reason", "line"])
            var amount: ExactDecimal
            if fields.has("line") {
                // A whole line credited: its amount, as invoiced.
                guard let index = try fields.integer("line", range: 0...10_000), let lines = Self.lines(existing), index < lines.count,
                      let lineAmount = (lines[index]["amount"] as? String).flatMap(ExactDecimal.init), lineAmount > .zero else {
                    throw FieldReader.invalid("line", "no invoice line with a positive amount at this index")
                }
                amount = lineAmount
            } else {
                amount = try fields.amount("amount")
                try Self.requireMinorUnits(amount, existing.currency)
            }
            let currency = try fields.string("currency", max: 3) ?? existing.currency.code
            let reason = try fields.string("reason", max: 500) ?? "credit note"
            let changed = try await store.billing.change(tenantID: caller.tenantID, invoiceID: existing.id, .credit(amount, reason: reason),
                                                         currency: currency.uppercased(), atMicros: configuration.nowMicros())
            return try HTTPHelpers.json(object: Self.invoiceObject(changed, withLines: false), status: .created)
        }
        group.post("invoices/{id}/void") { request, context -> Response in
            let caller = try context.requireWriter("void invoices")
            let existing = try await invoice(context, caller)
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes), allowed: ["reason"])
            let changed = try await store.billing.change(tenantID: caller.tenantID, invoiceID: existing.id,
                                                         .void(reason: try fields.string("reason", max: 500) ?? "voided"),
                                                         currency: existing.currency.code, atMicros: configuration.nowMicros())
            return try HTTPHelpers.json(object: Self.invoiceObject(changed, withLines: false))
        }
        group.post("revenue-shares") { request, context -> Response in
            let caller = try context.requireWriter("set revenue shares")
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["party", "percent", "minimum_per_period", "currency"])
            let party = try fields.requiredString("party", max: 100)
            guard party == "platform" || (party.hasPrefix("partner:") && DocumentValues.isKey(String(party.dropFirst("partner:".count)))) else {
                throw FieldReader.invalid("party", "must be platform or partner:<id>")
            }
            let percent = try fields.amount("percent")
            guard percent <= ExactDecimal(100) else { throw FieldReader.invalid("percent", "must be at most 100") }
            let currency = try fields.currency("currency")
            var minimum = ExactDecimal.zero
            if fields.has("minimum_per_period") {
                minimum = try fields.amount("minimum_per_period")
                try Self.requireMinorUnits(minimum, currency)
            }
            let rule = RevenueShareRule(id: APIKeyMaterial.identifier("rsr"), party: party, percent: percent, minimumPerPeriod: minimum, currency: currency)
            try await store.revenueShares.createRule(tenantID: caller.tenantID, rule, nowMicros: configuration.nowMicros())
            return try HTTPHelpers.json(object: Self.ruleObject(rule), status: .created)
        }
        group.get("revenue-shares") { _, context -> Response in
            let caller = try context.requireWriter("read revenue shares")
            return try HTTPHelpers.json(object: try await store.revenueShares.rules(tenantID: caller.tenantID).map(Self.ruleObject))
        }
        group.get("ledger") { _, context -> Response in
            let caller = try context.requireWriter("read the ledger")
            let entries = try await store.billing.ledger(tenantID: caller.tenantID)
            return try HTTPHelpers.json(object: entries.map { entry -> [String: Any] in
                ["sequence": entry.sequence, "kind": entry.kind, "reference": entry.reference, "at": HTTPHelpers.timestamp(entry.atMicros),
                 "previous_hash": entry.previousHash, "hash": entry.hash,
                 "postings": entry.postings.map { ["account": $0.account, "party": $0.party, "amount": $0.amount.description, "currency": $0.currency] }]
            })
        }
    }

    func invoice(_ context: AppRequestContext, _ caller: Caller) async throws -> Invoice {
        let id = context.parameters.get("id") ?? ""
        // A customer key bound to a customer finds that customer's invoices only.
        guard let invoice = try await store.billing.invoice(tenantID: caller.tenantID, id: id),
              caller.customerID.map({ $0 == invoice.customerID }) ?? true else { throw APIError.notFound("no invoice \(id)") }
        return invoice
    }

    static func ruleObject(_ rule: RevenueShareRule) -> [String: Any] {
        ["id": rule.id, "party": rule.party, "percent": rule.percent.description, "currency": rule.currency.code,
         "minimum_per_period": rule.currency.format(rule.minimumPerPeriod), "period": "calendar month (UTC)"]
    }

    /// Money moves in whole minor units: 9.995 USD cannot be paid.
    static func requireMinorUnits(_ amount: ExactDecimal, _ currency: Currency) throws {
        guard amount.normalized.scale <= currency.minorUnits else {
            throw FieldReader.invalid("amount", "\(currency.code) has \(currency.minorUnits) decimal places")
        }
    }

    static func lines(_ invoice: Invoice) -> [[String: Any]]? {
        try? JSONSerialization.jsonObject(with: Data(invoice.lines.utf8)) as? [[String: Any]]
    }

    static func invoiceObject(_ invoice: Invoice, withLines: Bool) -> [String: Any] {
        let currency = invoice.currency
        var object: [String: Any] = [
            "id": invoice.id, "subscription": invoice.subscriptionID, "customer": invoice.customerID,
            "period_start": HTTPHelpers.timestamp(invoice.period.startMicros), "period_end": HTTPHelpers.timestamp(invoice.period.endMicros),
            "currency": currency.code, "status": invoice.state.status.rawValue, "number": invoice.number.map { $0 as Any } ?? NSNull(),
            "total": currency.format(invoice.state.total), "amount_paid": currency.format(invoice.state.paid),
            "amount_credited": currency.format(invoice.state.credited), "amount_due": currency.format(invoice.state.amountDue),
            "contract_sha256": invoice.contractSHA256, "grace_until": HTTPHelpers.timestamp(invoice.graceUntilMicros),
            "rounding": "half-even to \(currency.minorUnits) decimal places, once per line",
        ]
        object["finalized_at"] = invoice.finalizedAtMicros.map(HTTPHelpers.timestamp)
        if withLines {
            object["lines"] = lines(invoice) ?? []
            object["evidence"] = (try? JSONSerialization.jsonObject(with: Data(invoice.evidence.utf8))) ?? [:]
        }
        return object
    }
}
