import Foundation
import HourmeterCore
import HourmeterStore

/// An invoice in the forms other systems and people read: CSV and UBL 2.1 XML for ERPs, and a
/// plain-language explanation per line in English or Simplified Chinese.
enum InvoiceDocuments {
    static func lines(_ invoice: Invoice) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(invoice.lines.utf8)) as? [[String: Any]]) ?? []
    }

    // MARK: CSV

    static func csv(_ invoice: Invoice) -> String {
        var text = "invoice_number,line,kind,charge,meter,quantity,amount,currency,period_start,period_end\r\n"
        let start = RFC3339.format(microseconds: invoice.period.startMicros), end = RFC3339.format(microseconds: invoice.period.endMicros)
        for (index, line) in lines(invoice).enumerated() {
            let fields = [invoice.number ?? "", String(index + 1), line["kind"] as? String ?? "", line["charge"] as? String ?? "",
                          line["meter"] as? String ?? "", line["quantity"] as? String ?? "", line["amount"] as? String ?? "",
                          invoice.currency.code, start, end]
            text += fields.map(csvField).joined(separator: ",") + "\r\n"
        }
        return text
    }

    /// RFC 4180 quoting; a leading = + - @ is prefixed with ' so spreadsheets do not run it.
    static func csvField(_ value: String) -> String {
        var value = value
        if let first = value.first, "=+-@".contains(first), Double(value) == nil { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: UBL 2.1

    /// A UBL 2.1 Invoice: supplier (the maker's tenant), customer, one `InvoiceLine` per line,
    /// and monetary totals whose line sum equals the payable amount (no tax is computed here).
    static func ubl(_ invoice: Invoice, supplierName: String, supplierID: String, customer: Customer?) -> String {
        let code = invoice.currency.code
        let issue = RFC3339.format(microseconds: invoice.finalizedAtMicros ?? invoice.createdAtMicros).prefix(10)
        let total = invoice.currency.format(invoice.state.total)
        var xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" \
            xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" \
            xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
              <cbc:UBLVersionID>2.1</cbc:UBLVersionID>
              <cbc:ID>\(escape(invoice.number ?? invoice.id))</cbc:ID>
              <cbc:IssueDate>\(issue)</cbc:IssueDate>
              <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
              <cbc:Note>\(escape("status \(invoice.state.status.rawValue); contract \(invoice.contractSHA256)"))</cbc:Note>
              <cbc:DocumentCurrencyCode>\(code)</cbc:DocumentCurrencyCode>
              <cac:InvoicePeriod>
                <cbc:StartDate>\(RFC3339.format(microseconds: invoice.period.startMicros).prefix(10))</cbc:StartDate>
                <cbc:EndDate>\(RFC3339.format(microseconds: invoice.period.endMicros).prefix(10))</cbc:EndDate>
              </cac:InvoicePeriod>
              <cac:AccountingSupplierParty><cac:Party>
                <cac:PartyIdentification><cbc:ID>\(escape(supplierID))</cbc:ID></cac:PartyIdentification>
                <cac:PartyName><cbc:Name>\(escape(supplierName))</cbc:Name></cac:PartyName>
              </cac:Party></cac:AccountingSupplierParty>
              <cac:AccountingCustomerParty><cac:Party>
                <cac:PartyIdentification><cbc:ID>\(escape(invoice.customerID))</cbc:ID></cac:PartyIdentification>
                <cac:PartyName><cbc:Name>\(escape(customer?.name ?? invoice.customerID))</cbc:Name></cac:PartyName>

            """
        if let taxID = customer?.taxID {
            xml += "      <cac:PartyTaxScheme><cbc:CompanyID>\(escape(taxID))</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>\n"
        }
        xml += """
              </cac:Party></cac:AccountingCustomerParty>
              <cac:LegalMonetaryTotal>
                <cbc:LineExtensionAmount currencyID="\(code)">\(total)</cbc:LineExtensionAmount>
                <cbc:TaxExclusiveAmount currencyID="\(code)">\(total)</cbc:TaxExclusiveAmount>
                <cbc:TaxInclusiveAmount currencyID="\(code)">\(total)</cbc:TaxInclusiveAmount>
                <cbc:PrepaidAmount currencyID="\(code)">\(invoice.currency.format(invoice.state.paid))</cbc:PrepaidAmount>
                <cbc:PayableAmount currencyID="\(code)">\(invoice.currency.format(invoice.state.amountDue))</cbc:PayableAmount>
              </cac:LegalMonetaryTotal>

            """
        for (index, line) in lines(invoice).enumerated() {
            let amount = line["amount"] as? String ?? "0"
            let quantity = (line["quantity"] as? String).flatMap(ExactDecimal.init) ?? .one
            let name = "\(line["kind"] as? String ?? "line"): \(line["charge"] as? String ?? "")"
            // The price of one unit is not always a number a line can show (tiers, fees): the
            // line's amount over its quantity is given to the currency's digits, as UBL expects.
            let price = quantity.isZero ? amount
                : ((try? (ExactDecimal(amount) ?? .zero).divided(by: quantity, scale: max(invoice.currency.minorUnits, 6)).normalized.description) ?? amount)
            xml += """
                  <cac:InvoiceLine>
                    <cbc:ID>\(index + 1)</cbc:ID>
                    <cbc:InvoicedQuantity unitCode="C62">\(quantity.description)</cbc:InvoicedQuantity>
                    <cbc:LineExtensionAmount currencyID="\(code)">\(escape(amount))</cbc:LineExtensionAmount>
                    <cac:Item><cbc:Name>\(escape(name))</cbc:Name></cac:Item>
                    <cac:Price><cbc:PriceAmount currencyID="\(code)">\(price)</cbc:PriceAmount></cac:Price>
                  </cac:InvoiceLine>

                """
        }
        return xml + "</Invoice>\n"
    }

    /// XML text and attribute values: the same five characters as HTML's (one helper for both).
    static func escape(_ text: String) -> String { HTML.escape(text) }

    // MARK: Explanations

    enum Language: String { case en, zh = "zh-Hans" }

    /// The language an `Accept-Language` header asks for: Chinese for any `zh` tag ranked
    /// above English, English otherwise.
    static func language(_ header: String?) -> Language {
        guard let header else { return .en }
        var best: (Language, Double)?
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let tag = pieces.first else { continue }
            let weight = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let language: Language? = tag.hasPrefix("zh") ? .zh : tag.hasPrefix("en") ? .en : nil
            if let language, weight > (best?.1 ?? 0) { best = (language, weight) }
        }
        return best?.0 ?? .en
    }

    static func explain(_ invoice: Invoice, language: Language) -> [String: Any] {
        let code = invoice.currency.code
        let period = "\(RFC3339.format(microseconds: invoice.period.startMicros)) – \(RFC3339.format(microseconds: invoice.period.endMicros))"
        let lines = lines(invoice).enumerated().map { index, line -> [String: Any] in
            let charge = line["charge"] as? String ?? ""
            let amount = line["amount"] as? String ?? "0"
            let steps = (line["decomposition"] as? [[String: Any]] ?? []).map { step in
                language == .zh ? chineseStep(step, minorUnits: invoice.currency.minorUnits) : englishStep(step)
            }
            let headline: String
            switch (language, line["kind"] as? String) {
            case (.zh, "usage"): headline = "第 \(index + 1) 行 用量费 \(charge)（计量 \(line["meter"] as? String ?? "")，用量 \(line["quantity"] as? String ?? "0")）：\(amount) \(code)"
            case (.zh, "recurring_fee"): headline = "第 \(index + 1) 行 周期费用 \(charge)：\(amount) \(code)"
            case (.zh, "sla"): headline = "第 \(index + 1) 行 服务等级 \(charge)：\(amount) \(code)"
            case (.zh, _): headline = "第 \(index + 1) 行 最低消费补足：\(amount) \(code)"
            case (_, "usage"): headline = "Line \(index + 1), usage charge \(charge) (meter \(line["meter"] as? String ?? ""), \(line["quantity"] as? String ?? "0") units used): \(amount) \(code)"
            case (_, "recurring_fee"): headline = "Line \(index + 1), recurring fee \(charge): \(amount) \(code)"
            case (_, "sla"): headline = "Line \(index + 1), service level \(charge): \(amount) \(code)"
            case (_, _): headline = "Line \(index + 1), minimum commitment top-up: \(amount) \(code)"
            }
            return ["line": index + 1, "charge": charge, "amount": amount, "headline": headline, "steps": steps,
                    "text": ([headline] + steps.map { "  • " + $0 }).joined(separator: "\n")]
        }
        let summary = language == .zh
            ? "发票 \(invoice.number ?? "（草稿）")，账期 \(period)：合计 \(invoice.currency.format(invoice.state.total)) \(code)，已付 \(invoice.currency.format(invoice.state.paid))，应付 \(invoice.currency.format(invoice.state.amountDue))。每行金额只舍入一次（银行家舍入）。"
            : "Invoice \(invoice.number ?? "(draft)") for \(period): total \(invoice.currency.format(invoice.state.total)) \(code), paid \(invoice.currency.format(invoice.state.paid)), due \(invoice.currency.format(invoice.state.amountDue)). Each line is rounded once, half-even."
        return ["language": language.rawValue, "invoice": invoice.id, "summary": summary, "lines": lines]
    }

    static func englishStep(_ step: [String: Any]) -> String {
        let amount = step["amount"] as? String ?? "0"
        return "\(step["description"] as? String ?? step["kind"] as? String ?? ""): \(amount)"
    }

    static func chineseStep(_ step: [String: Any], minorUnits: Int) -> String {
        let quantity = step["quantity"] as? String ?? "0", rate = step["rate"] as? String ?? "0", amount = step["amount"] as? String ?? "0"
        switch step["kind"] as? String ?? "" {
        case "unit": return "\(quantity) 单位 × 单价 \(rate) = \(amount)"
        case "tier": return "阶梯计价：\(quantity) 单位 × \(rate) = \(amount)"
        case "flat": return "进入该档的固定费用：\(amount)"
        case "package": return "\(quantity) 个计费包 × \(rate) = \(amount)"
        case "free": return "免费额度：\(quantity)"
        case "percentage": return "按比例计费：\(quantity) × \(rate) = \(amount)"
        case "fixed": return "\(quantity) 笔交易 × 每笔固定费用 \(rate) = \(amount)"
        case "minimum": return "\(quantity) 笔交易补足至单笔最低收费：\(amount)"
        case "maximum": return "\(quantity) 笔交易按单笔最高收费封顶：\(amount)"
        case "multiplier": return "设备状态/时段系数：\(quantity) 单位 × \(rate) = 计费用量 \(step["weighted_quantity"] as? String ?? quantity)"
        case "volume_discount": return "累计用量折扣：\(amount)"
        case "surcharge": return "附加费：\(amount)"
        case "recurring_fee": return "周期费用：\(amount)"
        case "proration": return "按服务天数折算：\(amount)"
        case "sla": return "服务等级费用：\(amount)"
        case "commitment": return "最低消费承诺：\(amount)"
        case "rounding": return "舍入至 \(minorUnits) 位小数（银行家舍入，每行一次）：\(amount)"
        default: return "\(step["kind"] as? String ?? "")：\(amount)"
        }
    }
}
