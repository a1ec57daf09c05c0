import Foundation
import HourmeterCore
import NIOCore
import SQLKit

/// Device health over either engine, projected from `device.telemetry` events.
///
/// Ingestion queues every batch holding telemetry (`health_queue`) in the batch's own
/// transaction; `project` takes queued batches in order, judges each window with its device
/// model's `HealthProfile`, and in one transaction stores the windows, moves each device's
/// latest health, opens, escalates or clears alarms (`HealthAlarms`), records each alarm
/// transition as an `alarm_events` row and a webhook event, and removes the batches from the
/// queue. A crash anywhere leaves the batches queued, and the next projection does them again
/// from the start. Projections are serialized (one writer on SQLite, an advisory lock on
/// PostgreSQL), so alarms follow each device's windows in time order.
///
/// A window older than its device's latest one (an edge box uploading a backlog late) is kept
/// for the trend but does not move the device's current health or its alarms: those follow the
/// newest state of the machine.
final class SQLHealthStore: HealthStore {
    let backend: any SQLBackend
    init(backend: any SQLBackend) { self.backend = backend }

    struct Window {
        var serial: String
        var timeMicros: Int64
        var velocityRMS: Double
        var kurtosis: Double
        var temperature: Double?
        /// The state the vibration was taken in (what the window is judged under).
        var state: String
        /// The state at the window's end, shown as the device's current state.
        var stateAtEnd: String
        var data: String
    }

    func project(limit: Int, rounds: Int) async throws -> Int {
        var total = 0
        for _ in 0..<rounds {
            let batches: Int, windows: Int
            do {
                (batches, windows) = try await projectOnce(limit: limit, only: nil)
            } catch {
                // One bad batch must not stop every device's health: do this round batch by
                // batch, and set aside (with its error) a batch that fails twice on its own.
                (batches, windows) = try await projectOneByOne(limit: limit)
            }
            total += windows
            if batches < limit { break }
        }
        return total
    }

    func projectOneByOne(limit: Int) async throws -> (batches: Int, windows: Int) {
        let seqs = try await backend.read { db in
            try await db.raw("SELECT seq FROM health_queue ORDER BY seq LIMIT \(bind: limit)").all().map { try $0.decode(column: "seq", as: Int64.self) }
        }
        var windows = 0
        for seq in seqs {
            var lastError: (any Error)?
            for _ in 0..<2 {
                do {
                    windows += try await projectOnce(limit: 1, only: seq).windows
                    lastError = nil
                    break
                } catch { lastError = error }
            }
            if let lastError {
                let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                try await backend.transaction { db in
                    try await db.raw("""
                        INSERT INTO health_failed (seq, error, failed_at) VALUES (\(bind: seq), \(bind: String(String(reflecting: lastError).prefix(2000))), \(bind: now))
                        ON CONFLICT (seq) DO NOTHING
                        """).run()
                    try await db.raw("DELETE FROM health_queue WHERE seq = \(bind: seq)").run()
                }
            }
        }
        return (seqs.count, windows)
    }

    /// One transaction: the oldest `limit` queued batches, or just `only`.
    func projectOnce(limit: Int, only: Int64?) async throws -> (batches: Int, windows: Int) {
        let engine = backend.engine
        return try await backend.transaction { db in
            if engine == .postgres { try await db.raw("SELECT pg_advisory_xact_lock(4242013)").run() }
            let seqs: [Int64]
            if let only {
                seqs = try await db.raw("SELECT seq FROM health_queue WHERE seq = \(bind: only)").all().map { try $0.decode(column: "seq", as: Int64.self) }
            } else {
                seqs = try await db.raw("SELECT seq FROM health_queue ORDER BY seq LIMIT \(bind: limit)").all().map { try $0.decode(column: "seq", as: Int64.self) }
            }
            guard !seqs.isEmpty else { return (0, 0) }
            var byTenant: [String: [Window]] = [:]
            for chunk in seqs.chunked(100) {
                let rows = try await db.raw("SELECT tenant_id, body FROM event_batches WHERE seq IN (\(binds: Array(chunk)))").all()
                for row in rows {
                    let tenantID = try row.decode(column: "tenant_id", as: String.self)
                    for event in try EventLogCodec.decode(try row.decode(column: "body", as: ByteBuffer.self)) where event.type == EdgeEvents.telemetryType {
                        if let window = Self.window(event) { byTenant[tenantID, default: []].append(window) }
                    }
                }
            }
            var windows = 0
            for (tenantID, list) in byTenant.sorted(by: { $0.key < $1.key }) {
                windows += list.count
                try await Self.project(list, tenantID: tenantID, on: db)
            }
            try await db.raw("DELETE FROM health_queue WHERE seq IN (\(binds: seqs))").run()
            return (seqs.count, windows)
        }
    }

