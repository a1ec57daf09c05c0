import Foundation

extension PlanVersion {
    /// Parses and validates a plan version document (the JSON object as `JSONSerialization`
    /// returns it). The first problem found is thrown with its field path
    /// ("charges[1].time_of_use[0].to"); a document that parses is complete and consistent.
    public static func parse(_ value: Any) throws(PricingError) -> PlanVersion {
        let root = try DocumentObject(value, path: "")
        try root.rejectUnknownKeys(["currency", "interval", "recurring_fees", "charges", "entitlements", "minimum_commitment", "sla_tiers"])
        let code = try root.requiredString("currency")
        guard let currency = Currency(code: code) else {
            throw PricingError(field: "currency", reason: "\"\(code)\" is not a known ISO 4217 currency")
        }
        let intervalText = try root.requiredString("interval")
        guard let interval = BillingInterval(rawValue: intervalText) else {
            throw PricingError(field: "interval", reason: "\"\(intervalText)\" is not month, quarter or year")
        }
        var version = PlanVersion(currency: currency, interval: interval)
        version.recurringFees = try elements(root, "recurring_fees", limit: Limits.recurringFees, parse: recurringFee)
        try requireUnique(version.recurringFees.map(\.key), field: "recurring_fees", name: "key")
        version.charges = try elements(root, "charges", limit: Limits.charges, parse: charge)
        try requireUnique(version.charges.map(\.key), field: "charges", name: "key")
        version.entitlements = try entitlements(root)
        version.minimumCommitment = try root.optionalAmount("minimum_commitment")
        version.slaTiers = try elements(root, "sla_tiers", limit: Limits.slaTiers, parse: slaTier)
        try requireUnique(version.slaTiers.map(\.name), field: "sla_tiers", name: "name")
        return version
    }

    /// Parses `data` as JSON, then as a document.
    public static func parse(json data: Data) throws(PricingError) -> PlanVersion {
        guard let value = try? JSONSerialization.jsonObject(with: data) else {
            throw PricingError(field: "", reason: "the document is not valid JSON")
        }
        return try parse(value)
    }

    private static func elements<T>(_ object: DocumentObject, _ key: String, limit: Int,
                                    parse: (DocumentObject) throws(PricingError) -> T) throws(PricingError) -> [T] {
        guard let array = try object.array(key) else { return [] }
        guard array.count <= limit else {
            throw PricingError(field: object.field(key), reason: "holds \(array.count) entries; at most \(limit) are allowed")
        }
        var result: [T] = []
        for (index, element) in array.enumerated() {
            result.append(try parse(try DocumentObject(element, path: "\(object.field(key))[\(index)]")))
        }
        return result
    }

    private static func requireUnique(_ keys: [String], field: String, name: String) throws(PricingError) {
        var seen = Set<String>()
        for (index, key) in keys.enumerated() where !seen.insert(key).inserted {
            throw PricingError(field: "\(field)[\(index)].\(name)", reason: "\"\(key)\" is used twice")
        }
    }

    private static func key(_ object: DocumentObject, _ name: String = "key") throws(PricingError) -> String {
        let key = try object.requiredString(name)
        guard DocumentObject.isKey(key) else {
            throw PricingError(field: object.field(name), reason: "\"\(key)\" must be 1–64 characters of a–z, 0–9, _, - and .")
        }
        return key
    }

    private static func recurringFee(_ object: DocumentObject) throws(PricingError) -> RecurringFee {
        try object.rejectUnknownKeys(["key", "name", "amount", "timing"])
        let timingText = try object.string("timing") ?? RecurringFee.Timing.inAdvance.rawValue
        guard let timing = RecurringFee.Timing(rawValue: timingText) else {
            throw PricingError(field: object.field("timing"), reason: "\"\(timingText)\" is not in_advance or in_arrears")
        }
        return RecurringFee(key: try key(object), name: try object.string("name"), amount: try object.amount("amount"), timing: timing)
    }

