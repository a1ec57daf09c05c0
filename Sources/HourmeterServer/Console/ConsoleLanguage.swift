import Foundation
import HourmeterCore

/// The console's two languages. Chosen by the `hm_lang` cookie (set by the switch on every
/// page), else by `Accept-Language` (the first of `zh…` or `en…` by quality), else English.
enum ConsoleLanguage: String, Sendable, CaseIterable {
    case en, zh

    static func choose(cookie: String?, acceptLanguage: String?) -> ConsoleLanguage {
        if let cookie, let language = ConsoleLanguage(rawValue: cookie) { return language }
        guard let header = acceptLanguage else { return .en }
        // "zh-CN,zh;q=0.9,en;q=0.8": highest quality first, ties in order.
        let ranked = header.split(separator: ",").enumerated().compactMap { index, part -> (String, Double, Int)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first?.lowercased(), !tag.isEmpty else { return nil }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (tag, quality, index)
        }.sorted { ($0.1, -$0.2) > ($1.1, -$1.2) }
        for (tag, quality, _) in ranked where quality > 0 {
            if tag.hasPrefix("zh") { return .zh }
            if tag.hasPrefix("en") { return .en }
        }
        return .en
    }

    var htmlTag: String { self == .zh ? "zh-Hans" : "en" }

    /// The other language, for the switch.
    var other: ConsoleLanguage { self == .en ? .zh : .en }
    var name: String { self == .en ? "English" : "简体中文" }

    /// An amount with the currency's symbol, grouped by thousands, all minor-unit digits:
    /// "CN¥12,345.60" in English, "¥12,345.60" in Chinese (each locale's usual symbol).
    func money(_ amount: ExactDecimal, _ currency: Currency) -> String {
        let text = currency.format(amount)
        let negative = text.hasPrefix("-")
        let digits = negative ? String(text.dropFirst()) : text
        let parts = digits.split(separator: ".", maxSplits: 1)
        var whole = String(parts[0])
        var grouped = ""
        while whole.count > 3 {
            grouped = "," + whole.suffix(3) + grouped
            whole = String(whole.dropLast(3))
        }
        grouped = whole + grouped
        let number = parts.count > 1 ? grouped + "." + parts[1] : grouped
        return (negative ? "-" : "") + symbol(currency.code) + number
    }

    func symbol(_ code: String) -> String {
        switch (self, code) {
        case (.en, "CNY"): "CN¥"
        case (.zh, "CNY"): "¥"
        case (.en, "USD"): "$"
        case (.zh, "USD"): "US$"
        case (_, "EUR"): "€"
        case (.en, "JPY"): "¥"
        case (.zh, "JPY"): "JP¥"
        case (_, "GBP"): "£"
        default: code + " "
        }
    }

    /// A calendar date in the given time zone: "2026-11-26" / "2026年11月26日".
    func date(_ micros: Int64, timeZone: String = "UTC") -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        let (year, month, day) = (parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
        return self == .zh ? "\(year)年\(month)月\(day)日" : String(format: "%04d-%02d-%02d", year, month, day)
    }

    /// A month: "Nov 2026" / "2026年11月".
    func month(year: Int, month: Int) -> String {
        if self == .zh { return "\(year)年\(month)月" }
        let names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(names[max(0, min(11, month - 1))]) \(year)"
    }

    /// A number with `digits` decimals (indices, velocities: measurements, not money).
    func number(_ value: Double, digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

    func text(_ key: ConsoleText) -> String { self == .en ? key.english : key.chinese }
}

/// Every sentence the console shows, in both languages.
enum ConsoleText {
    case product, signIn, signInTitle, signInHelp, apiKey, signOut, wrongKey, overview, fleet, devices, device, customers, plans, invoices,
         invoice, home, revenueThisMonth, revenueByMonth, activeSubscriptions, devicesByZone, zone, healthIndex, state, openAlarms, trend,
         velocity, usageByState, stateTimeline, customer, status, total, period, number, amountDue, line, quantity, rate, amount,
         decomposition, rule, noData, notFound, notFoundHelp, forbidden, csrfFailed, priceAgainstUsage, charge, usageThisPeriod,
         projectedBill, projectedHelp, runHours, serial, tableEquivalent, unknownZone, back, partnerNoPages,
         noCustomerBound, subscriptionTotal, unboundHelp, failed, failedHelp, creditNotes

