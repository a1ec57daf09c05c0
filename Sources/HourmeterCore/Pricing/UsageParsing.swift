import Foundation

extension ChargeUsage {
    /// Most slices (events or windows) one charge's usage may hold in a request.
    public static let maxSlices = 100_000

    /// Reads one charge's usage as a preview request writes it, with `path` ("usage.run_hours")
    /// for errors. Forms: a quantity (`"12.5"` or `12.5`); `{"total": q}`; `{"by_state":
    /// {"idle": q, …}}`; `{"windows": [{"start": RFC 3339, "quantity": q, "state": s}]}`;
    /// `{"events": [q, …]}` or `{"events": [{"value": q, "time": RFC 3339, "state": s}]}`. Any
    /// object form may add `"surcharges": ["rush"]` to apply on_request surcharges. Quantities
    /// are not negative.
    public static func parse(_ value: Any, path: String) throws(PricingError) -> (usage: ChargeUsage, surcharges: [String]) {
        if let total = DocumentObject.exactQuantity(value) {
            guard !total.isNegative else { throw PricingError(field: path, reason: "must not be negative") }
            return (.total(total), [])
        }
        let object = try DocumentObject(value, path: path)
        try object.rejectUnknownKeys(["total", "by_state", "windows", "events", "surcharges"])
        var surcharges: [String] = []
        if let list = try object.array("surcharges") {
            for (index, element) in list.enumerated() {
                guard let key = element as? String, DocumentObject.isKey(key) else {
                    throw PricingError(field: "\(object.field("surcharges"))[\(index)]", reason: "must be a surcharge key")
                }
                surcharges.append(key)
            }
        }
        let forms = ["total", "by_state", "windows", "events"].filter(object.has)
        guard forms.count <= 1 else {
            throw PricingError(field: object.field(forms[1]), reason: "give one of total, by_state, windows and events")
        }
        switch forms.first {
        case "total":
            return (.total(try object.quantity("total") ?? .zero), surcharges)
        case "by_state":
            guard let states = try object.object("by_state") else { return (.none, surcharges) }
            var result: [String: ExactDecimal] = [:]
            for key in states.values.keys.sorted() {
                guard DeviceState.known.contains(key) else {
                    throw PricingError(field: states.field(key), reason: "\"\(key)\" is not a device state; expected one of \(DeviceState.known.joined(separator: ", "))")
                }
                guard let quantity = try states.quantity(key) else {
                    throw PricingError(field: states.field(key), reason: "must be a number or a decimal string")
                }
                result[key] = quantity
            }
            return (.byState(result), surcharges)
        case "windows":
            return (.windows(try slices(object, "windows", quantityKey: "quantity", timeKey: "start")), surcharges)
        case "events":
            return (.events(try slices(object, "events", quantityKey: "value", timeKey: "time")), surcharges)
        default:
            return (.none, surcharges)
        }
    }

    private static func slices(_ object: DocumentObject, _ key: String, quantityKey: String, timeKey: String) throws(PricingError) -> [UsageSlice] {
        let list = try object.array(key) ?? []
        guard list.count <= maxSlices else {
            throw PricingError(field: object.field(key), reason: "holds \(list.count) entries; at most \(maxSlices) are allowed")
        }
        var slices: [UsageSlice] = []
        slices.reserveCapacity(list.count)
        for (index, element) in list.enumerated() {
            let path = "\(object.field(key))[\(index)]"
            if let quantity = DocumentObject.exactQuantity(element) {
                guard !quantity.isNegative else { throw PricingError(field: path, reason: "must not be negative") }
                slices.append(UsageSlice(quantity: quantity))
                continue
            }
            let item = try DocumentObject(element, path: path)
            try item.rejectUnknownKeys([quantityKey, timeKey, "state"])
            guard let quantity = try item.quantity(quantityKey) else {
                throw PricingError(field: item.field(quantityKey), reason: "is required")
            }
            var start: Int64?
            if let text = try item.string(timeKey) {
                guard let micros = RFC3339.parseMicroseconds(text) else {
                    throw PricingError(field: item.field(timeKey), reason: "\"\(text)\" is not an RFC 3339 timestamp")
                }
                start = micros
            }
            let state = try item.string("state")
            if let state, !DeviceState.known.contains(state) {
                throw PricingError(field: item.field("state"), reason: "\"\(state)\" is not a device state; expected one of \(DeviceState.known.joined(separator: ", "))")
            }
            slices.append(UsageSlice(quantity: quantity, state: state, startMicros: start))
        }
        return slices
    }
}
