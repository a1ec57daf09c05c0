/// A meter as the ingest path needs it: its storage id and its compiled definition.
public struct CompiledMeter: Sendable {
    public var id: String
    public var definition: MeterDefinition
    public init(id: String, definition: MeterDefinition) { self.id = id; self.definition = definition }
}

/// Where a partial aggregate belongs: meter, hour (start, seconds since epoch), subject and group.
public struct RollupKey: Sendable, Hashable {
    public var meterID: String
    public var bucket: Int64
    public var subject: String
    /// Canonical JSON object of the meter's group values (`""` when the meter has no groups).
    public var groupKey: String
    public init(meterID: String, bucket: Int64, subject: String, groupKey: String) {
        self.meterID = meterID; self.bucket = bucket; self.subject = subject; self.groupKey = groupKey
    }
}

/// One meter, subject and group over one hour: the hour's total and its minutes.
///
/// Minutes live inside the hour's row rather than in rows of their own: a machine reporting
/// every few seconds touches one row per hour instead of one per minute, which is what lets a
/// batch of events cost a handful of row writes. Hour, day and month windows read `summary`;
/// minute windows and unaligned ranges read `minutes`.
public struct HourRollup: Sendable, Equatable {
    /// Minute offset in the hour (0–59) → that minute's state.
    public var minutes: [UInt8: AggregateState] = [:]
    public var summary = AggregateState()
    public init() {}
    public init(summary: AggregateState, minutes: [UInt8: AggregateState]) { self.summary = summary; self.minutes = minutes }

    /// Folds `other` (later in ingestion order) into this hour.
    public mutating func merge(_ other: HourRollup) throws(DecimalError) {
        try summary.merge(other.summary)
        for (minute, state) in other.minutes {
            if var existing = minutes[minute] {
                try existing.merge(state)
                minutes[minute] = existing
            } else {
                minutes[minute] = state
            }
        }
    }

    /// Recomputes `summary` from the minutes, in minute order.
    public mutating func summarize() throws(DecimalError) {
        var total = AggregateState()
        for minute in minutes.keys.sorted() { try total.merge(minutes[minute]!) }
        summary = total
    }
}

/// One distinct value seen in a minute, for UNIQUE_COUNT meters (`rollup.bucket` is the minute).
public struct DistinctKey: Sendable, Hashable {
    public var rollup: RollupKey
    public var value: String
}

/// Everything a batch of events changes in the rollups, computed in memory once per batch
/// so the database sees one write per touched hour row instead of one per event.
public struct RollupDelta: Sendable {
    public var hours: [RollupKey: HourRollup] = [:]
    public var distinct: Set<DistinctKey> = []
    /// Events a meter had to skip (value missing or not a number), by meter id.
    public var skipped: [String: Int] = [:]
    public init() {}
}

/// The event facts rollups need; the store's event types convert to it.
public struct MeteredEvent: Sendable {
    public var type: String
    public var subject: String
    public var timeMicros: Int64
    public var data: [UInt8]?
    public init(type: String, subject: String, timeMicros: Int64, data: [UInt8]?) {
        self.type = type; self.subject = subject; self.timeMicros = timeMicros; self.data = data
    }
}

public enum RollupBuilder {
    public static let minuteSeconds: Int64 = 60
    public static let hourSeconds: Int64 = 3600

    /// Folds `events` (in ingestion order) into `delta` for every meter whose event type matches.
    public static func accumulate(
        _ events: some Sequence<MeteredEvent>, meters: [CompiledMeter], into delta: inout RollupDelta
    ) throws(DecimalError) {
        guard !meters.isEmpty else { return }
        var byType: [String: [CompiledMeter]] = [:]
        for meter in meters { byType[meter.definition.eventType, default: []].append(meter) }
        for event in events {
            guard let matching = byType[event.type] else { continue }
            let minute = floorDiv(floorDiv(event.timeMicros, 1_000_000), minuteSeconds) * minuteSeconds
            for meter in matching {
                try apply(event, meter: meter, minute: minute, into: &delta)
            }
        }
    }

    /// Computes each hour's summary from its minutes; call once after accumulating. An hour
    /// whose total would overflow is dropped and its events counted as skipped.
    public static func summarize(_ delta: inout RollupDelta) throws(DecimalError) {
        for key in Array(delta.hours.keys) {
            do { try delta.hours[key]!.summarize() } catch {
                let events = delta.hours[key]!.minutes.values.reduce(Int64(0)) { $0 + $1.count }
                delta.hours[key] = nil
                delta.skipped[key.meterID, default: 0] += Int(events)
            }
        }
    }

    static func apply(_ event: MeteredEvent, meter: CompiledMeter, minute: Int64, into delta: inout RollupDelta) throws(DecimalError) {
        let definition = meter.definition
        let groupKey = groupKey(for: event.data, groups: definition.groupBy)
        let hour = floorDiv(minute, hourSeconds) * hourSeconds
        let key = RollupKey(meterID: meter.id, bucket: hour, subject: event.subject, groupKey: groupKey)
        let offset = UInt8((minute - hour) / minuteSeconds)
        switch definition.aggregation {
        case .count:
            delta.hours[key, default: HourRollup()].minutes[offset, default: AggregateState()].addCount()
        case .uniqueCount:
            guard let path = definition.valueProperty, let data = event.data,
                  let text = scalarText(path.evaluate(in: data)) else {
                delta.skipped[meter.id, default: 0] += 1
                return
            }
            var minuteKey = key
            minuteKey.bucket = minute
            delta.distinct.insert(DistinctKey(rollup: minuteKey, value: text))
        default:
            guard let path = definition.valueProperty, let data = event.data,
                  let number = numericValue(path.evaluate(in: data)) else {
                delta.skipped[meter.id, default: 0] += 1
                return
            }
            // A value that would overflow the exact sum (beyond 38 digits) is skipped and counted,
            // never allowed to poison the fold for everyone.
            var state = delta.hours[key]?.minutes[offset] ?? AggregateState()
            do {
                try state.add(number, at: event.timeMicros, for: definition.aggregation)
                delta.hours[key, default: HourRollup()].minutes[offset] = state
            } catch {
                delta.skipped[meter.id, default: 0] += 1
            }
        }
    }

    /// A number, or a string that is a number (OpenMeter accepts numeric strings); else nil.
    public static func numericValue(_ value: JSONValue) -> ExactDecimal? {
        switch value {
        case .number(let number): return number
        case .string(let text): return ExactDecimal(text.trimmingSpaces())
        default: return nil
        }
    }

    /// The text a distinct count or a group compares: strings as they are, numbers and booleans
    /// by their canonical text; objects, arrays, null and missing values have none.
    public static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .number(let number): return number.description
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }

    /// Canonical group key: a JSON object of the groups in name order; a missing value is null.
    public static func groupKey(for data: [UInt8]?, groups: [(name: String, path: JSONPath)]) -> String {
        guard !groups.isEmpty else { return "" }
        var out = "{"
        for (offset, group) in groups.enumerated() {
            if offset > 0 { out.append(",") }
            out.append(JSONText.quoted(group.name))
            out.append(":")
            if let data, let text = scalarText(group.path.evaluate(in: data)) {
                out.append(JSONText.quoted(text))
            } else {
                out.append("null")
            }
        }
        out.append("}")
        return out
    }
}

/// Floor division for negative instants (events before 1970 are legal, if odd).
@inline(__always)
public func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}
