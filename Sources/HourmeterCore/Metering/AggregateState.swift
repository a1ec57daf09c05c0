/// The mergeable partial aggregate of a meter over one bucket (a minute, an hour, a window).
///
/// Every aggregation is derived from the same five fields, so one rollup row shape serves all
/// meters and buckets merge associatively: minute rows fold into hour rows, hour rows into
/// windows, concurrent batches into the same row.
public struct AggregateState: Sendable, Equatable {
    /// Events counted (COUNT) or events that carried a usable value (all others).
    public var count: Int64 = 0
    public var sum: ExactDecimal = .zero
    public var min: ExactDecimal?
    public var max: ExactDecimal?
    /// Event time (µs since epoch) of `latest`; later ingestion wins a tie.
    public var latestTime: Int64?
    public var latest: ExactDecimal?

    public init() {}

    public init(count: Int64, sum: ExactDecimal, min: ExactDecimal?, max: ExactDecimal?, latestTime: Int64?, latest: ExactDecimal?) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.latestTime = latestTime
        self.latest = latest
    }

    /// Adds one event without a value (COUNT meters).
    public mutating func addCount() { count += 1 }

    /// Adds one event's value, tracking only what `aggregation` reads (a SUM meter keeps no
    /// minimum): the states stay small on disk. `nil` tracks everything.
    public mutating func add(_ value: ExactDecimal, at timeMicros: Int64, for aggregation: MeterAggregation? = nil) throws(DecimalError) {
        count += 1
        if aggregation == nil || aggregation == .sum || aggregation == .avg { sum = try sum.adding(value) }
        if aggregation == nil || aggregation == .min {
            if let current = min { if value < current { min = value } } else { min = value }
        }
        if aggregation == nil || aggregation == .max {
            if let current = max { if value > current { max = value } } else { max = value }
        }
        if aggregation == nil || aggregation == .latest {
            if let current = latestTime, timeMicros < current {} else {
                latestTime = timeMicros
                latest = value
            }
        }
    }

    /// Folds `other` (which happened later in ingestion order) into this state.
    public mutating func merge(_ other: AggregateState) throws(DecimalError) {
        count += other.count
        sum = try sum.adding(other.sum)
        if let value = other.min { if let current = min, current <= value {} else { min = value } }
        if let value = other.max { if let current = max, current >= value {} else { max = value } }
        if let time = other.latestTime {
            if let current = latestTime, time < current {} else {
                latestTime = time
                latest = other.latest
            }
        }
    }

    /// The meter value for this state, or nil when there is nothing to report
    /// (no values for AVG/MIN/MAX/LATEST). UNIQUE_COUNT is answered from distinct values, not here.
    public func value(for aggregation: MeterAggregation) -> ExactDecimal? {
        switch aggregation {
        case .count, .uniqueCount: return ExactDecimal(Int(count))
        case .sum: return sum
        case .min: return min
        case .max: return max
        case .latest: return latest
        case .avg:
            guard count > 0 else { return nil }
            // Exact when the quotient terminates within 18 places; otherwise half-even there.
            var scale = 18
            while scale >= 0 {
                if let value = try? sum.divided(by: ExactDecimal(Int(count)), scale: scale) { return value.normalized }
                scale -= 6
            }
            return nil
        }
    }
}