    /// The parts of a telemetry event health needs; nil when it lacks them (a malformed
    /// window from a third-party agent is skipped rather than blocking the queue).
    static func window(_ event: UsageEvent) -> Window? {
        guard let bytes = event.data, let data = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let velocity = (data["velocity_rms_mm_s"] as? NSNumber)?.doubleValue, velocity.isFinite, velocity >= 0,
              let kurtosis = ((data["acceleration"] as? [String: Any])?["kurtosis"] as? NSNumber)?.doubleValue, kurtosis.isFinite
        else { return nil }
        let temperature = ((data["temperature_c"] as? [String: Any])?["mean"] as? NSNumber)?.doubleValue
        let state = (data["state"] as? String).flatMap(DeviceStateMachine.State.init(rawValue:))?.rawValue ?? "unknown"
        let stateAtEnd = (data["state_at_end"] as? String).flatMap(DeviceStateMachine.State.init(rawValue:))?.rawValue ?? state
        return Window(serial: event.subject, timeMicros: event.timeMicros, velocityRMS: velocity, kurtosis: kurtosis,
                      temperature: temperature.flatMap { $0.isFinite ? $0 : nil }, state: state, stateAtEnd: stateAtEnd,
                      data: String(decoding: bytes, as: UTF8.self))
    }

    struct AlarmRow {
        var record: AlarmRecord
        var isNew: Bool
    }

