import HourmeterCore

/// A device's latest judged window (running or peak) and its current state.
public struct DeviceHealthRecord: Sendable, Equatable {
    public var serial: String
    /// When the judged window started.
    public var timeMicros: Int64
    /// When the window the current state comes from started (may be later).
    public var stateAtMicros: Int64
    public var index: Double
    public var zone: String
    public var state: String
    public var velocityRMS: Double
    /// The telemetry event's `data` as sent (features, cleaning counts).
    public var telemetry: String
}

/// A device in the fleet view: its latest health, or nil when it never reported.
public struct FleetDevice: Sendable, Equatable {
    public var serial: String
    public var registered: Bool
    public var health: DeviceHealthRecord?
    public var openAlarms: Int
}

/// One bucket of a device's health over time, from its running and peak windows.
public struct HealthPoint: Sendable, Equatable {
    public var fromMicros: Int64
    public var windows: Int
    public var meanIndex: Double
    public var minimumIndex: Double
    public var meanVelocityRMS: Double
    public var maximumVelocityRMS: Double
    /// The worst zone of the bucket.
    public var worstZone: String
    public var meanTemperature: Double?
}

public struct AlarmRecord: Sendable, Equatable {
    public var id: String
    public var serial: String
    public var kind: String
    public var severity: String
    public var status: String
    public var raisedAtMicros: Int64
    public var lastSeenAtMicros: Int64
    public var clearedAtMicros: Int64?
    public var occurrences: Int
    public var index: Double
    public var velocityRMS: Double
    public var zone: String
}

/// A recorded alarm transition: `alarm.raised`, `alarm.escalated` or `alarm.cleared`.
public struct AlarmEventRecord: Sendable, Equatable {
    public var alarmID: String
    public var type: String
    public var atMicros: Int64
    public var severity: String
    public var index: Double
    public var velocityRMS: Double
    public var zone: String
}

public protocol HealthStore: Sendable {
    /// Projects queued telemetry into device health and alarms, at most `limit` batches per
    /// transaction, until the queue is empty or `rounds` transactions ran. Returns the
    /// telemetry windows projected.
    func project(limit: Int, rounds: Int) async throws -> Int
    func latest(tenantID: String, serial: String) async throws -> DeviceHealthRecord?
    /// `buckets` equal slices of `[from, to)`, empty ones left out.
    func trend(tenantID: String, serial: String, fromMicros: Int64, toMicros: Int64, buckets: Int) async throws -> [HealthPoint]
    /// The trends of several devices in one read (the fleet page), by serial.
    func trends(tenantID: String, serials: [String], fromMicros: Int64, toMicros: Int64, buckets: Int) async throws -> [String: [HealthPoint]]
    /// Every device that reported or is registered, worst first (zone, then index).
    func fleet(tenantID: String, limit: Int) async throws -> [FleetDevice]
    /// The state of each window in `[from, to)`, oldest first, at most `limit`.
    func states(tenantID: String, serial: String, fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [(timeMicros: Int64, state: String)]
    func alarms(tenantID: String, status: String?, serial: String?, limit: Int) async throws -> [AlarmRecord]
    func alarm(tenantID: String, id: String) async throws -> (AlarmRecord, [AlarmEventRecord])?
}
