import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// The console's pages. Each reads what it shows in bulk (one grouped query for the trends of
/// a whole fleet, lists page by page); the overview reads the tenant's ledger, which grows with
/// its history (a summary table is the next step when that matters).
extension ConsoleRoutes {
    static let day: Int64 = 86_400_000_000
    static let revenueStreams: [(account: LedgerAccount, en: String, zh: String)] = [
        (.revenueSubscription, "Subscriptions", "订阅"), (.revenueUsage, "Usage", "用量"), (.revenueAPI, "API", "API"),
        (.revenueMarketplace, "Marketplace", "服务市场"), (.revenueData, "Data products", "数据产品"),
    ]

    // MARK: Maker

    func overview(_ visit: Visit) async throws -> Response {
        let t = visit.language.text, language = visit.language
        let tenantID = visit.caller.tenantID, now = configuration.nowMicros()
        // Revenue by month and stream from the ledger: credits to revenue accounts, less credit notes.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: Double(now) / 1e6))
        let months: [(year: Int, month: Int)] = (0..<12).reversed().map { back in
            let index = today.year! * 12 + today.month! - 1 - back
            return (index / 12, index % 12 + 1)
        }
        // Revenue by currency and stream from the ledger: credits to revenue accounts (sign
        // turned), credit notes apart. Every entry refers to an invoice: the chart places it in
        // the month that invoice's service was earned (its period's middle; its start is local
        // midnight, the day before in UTC east of Greenwich), so a void or credit note lands in
        // the month it corrects. The card counts what was posted this calendar month.
        let invoices = try await allInvoices(tenantID)
        let earned = Dictionary(invoices.map { ($0.id, $0.period.startMicros + ($0.period.endMicros - $0.period.startMicros) / 2) }, uniquingKeysWith: { a, _ in a })
        func monthKey(_ micros: Int64) -> String {
            let parts = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: Double(micros) / 1e6))
            return "\(parts.year!)-\(parts.month!)"
        }
        let thisMonthKey = "\(today.year!)-\(today.month!)"
        let creditNotes = "contra"
        var revenue: [String: [String: [String: ExactDecimal]]] = [:]  // currency → stream → "yyyy-m" → amount
        var thisMonth: [String: ExactDecimal] = [:]
        for entry in try await store.billing.ledger(tenantID: tenantID) {
            let key = monthKey(earned[entry.reference] ?? entry.atMicros), posted = monthKey(entry.atMicros)
            for posting in entry.postings where posting.account.hasPrefix("revenue:") || posting.account == LedgerAccount.creditNotes.rawValue {
                let stream = posting.account == LedgerAccount.creditNotes.rawValue ? creditNotes : posting.account
                let amount = posting.amount.negated()
                revenue[posting.currency, default: [:]][stream, default: [:]][key] = try (revenue[posting.currency]?[stream]?[key] ?? .zero).adding(amount)
                if posted == thisMonthKey { thisMonth[posting.currency] = try (thisMonth[posting.currency] ?? .zero).adding(amount) }
            }
        }
        let subscriptions = try await allSubscriptions(tenantID)
        let active = subscriptions.filter { $0.startMicros <= now && ($0.endsAtMicros.map { $0 > now } ?? true) }.count
        let fleet = try await store.health.fleet(tenantID: tenantID, limit: 10_000)
        var zones: [String: Int] = [:]
        for device in fleet { zones[device.health?.zone ?? "none", default: 0] += 1 }
        let alarms = try await store.health.alarms(tenantID: tenantID, status: "open", serial: nil, limit: 1_000).count

        var body = "<div class=\"cards\">"
        let currencies = revenue.keys.sorted()
        for code in currencies.isEmpty ? ["CNY"] : currencies {
            let currency = Currency(code: code) ?? Currency(code: "CNY")!
            let amount = thisMonth[code] ?? .zero
            body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.revenueThisMonth)))</div><div class=\"value\" data-amount=\"\(currency.format(amount))\">\(HTML.escape(language.money(amount, currency)))</div></div>"
        }
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.activeSubscriptions)))</div><div class=\"value\">\(active)</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.openAlarms)))</div><div class=\"value\">\(alarms)</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.devicesByZone)))</div><div>"
        body += ["A", "B", "C", "D", "none"].map { "\(HTML.zoneBadge($0 == "none" ? nil : $0, language)) \(zones[$0] ?? 0)" }.joined(separator: " &nbsp; ")
        body += "</div></div></div>"
        for code in currencies {
            let currency = Currency(code: code) ?? Currency(code: "CNY")!
            let byStream = revenue[code] ?? [:]
            var streams = Self.revenueStreams.filter { byStream[$0.account.rawValue] != nil }.map { ($0.account.rawValue, language == .en ? $0.en : $0.zh) }
            if byStream[creditNotes] != nil { streams.append((creditNotes, t(.creditNotes))) }
            let keys = months.map { "\($0.year)-\($0.month)" }
            body += "<h2>\(HTML.escape(t(.revenueByMonth))) (\(HTML.escape(code)))</h2>"
            body += SVGChart.stackedBars(
                title: "\(t(.revenueByMonth)) (\(code))", labels: months.map { language.month(year: $0.year, month: $0.month) },
                series: streams.map { stream in (stream.1, keys.map { Double(byStream[stream.0]?[$0]?.description ?? "0") ?? 0 }) },
                format: { value in language.money(ExactDecimal(Int(min(max(value, -9e15), 9e15).rounded())), currency) },
                cells: keys.map { key in streams.map { language.money(byStream[$0.0]?[key] ?? .zero, currency) } },
                language: language)
        }
        body += "<h2>\(HTML.escape(t(.devicesByZone)))</h2>"
        body += HTML.table(headers: [t(.zone), t(.devices)], rows: ["A", "B", "C", "D", "none"].map { [HTML.zoneBadge($0 == "none" ? nil : $0, language), "\(zones[$0] ?? 0)"] }, numeric: [1])
        return render(visit, title: t(.overview), body: body)
    }

    func fleet(_ visit: Visit) async throws -> Response {
        let t = visit.language.text, language = visit.language
        let tenantID = visit.caller.tenantID, now = configuration.nowMicros()
        let names = Dictionary(try await allCustomers(tenantID).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let owners = Dictionary(try await allDevices(tenantID, customerID: nil).map { ($0.serial, $0.customerID) }, uniquingKeysWith: { a, _ in a })
        var rows: [[String]] = []
        let fleet = try await store.health.fleet(tenantID: tenantID, limit: 10_000)
        let trends = try await store.health.trends(tenantID: tenantID, serials: fleet.map(\.serial), fromMicros: now - 30 * Self.day, toMicros: now, buckets: 30)
        for device in fleet {
            let trend = trends[device.serial] ?? []
            let link = Self.deviceLink(device.serial)
            rows.append([
                "<a href=\"\(HTML.escape(link))\">\(HTML.escape(device.serial))</a>",
                HTML.escape(owners[device.serial].flatMap { $0 }.flatMap { names[$0] } ?? "–"),
                HTML.zoneBadge(device.health?.zone, language),
                device.health.map { language.number($0.index) } ?? "–",
                SVGChart.sparkline(trend.map(\.meanIndex), label: "\(t(.healthIndex)) \(device.serial), 30 d", maximum: 100),
                HTML.escape(device.health?.state ?? "–"),
                "\(device.openAlarms)",
            ])
        }
        let body = HTML.table(headers: [t(.serial), t(.customer), t(.zone), t(.healthIndex), t(.trend), t(.state), t(.openAlarms)],
                              rows: rows, numeric: [3, 6])
        return render(visit, title: t(.fleet), body: rows.isEmpty ? "<p class=\"muted\">\(HTML.escape(t(.noData)))</p>" : body)
    }

    func customers(_ visit: Visit) async throws -> Response {
        let t = visit.language.text
        let tenantID = visit.caller.tenantID
        let devices = try await allDevices(tenantID, customerID: nil)
        let subscriptions = try await allSubscriptions(tenantID)
        let rows = try await allCustomers(tenantID).map { customer -> [String] in
            let plans = Set(subscriptions.filter { $0.customerID == customer.id }.map { "\($0.planKey) v\($0.planVersion)" }).sorted()
            return [HTML.escape(customer.name), HTML.escape(customer.currency.code), HTML.escape(customer.timeZone),
                    "\(devices.filter { $0.customerID == customer.id }.count)", HTML.escape(plans.joined(separator: ", "))]
        }
        return render(visit, title: t(.customers), body: HTML.table(headers: [t(.customer), "¤", "TZ", t(.devices), t(.plans)], rows: rows, numeric: [3]))
    }

    func plans(_ visit: Visit) async throws -> Response {
        let t = visit.language.text, language = visit.language
        var body = ""
        for plan in try await store.plans.plans(tenantID: visit.caller.tenantID, limit: 100, after: nil) {
            guard let published = try await store.plans.version(tenantID: visit.caller.tenantID, planKey: plan.key, number: nil) else { continue }
            let version = published.version
            body += "<h2>\(HTML.escape(plan.name)) <span class=\"muted\">(\(HTML.escape(plan.key)) v\(published.number), \(HTML.escape(version.currency.code)), \(HTML.escape(version.interval.rawValue)))</span></h2>"
            if !version.recurringFees.isEmpty {
                body += HTML.table(headers: [t(.charge), t(.amount)], rows: version.recurringFees.map {
                    [HTML.escape($0.name ?? $0.key), HTML.escape(language.money($0.amount, version.currency))]
                }, numeric: [1])
            }
            for charge in version.charges {
                // Price against usage: the charge's model at 21 quantities up to a scale that shows its tiers.
                let top = Self.chartScale(charge.model)
                let quantities = (0...20).map { try! ExactDecimal(top).multiplied(by: ExactDecimal($0)).divided(by: ExactDecimal(20), scale: 6) }
                let exact = quantities.map { quantity in try? charge.model.rate(units: quantity).amount }
                let amounts = exact.map { $0.flatMap { Double($0.description) } }
                body += "<h3>\(HTML.escape(t(.priceAgainstUsage))): \(HTML.escape(charge.name ?? charge.key)) <span class=\"muted\">(\(HTML.escape(charge.model.name)), \(HTML.escape(charge.meter)))</span></h3>"
                body += SVGChart.lines(title: "\(t(.priceAgainstUsage)): \(charge.name ?? charge.key)", xLabels: quantities.map { Self.short($0) },
                                       series: [("\(t(.amount)) (\(version.currency.code))", amounts)],
                                       cells: exact.map { [$0.map { language.money($0, version.currency) } ?? "–"] }, language: language, height: 200)
            }
        }
        return render(visit, title: t(.plans), body: body.isEmpty ? "<p class=\"muted\">\(HTML.escape(t(.noData)))</p>" : body)
    }

    static func short(_ value: ExactDecimal) -> String {
        let text = value.description
        return text.contains(".") ? String(text.prefix(8)) : text
    }

    /// A usage scale that shows a model's tiers: twice its last boundary, else 1,000 units.
    static func chartScale(_ model: ChargeModel) -> Int {
        var ranges: [PriceRange] = []
        switch model {
        case .graduated(let list), .volume(let list), .graduatedPercentage(let list): ranges = list
        case .package(_, let size, let free): return Int(min(max(10, ((Double(free.description) ?? 0) + 10 * (Double(size.description) ?? 100)).rounded(.up)), 1e12))
        default: break
        }
        let boundaries = ranges.compactMap { $0.toValue ?? ($0.fromValue.isZero ? nil : $0.fromValue) }.compactMap { Double($0.description) }
        guard let last = boundaries.max(), last > 0 else { return 1_000 }
        return Int(min(max(10, (last * 2).rounded(.up)), 1e12))
    }

    // MARK: Customer

    func home(_ visit: Visit) async throws -> Response {
        let t = visit.language.text, language = visit.language
        guard visit.isCustomer else { return HTML.redirect("/console/overview") }
        guard let customerID = visit.caller.customerID else {
            return render(visit, title: t(.noCustomerBound), body: "<p class=\"muted\">\(HTML.escape(t(.unboundHelp)))</p>")
        }
        let tenantID = visit.caller.tenantID, now = configuration.nowMicros()
        let devices = try await allDevices(tenantID, customerID: customerID)
        let fleet = Dictionary(try await store.health.fleet(tenantID: tenantID, limit: 10_000).map { ($0.serial, $0) }, uniquingKeysWith: { a, _ in a })
        let trends = try await store.health.trends(tenantID: tenantID, serials: devices.map(\.serial), fromMicros: now - 30 * Self.day, toMicros: now, buckets: 30)
        var body = "<h2>\(HTML.escape(t(.devices)))</h2>"
        var rows: [[String]] = []
        for device in devices.sorted(by: { (fleet[$0.serial]?.health?.zone ?? "", $0.serial) > (fleet[$1.serial]?.health?.zone ?? "", $1.serial) }) {
            let health = fleet[device.serial]?.health
            let trend = trends[device.serial] ?? []
            rows.append(["<a href=\"\(HTML.escape(Self.deviceLink(device.serial)))\">\(HTML.escape(device.serial))</a>", HTML.zoneBadge(health?.zone, language),
                         health.map { language.number($0.index) } ?? "–", SVGChart.sparkline(trend.map(\.meanIndex), label: "\(t(.healthIndex)) \(device.serial)", maximum: 100),
                         HTML.escape(health?.state ?? "–")])
        }
        body += HTML.table(headers: [t(.serial), t(.zone), t(.healthIndex), t(.trend), t(.state)], rows: rows, numeric: [2])
        // This period: usage so far and the projected bill, per subscription.
        let projection = BillingProjection(store: store)
        for subscription in try await allSubscriptions(tenantID) where subscription.customerID == customerID {
            guard let result = try await projection.project(tenantID: tenantID, subscription: subscription, atMicros: now) else { continue }
            body += "<h2>\(HTML.escape(t(.usageThisPeriod))) · \(HTML.escape(subscription.planKey)) · \(HTML.escape(language.date(result.period.startMicros, timeZone: subscription.timeZone))) – \(HTML.escape(language.date(result.period.endMicros - 1, timeZone: subscription.timeZone)))</h2>"
            body += HTML.table(headers: [t(.charge), t(.quantity), t(.amount), t(.projectedBill)], rows: result.usage.map {
                [HTML.escape($0.charge), HTML.escape($0.quantity.map { Self.short($0) } ?? "–"), HTML.escape(language.money($0.soFar, result.currency)),
                 HTML.escape(language.money($0.projected, result.currency))]
            }, numeric: [1, 2, 3])
            body += "<div class=\"cards\"><div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.subscriptionTotal)))</div><div class=\"value\">\(HTML.escape(language.money(result.soFar.total, result.currency)))</div></div>"
            body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.projectedBill)))</div><div class=\"value\" data-amount=\"\(result.currency.format(result.projectedTotal))\">\(HTML.escape(language.money(result.projectedTotal, result.currency)))</div></div></div>"
            body += "<p class=\"muted\">\(HTML.escape(t(.projectedHelp)))</p>"
        }
        return render(visit, title: t(.home), body: body)
    }

    // MARK: Shared

    /// The invoices a visitor may see: all of the tenant's for a maker, the bound customer's for a customer key.
    func visibleInvoices(_ visit: Visit) async throws -> [Invoice] {
        let all = try await allInvoices(visit.caller.tenantID)
        guard visit.isCustomer else { return all }
        guard let customerID = visit.caller.customerID else { return [] }
        return all.filter { $0.customerID == customerID }
    }

    func invoices(_ visit: Visit) async throws -> Response {
        let t = visit.language.text, language = visit.language
        let names = Dictionary(try await allCustomers(visit.caller.tenantID).map { ($0.id, ($0.name, $0.timeZone)) },
                               uniquingKeysWith: { a, _ in a })
        let rows = try await visibleInvoices(visit).sorted { ($0.period.startMicros, $0.id) > ($1.period.startMicros, $1.id) }.map { invoice -> [String] in
            let zone = names[invoice.customerID]?.1 ?? "UTC"
            return ["<a href=\"/console/invoices/\(HTML.escape(invoice.id))\">\(HTML.escape(invoice.number ?? invoice.id))</a>",
                    HTML.escape(names[invoice.customerID]?.0 ?? invoice.customerID),
                    HTML.escape("\(language.date(invoice.period.startMicros, timeZone: zone)) – \(language.date(invoice.period.endMicros - 1, timeZone: zone))"),
                    HTML.escape(invoice.state.status.rawValue), HTML.escape(language.money(invoice.state.total, invoice.currency)),
                    HTML.escape(language.money(invoice.state.amountDue, invoice.currency))]
        }
        let body = rows.isEmpty ? "<p class=\"muted\">\(HTML.escape(t(.noData)))</p>"
            : HTML.table(headers: [t(.number), t(.customer), t(.period), t(.status), t(.total), t(.amountDue)], rows: rows, numeric: [4, 5])
        return render(visit, title: t(.invoices), body: body)
    }

    func invoice(_ visit: Visit, id: String) async throws -> Response {
        let t = visit.language.text, language = visit.language
        // One invoice read by id, then the same rule as the list: a customer key sees its customer's only.
        guard let invoice = try await store.billing.invoice(tenantID: visit.caller.tenantID, id: id),
              !visit.isCustomer || (visit.caller.customerID != nil && invoice.customerID == visit.caller.customerID) else { throw ConsoleError.notFound }
        let customer = try await store.customers.customer(tenantID: visit.caller.tenantID, id: invoice.customerID)
        let zone = customer?.timeZone ?? "UTC"
        let currency = invoice.currency
        let lines = InvoiceRoutes.lines(invoice) ?? []
        func amount(_ value: Any?) -> ExactDecimal { (value as? String).flatMap(ExactDecimal.init) ?? .zero }
        var body = "<div class=\"cards\">"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.customer)))</div><div>\(HTML.escape(customer?.name ?? invoice.customerID))</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.period)))</div><div>\(HTML.escape(language.date(invoice.period.startMicros, timeZone: zone))) – \(HTML.escape(language.date(invoice.period.endMicros - 1, timeZone: zone)))</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.status)))</div><div>\(HTML.escape(invoice.state.status.rawValue))</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.total)))</div><div class=\"value\" id=\"invoice-total\" data-amount=\"\(currency.format(invoice.state.total))\">\(HTML.escape(language.money(invoice.state.total, currency)))</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.amountDue)))</div><div class=\"value\">\(HTML.escape(language.money(invoice.state.amountDue, currency)))</div></div>"
        body += "</div>"
        body += "<h2>\(HTML.escape(t(.line)))</h2>"
        body += SVGChart.horizontalBars(title: "\(t(.invoice)) \(invoice.number ?? invoice.id)", items: lines.map { line in
            let value = amount(line["amount"])
            return ("\(line["charge"] as? String ?? "") (\(line["kind"] as? String ?? ""))", Double(value.description) ?? 0, language.money(value, currency))
        }, language: language)
        body += HTML.table(headers: [t(.charge), t(.rule), t(.quantity), t(.amount)], rows: lines.map { line in
            [HTML.escape(line["charge"] as? String ?? ""), HTML.escape(line["kind"] as? String ?? ""),
             HTML.escape((line["priced_quantity"] as? String ?? line["quantity"] as? String) ?? "–"), HTML.escape(language.money(amount(line["amount"]), currency))]
        } + [["<strong>\(HTML.escape(t(.total)))</strong>", "", "", "<strong>\(HTML.escape(language.money(invoice.state.total, currency)))</strong>"]], numeric: [2, 3])
        body += "<h2>\(HTML.escape(t(.decomposition)))</h2>"
        for line in lines {
            let steps = line["decomposition"] as? [[String: Any]] ?? []
            body += "<h3>\(HTML.escape(line["charge"] as? String ?? "")) · \(HTML.escape(language.money(amount(line["amount"]), currency)))</h3>"
            body += SVGChart.horizontalBars(title: "\(t(.decomposition)): \(line["charge"] as? String ?? "")", items: steps.compactMap { step in
                let value = amount(step["amount"])
                guard !value.isZero else { return nil }
                return ("\(step["kind"] as? String ?? "") \(step["quantity"] as? String ?? "") × \(step["rate"] as? String ?? "")", Double(value.description) ?? 0,
                        language.money(value, currency))
            }, language: language)
            body += HTML.table(headers: [t(.rule), t(.quantity), t(.rate), t(.amount)], rows: steps.map { step in
                ["<strong>\(HTML.escape(step["kind"] as? String ?? ""))</strong> <span class=\"muted\">\(HTML.escape(step["description"] as? String ?? ""))</span>",
                 HTML.escape(step["quantity"] as? String ?? ""), HTML.escape(step["rate"] as? String ?? ""), HTML.escape(step["amount"] as? String ?? "")]
            }, numeric: [1, 2, 3])
        }
        return render(visit, title: "\(t(.invoice)) \(invoice.number ?? invoice.id)", body: body)
    }

    func device(_ visit: Visit, serial: String) async throws -> Response {
        let t = visit.language.text, language = visit.language
        let tenantID = visit.caller.tenantID, now = configuration.nowMicros()
        let registered = try await store.customers.device(tenantID: tenantID, serial: serial)
        if visit.isCustomer {
            guard let registered, let customerID = visit.caller.customerID, registered.customerID == customerID else { throw ConsoleError.notFound }
        }
        let latest = try await store.health.latest(tenantID: tenantID, serial: serial)
        guard registered != nil || latest != nil else { throw ConsoleError.notFound }
        var profile = HealthProfile.standard
        if let registered, let model = try await store.customers.deviceModel(tenantID: tenantID, id: registered.modelID) { profile = model.healthProfile ?? .standard }
        var body = "<div class=\"cards\">"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.zone)))</div><div class=\"value\">\(HTML.zoneBadge(latest?.zone, language))</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.healthIndex)))</div><div class=\"value\">\(latest.map { language.number($0.index) } ?? "–")</div></div>"
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.state)))</div><div class=\"value\">\(HTML.escape(latest?.state ?? "–"))</div></div>"
        let alarms = try await store.health.alarms(tenantID: tenantID, status: "open", serial: serial, limit: 10)
        body += "<div class=\"card\"><div class=\"muted\">\(HTML.escape(t(.openAlarms)))</div><div class=\"value\">\(alarms.count)</div>"
        body += alarms.map { "<div class=\"muted\">\(HTML.escape($0.kind)) \(HTML.escape($0.severity))</div>" }.joined() + "</div></div>"
        // Health over 60 days, one point a day.
        let trend = try await store.health.trend(tenantID: tenantID, serial: serial, fromMicros: now - 60 * Self.day, toMicros: now, buckets: 60)
        var byDay: [Int64: HealthPoint] = [:]
        for point in trend { byDay[(point.fromMicros - (now - 60 * Self.day)) / Self.day] = point }
        let days = (0..<60).map { now - 60 * Self.day + Int64($0) * Self.day }
        let labels = days.map { language.date($0) }
        body += "<h2>\(HTML.escape(t(.healthIndex))) · \(HTML.escape(t(.trend)))</h2>"
        body += SVGChart.lines(title: "\(t(.healthIndex)) \(serial)", xLabels: labels,
                               series: [(t(.healthIndex), (0..<60).map { byDay[Int64($0)]?.meanIndex })],
                               references: [("\(profile.alarmIndexBelow)", profile.alarmIndexBelow)], language: language)
        body += "<h2>\(HTML.escape(t(.velocity)))</h2>"
        body += SVGChart.lines(title: "\(t(.velocity)) \(serial)", xLabels: labels,
                               series: [(t(.velocity), (0..<60).map { byDay[Int64($0)]?.maximumVelocityRMS })],
                               references: [("A/B", profile.boundaries.ab), ("B/C", profile.boundaries.bc), ("C/D", profile.boundaries.cd)], language: language)
        // State over the last 7 days: one band per window, coloured by state.
        let states = try await store.health.states(tenantID: tenantID, serial: serial, fromMicros: now - 7 * Self.day, toMicros: now, limit: 20_000)
        body += "<h2>\(HTML.escape(t(.stateTimeline)))</h2>" + Self.stateTimeline(states, from: now - 7 * Self.day, to: now, language: language)
        // Usage by state this month, from the meter that sums run seconds by state.
        body += "<h2>\(HTML.escape(t(.usageByState)))</h2>"
        body += try await usageByState(tenantID: tenantID, serial: serial, now: now, language: language)
        return render(visit, title: "\(t(.device)) \(serial)", body: body)
    }

    /// A device page's address: the serial percent-encoded (serials are free text).
    static func deviceLink(_ serial: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "/console/devices/" + (serial.addingPercentEncoding(withAllowedCharacters: allowed) ?? serial)
    }

    // Whole lists, page by page (the stores answer at most 1,000 rows a call).
    func allInvoices(_ tenantID: String) async throws -> [Invoice] {
        try await Self.pages(id: \.id) { try await store.billing.invoices(tenantID: tenantID, subscriptionID: nil, limit: 1_000, after: $0) }
    }

    func allSubscriptions(_ tenantID: String) async throws -> [Subscription] {
        try await Self.pages(id: \.id) { try await store.subscriptions.subscriptions(tenantID: tenantID, limit: 1_000, after: $0) }
    }

    func allCustomers(_ tenantID: String) async throws -> [Customer] {
        try await Self.pages(id: \.id) { try await store.customers.customers(tenantID: tenantID, limit: 1_000, after: $0) }
    }

    func allDevices(_ tenantID: String, customerID: String?) async throws -> [Device] {
        try await Self.pages(id: \.id) { try await store.customers.devices(tenantID: tenantID, customerID: customerID, limit: 1_000, after: $0) }
    }

    static func pages<T>(id: KeyPath<T, String>, _ page: (String?) async throws -> [T]) async throws -> [T] {
        var all: [T] = [], after: String?
        while true {
            let next = try await page(after)
            all += next
            guard next.count == 1_000, let last = next.last else { return all }
            after = last[keyPath: id]
        }
    }

    static let stateColours = ["off": "#9aa5b1", "idle": "#e9c46a", "running": "#2a9d8f", "peak": "#e76f51", "unknown": "#cfd6de"]

    static func stateTimeline(_ states: [(timeMicros: Int64, state: String)], from: Int64, to: Int64, language: ConsoleLanguage) -> String {
        guard !states.isEmpty else { return "<p class=\"muted\">\(HTML.escape(language.text(.noData)))</p>" }
        let width = 760.0, height = 36.0
        var svg = "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\" role=\"img\" aria-label=\"\(HTML.escape(language.text(.stateTimeline)))\"><title>\(HTML.escape(language.text(.stateTimeline)))</title>"
        var counts: [String: Int] = [:]
        // One band per run of equal states, not per window.
        var runs: [(start: Int64, state: String)] = []
        for sample in states {
            counts[sample.state, default: 0] += 1
            if runs.last?.state != sample.state { runs.append((sample.timeMicros, sample.state)) }
        }
        for (index, run) in runs.enumerated() {
            let end = index + 1 < runs.count ? runs[index + 1].start : min(to, states.last!.timeMicros + 3_600_000_000)
            let x = Double(run.start - from) / Double(to - from) * width
            let w = max(0.5, Double(end - run.start) / Double(to - from) * width)
            svg += "<rect x=\"\(SVGChart.format(x))\" y=\"4\" width=\"\(SVGChart.format(w))\" height=\"24\" fill=\"\(stateColours[run.state] ?? "#cfd6de")\"/>"
        }
        svg += "</svg>"
        let names = ["off", "idle", "running", "peak", "unknown"].filter { counts[$0] != nil }
        let legend = "<p class=\"muted\" style=\"font-size:.85rem\">" + names.map {
            "<span style=\"display:inline-block;width:.8rem;height:.8rem;background:\(stateColours[$0]!);margin:0 .3rem 0 .8rem\"></span>\($0)"
        }.joined() + "</p>"
        return "<div class=\"chart\">\(svg)</div>" + legend + SVGChart.equivalent(HTML.table(headers: [language.text(.state), "windows"], rows: names.map { [$0, "\(counts[$0]!)"] }, numeric: [1]), language)
    }

    func usageByState(tenantID: String, serial: String, now: Int64, language: ConsoleLanguage) async throws -> String {
        guard let meter = try await store.meters.meters(tenantID: tenantID).first(where: {
            $0.definition.eventType == EdgeEvents.usageType && $0.definition.aggregation == .sum && $0.definition.groupBy.contains { $0.name == "state" }
        }) else { return "<p class=\"muted\">\(HTML.escape(language.text(.noData)))</p>" }
        // A meter of run seconds is shown in hours; one of run hours as it is.
        let hoursDivisor = meter.definition.valueProperty?.text.contains("second") == true ? 3600.0 : 1
        let from = (now - 30 * Self.day) / 1_000_000 / 3600 * 3600, to = (now / 1_000_000 / 3600 + 1) * 3600
        let windows = try WindowPlan(from: from, to: to, size: .day, timeZone: TimeZone(identifier: "UTC")!, maxWindows: 100)
        let rows = try await store.events.usage(meter: meter, query: UsageQuery(fromSeconds: from, toSeconds: to, windows: windows, subjects: [serial],
                                                                                  groupBy: ["state"], filterGroupBy: [:]))
        let states = ["idle", "running", "peak"]
        var byDay: [Int64: [String: Double]] = [:]
        for row in rows {
            guard let state = row.groupBy["state"] ?? nil, states.contains(state) else { continue }
            byDay[row.windowStart, default: [:]][state, default: 0] += (Double(row.value.description) ?? 0) / hoursDivisor
        }
        let days = (0..<windows.count).map { windows.window($0).start }
        return SVGChart.stackedBars(title: "\(language.text(.usageByState)) \(serial) (\(language.text(.runHours)))",
                                    labels: days.map { language.date($0 * 1_000_000) },
                                    series: states.map { state in (state, days.map { byDay[$0]?[state] ?? 0 }) },
                                    format: { String(format: "%.1f h", $0) }, language: language, height: 200)
    }
}