    static func project(_ windows: [Window], tenantID: String, on db: any SQLDatabase) async throws {
        let serials = Array(Set(windows.map(\.serial))).sorted()
        var profiles: [String: HealthProfile] = [:]
        var latest: [String: Int64] = [:]
        var hasRow = Set<String>()
        var open: [String: [AlarmKind: AlarmRow]] = [:]
        for chunk in serials.chunked(200) {
            let list = Array(chunk)
            for row in try await db.raw("""
                SELECT d.serial, m.health_profile FROM devices d JOIN device_models m ON m.id = d.model_id AND m.tenant_id = d.tenant_id
                WHERE d.tenant_id = \(bind: tenantID) AND d.serial IN (\(binds: list))
                """).all() {
                if let text = try row.decode(column: "health_profile", as: String?.self),
                   let document = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                   let profile = try? HealthProfile(document: document) {
                    profiles[try row.decode(column: "serial", as: String.self)] = profile
                }
            }
            for row in try await db.raw("SELECT serial, state_at FROM device_health WHERE tenant_id = \(bind: tenantID) AND serial IN (\(binds: list))").all() {
                let serial = try row.decode(column: "serial", as: String.self)
                latest[serial] = try row.decode(column: "state_at", as: Int64.self)
                hasRow.insert(serial)
            }
            for row in try await db.raw("""
                SELECT \(unsafeRaw: alarmColumns) FROM alarms WHERE tenant_id = \(bind: tenantID) AND status = 'open' AND serial IN (\(binds: list))
                """).all() {
                let record = try alarm(row)
                guard let kind = AlarmKind(rawValue: record.kind) else { continue }
                open[record.serial, default: [:]][kind] = AlarmRow(record: record, isNew: false)
            }
        }

        var samples: [(Window, HealthAssessment)] = []
        var judged: [String: (Window, HealthAssessment)] = [:]
        var lastState: [String: Window] = [:]
        var touched: [String: AlarmRow] = [:]  // by alarm id
        var events: [AlarmEventRecord] = []
        for window in windows.sorted(by: { ($0.timeMicros, $0.serial) < ($1.timeMicros, $1.serial) }) {
            let profile = profiles[window.serial] ?? .standard
            let assessment = profile.assess(velocityRMS: window.velocityRMS, kurtosis: window.kurtosis,
                                            temperature: window.temperature ?? profile.normalTemperature)
            samples.append((window, assessment))
            guard window.timeMicros > (latest[window.serial] ?? .min) else { continue }
            latest[window.serial] = window.timeMicros
            lastState[window.serial] = window
            // A machine at rest says nothing about its condition: its windows move the state
            // shown, but not the zone, the index or the alarms (a worn bearing does not
            // recover overnight because the machine is switched off).
            guard Self.operating(window.state) || (!hasRow.contains(window.serial) && judged[window.serial] == nil) else { continue }
            judged[window.serial] = (window, assessment)
            guard Self.operating(window.state) else { continue }
            let current = open[window.serial] ?? [:]
            for transition in HealthAlarms.evaluate(open: current.mapValues { OpenAlarm(kind: AlarmKind(rawValue: $0.record.kind)!, severity: $0.record.severity) },
                                                    assessment: assessment, profile: profile) {
                var row: AlarmRow
                switch transition {
                case .raised(let kind, let severity):
                    row = AlarmRow(record: AlarmRecord(
                        id: APIKeyMaterial.identifier("alm"), serial: window.serial, kind: kind.rawValue, severity: severity, status: "open",
                        raisedAtMicros: window.timeMicros, lastSeenAtMicros: window.timeMicros, clearedAtMicros: nil, occurrences: 1,
                        index: assessment.index, velocityRMS: assessment.velocityRMS, zone: assessment.zone.rawValue), isNew: true)
                    open[window.serial, default: [:]][kind] = row
                case .updated(let kind, let severity, _):
                    row = current[kind]!
                    row.record.severity = severity
                    row.record.occurrences += 1
                    row.record.lastSeenAtMicros = window.timeMicros
                    row.record.index = assessment.index
                    row.record.velocityRMS = assessment.velocityRMS
                    row.record.zone = assessment.zone.rawValue
                    open[window.serial]![kind] = row
                case .cleared(let kind):
                    row = current[kind]!
                    row.record.status = "cleared"
                    row.record.clearedAtMicros = window.timeMicros
                    row.record.index = assessment.index
                    row.record.velocityRMS = assessment.velocityRMS
                    row.record.zone = assessment.zone.rawValue
                    open[window.serial]![kind] = nil
                }
                touched[row.record.id] = row
                if let type = transition.eventType {
                    events.append(AlarmEventRecord(alarmID: row.record.id, type: type, atMicros: window.timeMicros, severity: row.record.severity,
                                                   index: assessment.index, velocityRMS: assessment.velocityRMS, zone: assessment.zone.rawValue))
                }
            }
        }

        for chunk in samples.chunked(200) {
            var query: SQLQueryString = """
                INSERT INTO device_health_samples (tenant_id, serial, time, velocity_rms, kurtosis, temperature, health_index, zone, state) VALUES
                """
            query += chunk.map { window, assessment in
                "(\(bind: tenantID), \(bind: window.serial), \(bind: window.timeMicros), \(bind: window.velocityRMS), \(bind: window.kurtosis), \(bind: window.temperature), \(bind: assessment.index), \(bind: assessment.zone.rawValue), \(bind: window.state))" as SQLQueryString
            }.joined(separator: ", ")
            query += " ON CONFLICT (tenant_id, serial, time) DO NOTHING"
            try await db.raw(query).run()
        }
        for (serial, (window, assessment)) in judged.sorted(by: { $0.key < $1.key }) {
            try await db.raw("""
                INSERT INTO device_health (tenant_id, serial, time, health_index, zone, state, velocity_rms, telemetry, state_at)
                VALUES (\(bind: tenantID), \(bind: serial), \(bind: window.timeMicros), \(bind: assessment.index), \(bind: assessment.zone.rawValue),
                        \(bind: window.stateAtEnd), \(bind: assessment.velocityRMS), \(bind: window.data), \(bind: window.timeMicros))
                ON CONFLICT (tenant_id, serial) DO UPDATE SET time = excluded.time, health_index = excluded.health_index, zone = excluded.zone,
                    state = excluded.state, velocity_rms = excluded.velocity_rms, telemetry = excluded.telemetry, state_at = excluded.state_at
                """).run()
        }
        for (serial, window) in lastState.sorted(by: { $0.key < $1.key }) where window.timeMicros > (judged[serial]?.0.timeMicros ?? .min) {
            try await db.raw("""
                UPDATE device_health SET state = \(bind: window.stateAtEnd), state_at = \(bind: window.timeMicros)
                WHERE tenant_id = \(bind: tenantID) AND serial = \(bind: serial)
                """).run()
        }
        // Existing alarms first (a clear frees the device's slot), then new ones, cleared
        // before open: the one-open-alarm index holds at every statement.
        let ordered = touched.values.sorted { ($0.isNew ? 1 : 0, $0.record.status == "open" ? 1 : 0, $0.record.raisedAtMicros) < ($1.isNew ? 1 : 0, $1.record.status == "open" ? 1 : 0, $1.record.raisedAtMicros) }
        for row in ordered {
            let alarm = row.record
            if row.isNew {
                try await db.raw("""
                    INSERT INTO alarms (\(unsafeRaw: alarmColumns)) VALUES (\(bind: alarm.id), \(bind: tenantID), \(bind: alarm.serial), \(bind: alarm.kind),
                        \(bind: alarm.severity), \(bind: alarm.status), \(bind: alarm.raisedAtMicros), \(bind: alarm.lastSeenAtMicros), \(bind: alarm.clearedAtMicros),
                        \(bind: alarm.occurrences), \(bind: alarm.index), \(bind: alarm.velocityRMS), \(bind: alarm.zone))
                    """).run()
            } else {
                try await db.raw("""
                    UPDATE alarms SET severity = \(bind: alarm.severity), status = \(bind: alarm.status), last_seen_at = \(bind: alarm.lastSeenAtMicros),
                        cleared_at = \(bind: alarm.clearedAtMicros), occurrences = \(bind: alarm.occurrences), health_index = \(bind: alarm.index),
                        velocity_rms = \(bind: alarm.velocityRMS), zone = \(bind: alarm.zone)
                    WHERE id = \(bind: alarm.id) AND tenant_id = \(bind: tenantID)
                    """).run()
            }
        }
        guard !events.isEmpty else { return }
        let subscribers = try await WebhookOutbox.subscribers(tenantID: tenantID, on: db)
        for event in events {
            try await db.raw("""
                INSERT INTO alarm_events (tenant_id, alarm_id, type, at, severity, health_index, velocity_rms, zone)
                VALUES (\(bind: tenantID), \(bind: event.alarmID), \(bind: event.type), \(bind: event.atMicros), \(bind: event.severity),
                        \(bind: event.index), \(bind: event.velocityRMS), \(bind: event.zone))
                """).run()
            let alarm = touched[event.alarmID]!.record
            try await WebhookOutbox.emit(event.type, tenantID: tenantID, payload: [
                "alarm": event.alarmID, "device": alarm.serial, "kind": alarm.kind, "severity": event.severity,
                "zone": event.zone, "health_index": event.index, "velocity_rms_mm_s": event.velocityRMS,
                "at": RFC3339.format(microseconds: event.atMicros),
            ], atMicros: event.atMicros, on: db, subscribers: subscribers)
        }
    }

