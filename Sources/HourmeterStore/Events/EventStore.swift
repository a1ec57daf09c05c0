import HourmeterCore

public struct IngestResult: Sendable, Equatable {
    /// New events stored.
    public var accepted: Int
    /// Retries of events already stored (or repeated within the batch), counted once.
    public var duplicates: Int
    public init(accepted: Int, duplicates: Int) { self.accepted = accepted; self.duplicates = duplicates }
}

public enum IngestError: Error, Sendable, Equatable {
    /// The batch holds an event whose identity (source, id) is already stored, or repeated in
    /// the batch, with different content. Nothing of the batch is applied.
    case conflict(index: Int, attribute: String, source: String, id: String)
    /// The store is closing; the batch was not applied.
    case shuttingDown
}

public struct EventFilter: Sendable {
    public var subject: String?
    public var type: String?
    public var fromMicros: Int64?
    public var toMicros: Int64?
    public var limit: Int
    public init(subject: String? = nil, type: String? = nil, fromMicros: Int64? = nil, toMicros: Int64? = nil, limit: Int = 100) {
        self.subject = subject; self.type = type; self.fromMicros = fromMicros; self.toMicros = toMicros; self.limit = limit
    }
}

public struct ListedEvent: Sendable, Equatable {
    public var event: UsageEvent
    public var ingestedAtMicros: Int64
}

/// A meter query: the range and windows, which subjects, how to group and filter.
public struct UsageQuery: Sendable {
    public var fromSeconds: Int64
    public var toSeconds: Int64
    public var windows: WindowPlan
    public var subjects: [String]
    /// Group names to split by; "subject" splits by subject.
    public var groupBy: [String]
    public var filterGroupBy: [String: String]
    public init(fromSeconds: Int64, toSeconds: Int64, windows: WindowPlan, subjects: [String], groupBy: [String], filterGroupBy: [String: String]) {
        self.fromSeconds = fromSeconds; self.toSeconds = toSeconds; self.windows = windows
        self.subjects = subjects; self.groupBy = groupBy; self.filterGroupBy = filterGroupBy
    }
}

public struct UsageRow: Sendable, Equatable {
    public var value: ExactDecimal
    public var windowStart: Int64
    public var windowEnd: Int64
    public var subject: String?
    /// Requested group values; nil where the event did not carry the property.
    public var groupBy: [String: String?]
}

public protocol EventStore: Sendable {
    /// Stores the new events of a batch and updates the rollups, or applies nothing.
    /// Returns only once the batch is durable. Concurrent calls share one transaction.
    func ingest(tenantID: String, events: [UsageEvent], receivedMicros: Int64) async throws -> IngestResult
    /// Recent events, newest first (a debugging view over the raw log).
    func events(tenantID: String, filter: EventFilter) async throws -> [ListedEvent]
    /// Usage of a meter by window, read from the rollups.
    func usage(meter: Meter, query: UsageQuery) async throws -> [UsageRow]
    /// Each event of the meter's type from `subjects` in `[from, to)` with its value and
    /// `state` group, in time order, read from the raw log: for charges that price every event
    /// (a percentage with a fixed fee per transaction). At most `limit`; more throws.
    func meterEvents(meter: Meter, subjects: [String], fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [UsageSlice]
    /// The earliest event time (µs) among batches received after `receivedAfterMicros`: whether
    /// anything that arrived since then belongs to an earlier period. Nil when nothing arrived.
    func earliestEventReceived(tenantID: String, afterMicros receivedAfterMicros: Int64) async throws -> Int64?
    /// Start (seconds) of the earliest hour with usage of this meter, if any.
    func firstUsageHour(meter: Meter) async throws -> Int64?
}