    var english: String {
        switch self {
        case .product: "Hourmeter console"
        case .signIn: "Sign in"
        case .signInTitle: "Sign in with an API key"
        case .signInHelp: "Paste a maker, operator or customer key (hm_…). It is exchanged for a session; the key itself is not kept in the browser."
        case .apiKey: "API key"
        case .signOut: "Sign out"
        case .wrongKey: "That key is not valid or has been revoked. Nothing was changed."
        case .overview: "Overview"
        case .fleet: "Fleet"
        case .devices: "Devices"
        case .device: "Device"
        case .customers: "Customers"
        case .plans: "Plans"
        case .invoices: "Invoices"
        case .invoice: "Invoice"
        case .home: "Home"
        case .revenueThisMonth: "Revenue posted this month"
        case .revenueByMonth: "Revenue by month earned and stream, last 12 months"
        case .activeSubscriptions: "Active subscriptions"
        case .devicesByZone: "Devices by health zone"
        case .zone: "Zone"
        case .healthIndex: "Health index"
        case .state: "State"
        case .openAlarms: "Open alarms"
        case .trend: "Trend"
        case .velocity: "Velocity (mm/s RMS)"
        case .usageByState: "Usage by state"
        case .stateTimeline: "State, last 7 days"
        case .customer: "Customer"
        case .status: "Status"
        case .total: "Total"
        case .period: "Period"
        case .number: "Number"
        case .amountDue: "Amount due"
        case .line: "Line"
        case .quantity: "Quantity"
        case .rate: "Rate"
        case .amount: "Amount"
        case .decomposition: "How each line is computed"
        case .rule: "Rule"
        case .noData: "No data yet."
        case .notFound: "Not found"
        case .notFoundHelp: "There is nothing here for this sign-in. Nothing was changed."
        case .forbidden: "Refused"
        case .csrfFailed: "This form was not sent from this console (its security token is missing or wrong). Nothing was changed."
        case .priceAgainstUsage: "Price against usage"
        case .charge: "Charge"
        case .usageThisPeriod: "Usage this period"
        case .projectedBill: "Projected bill"
        case .projectedHelp: "This period's fees and usage so far, with usage continued at the same pace to the period's end."
        case .runHours: "Run hours"
        case .serial: "Serial"
        case .tableEquivalent: "The chart's figures"
        case .unknownZone: "no data"
        case .back: "Back"
        case .partnerNoPages: "Partner keys have no console pages yet; use the API."
        case .noCustomerBound: "This customer key is not bound to a customer"
        case .subscriptionTotal: "Subtotal"
        case .unboundHelp: "Create the key with {\"role\":\"customer\",\"customer\":\"cus_…\"} to see that customer's devices and invoices."
        case .failed: "Something went wrong"
        case .failedHelp: "The page could not be made (the request was refused or the server could not reach its data). Nothing was changed; try again."
        case .creditNotes: "Credit notes"
        }
    }

    var chinese: String {
        switch self {
        case .product: "Hourmeter 控制台"
        case .signIn: "登录"
        case .signInTitle: "使用 API 密钥登录"
        case .signInHelp: "粘贴制造商、运营方或客户密钥（hm_…）。密钥将换取会话，浏览器中不保存密钥本身。"
        case .apiKey: "API 密钥"
        case .signOut: "退出"
        case .wrongKey: "该密钥无效或已被吊销。未做任何更改。"
        case .overview: "概览"
        case .fleet: "设备群"
        case .devices: "设备"
        case .device: "设备"
        case .customers: "客户"
        case .plans: "价格方案"
        case .invoices: "发票"
        case .invoice: "发票"
        case .home: "首页"
        case .revenueThisMonth: "本月入账收入"
        case .revenueByMonth: "近 12 个月按服务月份和来源的收入"
        case .activeSubscriptions: "有效订阅"
        case .devicesByZone: "按健康区域划分的设备"
        case .zone: "区域"
        case .healthIndex: "健康指数"
        case .state: "状态"
        case .openAlarms: "未关闭告警"
        case .trend: "趋势"
        case .velocity: "振动速度（mm/s 有效值）"
        case .usageByState: "按状态的使用量"
        case .stateTimeline: "近 7 天状态"
        case .customer: "客户"
        case .status: "状态"
        case .total: "合计"
        case .period: "账期"
        case .number: "编号"
        case .amountDue: "应付金额"
        case .line: "明细"
        case .quantity: "数量"
        case .rate: "单价"
        case .amount: "金额"
        case .decomposition: "每项明细的计算方式"
        case .rule: "规则"
        case .noData: "暂无数据。"
        case .notFound: "未找到"
        case .notFoundHelp: "当前登录下没有此内容。未做任何更改。"
        case .forbidden: "已拒绝"
        case .csrfFailed: "此表单并非由本控制台提交（安全令牌缺失或错误）。未做任何更改。"
        case .priceAgainstUsage: "价格与使用量"
        case .charge: "计费项"
        case .usageThisPeriod: "本期使用量"
        case .projectedBill: "预计账单"
        case .projectedHelp: "本期费用及迄今使用量，使用量按当前速度推算至账期结束。"
        case .runHours: "运行小时"
        case .serial: "序列号"
        case .tableEquivalent: "图表数据"
        case .unknownZone: "无数据"
        case .back: "返回"
        case .partnerNoPages: "合作伙伴密钥暂无控制台页面，请使用 API。"
        case .noCustomerBound: "此客户密钥未绑定客户"
        case .subscriptionTotal: "小计"
        case .unboundHelp: "创建密钥时使用 {\"role\":\"customer\",\"customer\":\"cus_…\"}，即可查看该客户的设备和发票。"
        case .failed: "出现问题"
        case .failedHelp: "无法生成此页面（请求被拒绝或服务器无法读取数据）。未做任何更改，请重试。"
        case .creditNotes: "贷项通知"
        }
    }
}