    /// States in which vibration is judged: running and peak, or a telemetry source that does
    /// not report a state.
    static func operating(_ state: String) -> Bool { state == "running" || state == "peak" || state == "unknown" }

    static let alarmColumns = "id, tenant_id, serial, kind, severity, status, raised_at, last_seen_at, cleared_at, occurrences, health_index, velocity_rms, zone"

    static func alarm(_ row: any SQLRow) throws -> AlarmRecord {
        AlarmRecord(
            id: try row.decode(column: "id", as: String.self), serial: try row.decode(column: "serial", as: String.self),
            kind: try row.decode(column: "kind", as: String.self), severity: try row.decode(column: "severity", as: String.self),
            status: try row.decode(column: "status", as: String.self), raisedAtMicros: try row.decode(column: "raised_at", as: Int64.self),
            lastSeenAtMicros: try row.decode(column: "last_seen_at", as: Int64.self), clearedAtMicros: try row.decode(column: "cleared_at", as: Int64?.self),
            occurrences: try row.decode(column: "occurrences", as: Int.self), index: try row.decode(column: "health_index", as: Double.self),
            velocityRMS: try row.decode(column: "velocity_rms", as: Double.self), zone: try row.decode(column: "zone", as: String.self))
    }

    static func health(_ row: any SQLRow) throws -> DeviceHealthRecord {
        DeviceHealthRecord(
            serial: try row.decode(column: "serial", as: String.self), timeMicros: try row.decode(column: "time", as: Int64.self),
            stateAtMicros: try row.decode(column: "state_at", as: Int64.self),
            index: try row.decode(column: "health_index", as: Double.self), zone: try row.decode(column: "zone", as: String.self),
            state: try row.decode(column: "state", as: String.self), velocityRMS: try row.decode(column: "velocity_rms", as: Double.self),
            telemetry: try row.decode(column: "telemetry", as: String.self))
    }