    private static func slaTier(_ object: DocumentObject) throws(PricingError) -> SLATier {
        try object.rejectUnknownKeys(["name", "response_hours", "amount"])
        guard let hours = try object.quantity("response_hours") else {
            throw PricingError(field: object.field("response_hours"), reason: "is required")
        }
        guard hours > .zero else { throw PricingError(field: object.field("response_hours"), reason: "must be greater than 0") }
        return SLATier(name: try key(object, "name"), responseHours: hours, amount: try object.amount("amount"))
    }

    private static func entitlements(_ root: DocumentObject) throws(PricingError) -> [String: Entitlement] {
        guard let object = try root.object("entitlements") else { return [:] }
        guard object.values.count <= Limits.entitlements else {
            throw PricingError(field: "entitlements", reason: "holds \(object.values.count) features; at most \(Limits.entitlements) are allowed")
        }
        var result: [String: Entitlement] = [:]
        for (feature, value) in object.values {
            let field = object.field(feature)
            guard DocumentObject.isKey(feature) else {
                throw PricingError(field: field, reason: "feature names must be 1–64 characters of a–z, 0–9, _, - and .")
            }
            if DocumentObject.isBoolean(value), let on = value as? Bool {
                result[feature] = .flag(on)
            } else if let limit = DocumentObject.exactQuantity(value), !limit.isNegative, limit.normalized.scale == 0 {
                result[feature] = .limit(limit.normalized)
            } else {
                throw PricingError(field: field, reason: "must be true, false or a whole number limit ≥ 0")
            }
        }
        return result
    }

    private static func charge(_ object: DocumentObject) throws(PricingError) -> PlanCharge {
        try object.rejectUnknownKeys(["key", "name", "meter", "model", "properties", "state_multipliers", "time_of_use",
                                      "volume_discounts", "surcharges"])
        let chargeKey = try key(object)
        let meter = try key(object, "meter")
        let modelName = try object.requiredString("model")
        // Missing properties read as an empty object: the model then names what it requires.
        let properties = try object.object("properties")?.values ?? [:]
        let model = try ChargeModel.parse(model: modelName, properties: properties, path: object.path)
        var adjustments = PriceAdjustments()
        if let multipliers = try object.object("state_multipliers") {
            for (state, _) in multipliers.values.sorted(by: { $0.key < $1.key }) {
                guard DeviceState.known.contains(state) else {
                    throw PricingError(field: multipliers.field(state),
                                       reason: "\"\(state)\" is not a device state; expected one of \(DeviceState.known.joined(separator: ", "))")
                }
                adjustments.stateMultipliers[state] = try multipliers.amount(state)
            }
        }
        adjustments.timeOfUse = try elements(object, "time_of_use", limit: Limits.timeOfUseWindows, parse: timeOfUseWindow)
        try requireNoOverlap(adjustments.timeOfUse, field: object.field("time_of_use"))
        adjustments.volumeDiscounts = try elements(object, "volume_discounts", limit: Limits.volumeDiscounts, parse: volumeDiscount)
        // A discount takes its percentage off what the units past a threshold add to the line,
        // which needs an amount that grows with the units: not so for a percentage of each
        // event, nor for a volume price (crossing a tier can lower the whole amount).
        if !adjustments.volumeDiscounts.isEmpty {
            switch model {
            case .percentage, .volume:
                throw PricingError(field: object.field("volume_discounts"),
                                   reason: "applies to standard, graduated, package and graduated_percentage charges, not \(model.name)")
            default: break
            }
        }
        for index in adjustments.volumeDiscounts.indices.dropFirst()
        where adjustments.volumeDiscounts[index].fromValue <= adjustments.volumeDiscounts[index - 1].fromValue {
            throw PricingError(field: "\(object.field("volume_discounts"))[\(index)].from_value",
                               reason: "must be greater than the previous discount's from_value")
        }
        adjustments.surcharges = try elements(object, "surcharges", limit: Limits.surcharges, parse: surcharge)
        try requireUnique(adjustments.surcharges.map(\.key), field: object.field("surcharges"), name: "key")
        return PlanCharge(key: chargeKey, name: try object.string("name"), meter: meter, model: model, adjustments: adjustments)
    }