    // MARK: Reads

    func latest(tenantID: String, serial: String) async throws -> DeviceHealthRecord? {
        try await backend.read { db in
            try await db.raw("SELECT * FROM device_health WHERE tenant_id = \(bind: tenantID) AND serial = \(bind: serial)").first().map(Self.health)
        }
    }

    func trend(tenantID: String, serial: String, fromMicros: Int64, toMicros: Int64, buckets: Int) async throws -> [HealthPoint] {
        try await trends(tenantID: tenantID, serials: [serial], fromMicros: fromMicros, toMicros: toMicros, buckets: buckets)[serial] ?? []
    }

    func trends(tenantID: String, serials: [String], fromMicros: Int64, toMicros: Int64, buckets: Int) async throws -> [String: [HealthPoint]] {
        guard !serials.isEmpty else { return [:] }
        let width = max(1, (toMicros - fromMicros + Int64(buckets) - 1) / Int64(buckets))
        var result: [String: [HealthPoint]] = [:]
        for chunk in serials.chunked(500) {
            let rows = try await backend.read { db in
                try await db.raw("""
                    SELECT serial, (time - \(bind: fromMicros)) / \(bind: width) AS bucket, COUNT(*) AS windows, AVG(health_index) AS mean_index,
                        MIN(health_index) AS min_index, AVG(velocity_rms) AS mean_velocity, MAX(velocity_rms) AS max_velocity,
                        MAX(zone) AS worst_zone, AVG(temperature) AS mean_temperature
                    FROM device_health_samples
                    WHERE tenant_id = \(bind: tenantID) AND serial IN (\(binds: Array(chunk))) AND time >= \(bind: fromMicros) AND time < \(bind: toMicros)
                        AND state IN ('running', 'peak', 'unknown')
                    GROUP BY serial, bucket ORDER BY serial, bucket
                    """).all()
            }
            for row in rows {
                result[try row.decode(column: "serial", as: String.self), default: []].append(HealthPoint(
                    fromMicros: fromMicros + (try row.decode(column: "bucket", as: Int64.self)) * width,
                    windows: try row.decode(column: "windows", as: Int.self), meanIndex: try row.decode(column: "mean_index", as: Double.self),
                    minimumIndex: try row.decode(column: "min_index", as: Double.self),
                    meanVelocityRMS: try row.decode(column: "mean_velocity", as: Double.self),
                    maximumVelocityRMS: try row.decode(column: "max_velocity", as: Double.self),
                    worstZone: try row.decode(column: "worst_zone", as: String.self),
                    meanTemperature: try row.decode(column: "mean_temperature", as: Double?.self)))
            }
        }
        return result
    }

    func fleet(tenantID: String, limit: Int) async throws -> [FleetDevice] {
        try await backend.read { db in
            var devices: [FleetDevice] = []
            var seen = Set<String>()
            let registered = Set(try await db.raw("SELECT serial FROM devices WHERE tenant_id = \(bind: tenantID)").all().map { try $0.decode(column: "serial", as: String.self) })
            var openAlarms: [String: Int] = [:]
            for row in try await db.raw("SELECT serial, COUNT(*) AS n FROM alarms WHERE tenant_id = \(bind: tenantID) AND status = 'open' GROUP BY serial").all() {
                openAlarms[try row.decode(column: "serial", as: String.self)] = try row.decode(column: "n", as: Int.self)
            }
            for row in try await db.raw("""
                SELECT * FROM device_health WHERE tenant_id = \(bind: tenantID) ORDER BY zone DESC, health_index ASC, serial LIMIT \(bind: limit)
                """).all() {
                let health = try Self.health(row)
                seen.insert(health.serial)
                devices.append(FleetDevice(serial: health.serial, registered: registered.contains(health.serial), health: health,
                                           openAlarms: openAlarms[health.serial] ?? 0))
            }
            for serial in registered.subtracting(seen).sorted() where devices.count < limit {
                devices.append(FleetDevice(serial: serial, registered: true, health: nil, openAlarms: openAlarms[serial] ?? 0))
            }
            return devices
        }
    }

    func states(tenantID: String, serial: String, fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [(timeMicros: Int64, state: String)] {
        try await backend.read { db in
            try await db.raw("""
                SELECT time, state FROM device_health_samples
                WHERE tenant_id = \(bind: tenantID) AND serial = \(bind: serial) AND time >= \(bind: fromMicros) AND time < \(bind: toMicros)
                ORDER BY time LIMIT \(bind: limit)
                """).all().map { (try $0.decode(column: "time", as: Int64.self), try $0.decode(column: "state", as: String.self)) }
        }
    }

    func alarms(tenantID: String, status: String?, serial: String?, limit: Int) async throws -> [AlarmRecord] {
        try await backend.read { db in
            var query: SQLQueryString = "SELECT \(unsafeRaw: Self.alarmColumns) FROM alarms WHERE tenant_id = \(bind: tenantID)"
            if let status { query += " AND status = \(bind: status)" }
            if let serial { query += " AND serial = \(bind: serial)" }
            query += " ORDER BY raised_at DESC, id LIMIT \(bind: limit)"
            return try await db.raw(query).all().map(Self.alarm)
        }
    }

    func alarm(tenantID: String, id: String) async throws -> (AlarmRecord, [AlarmEventRecord])? {
        try await backend.read { db in
            guard let row = try await db.raw("SELECT \(unsafeRaw: Self.alarmColumns) FROM alarms WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").first() else {
                return nil
            }
            let events = try await db.raw("SELECT * FROM alarm_events WHERE alarm_id = \(bind: id) AND tenant_id = \(bind: tenantID) ORDER BY seq").all().map { row in
                AlarmEventRecord(alarmID: id, type: try row.decode(column: "type", as: String.self), atMicros: try row.decode(column: "at", as: Int64.self),
                                 severity: try row.decode(column: "severity", as: String.self), index: try row.decode(column: "health_index", as: Double.self),
                                 velocityRMS: try row.decode(column: "velocity_rms", as: Double.self), zone: try row.decode(column: "zone", as: String.self))
            }
            return (try Self.alarm(row), events)
        }
    }
}