    private static func timeOfUseWindow(_ object: DocumentObject) throws(PricingError) -> TimeOfUseWindow {
        try object.rejectUnknownKeys(["days", "from", "to", "multiplier"])
        guard let dayList = try object.array("days"), !dayList.isEmpty else {
            throw PricingError(field: object.field("days"), reason: "is required: a list of mon, tue, wed, thu, fri, sat, sun")
        }
        var days = Set<Int>()
        for (index, day) in dayList.enumerated() {
            guard let name = day as? String, let position = TimeOfUseWindow.dayNames.firstIndex(of: name.lowercased()) else {
                throw PricingError(field: "\(object.field("days"))[\(index)]", reason: "must be one of mon, tue, wed, thu, fri, sat, sun")
            }
            days.insert(position + 1)
        }
        let fromText = try object.requiredString("from"), toText = try object.requiredString("to")
        guard let from = TimeOfUseWindow.minute(fromText, isEnd: false) else {
            throw PricingError(field: object.field("from"), reason: "\"\(fromText)\" is not a time of day HH:MM (00:00–23:59)")
        }
        guard let to = TimeOfUseWindow.minute(toText, isEnd: true) else {
            throw PricingError(field: object.field("to"), reason: "\"\(toText)\" is not a time of day HH:MM (00:01–24:00)")
        }
        guard to > from else {
            throw PricingError(field: object.field("to"), reason: "must be after from; a window over midnight is written as two windows")
        }
        return TimeOfUseWindow(days: days, fromMinute: from, toMinute: to, multiplier: try object.amount("multiplier"))
    }

    /// Windows sharing a day must not overlap, so every instant has at most one multiplier.
    private static func requireNoOverlap(_ windows: [TimeOfUseWindow], field: String) throws(PricingError) {
        for (index, window) in windows.enumerated() {
            for earlier in windows[..<index] where !earlier.days.isDisjoint(with: window.days)
                && window.fromMinute < earlier.toMinute && earlier.fromMinute < window.toMinute {
                throw PricingError(field: "\(field)[\(index)]", reason: "overlaps the window \(earlier.label)")
            }
        }
    }

    private static func volumeDiscount(_ object: DocumentObject) throws(PricingError) -> VolumeDiscount {
        try object.rejectUnknownKeys(["from_value", "percent"])
        guard let from = try object.quantity("from_value") else {
            throw PricingError(field: object.field("from_value"), reason: "is required")
        }
        let percent = try object.amount("percent")
        guard percent > .zero, percent <= ExactDecimal(100) else {
            throw PricingError(field: object.field("percent"), reason: "must be more than 0 and at most 100")
        }
        return VolumeDiscount(fromValue: from, percent: percent)
    }

    private static func surcharge(_ object: DocumentObject) throws(PricingError) -> Surcharge {
        try object.rejectUnknownKeys(["key", "name", "amount", "percent", "when"])
        let price: Surcharge.Price
        switch (try object.optionalAmount("amount"), try object.optionalAmount("percent")) {
        case (let amount?, nil): price = .amount(amount)
        case (nil, let percent?): price = .percent(percent)
        default: throw PricingError(field: object.field("amount"), reason: "give exactly one of amount and percent")
        }
        let whenText = try object.string("when") ?? Surcharge.Application.always.rawValue
        guard let application = Surcharge.Application(rawValue: whenText) else {
            throw PricingError(field: object.field("when"), reason: "\"\(whenText)\" is not always or on_request")
        }
        return Surcharge(key: try key(object), name: try object.string("name"), price: price, application: application)
    }
}
