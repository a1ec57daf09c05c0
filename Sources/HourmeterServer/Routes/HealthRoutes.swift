import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Device and fleet health, and alarms, as projected from `device.telemetry` events
/// (`SQLHealthStore`). Every key of the tenant reads; nothing here writes.
struct HealthRoutes {
    let store: Store
    let configuration: ServerConfiguration

    static let defaultRangeMicros: Int64 = 7 * 86_400_000_000

    func register(on group: RouterGroup<AppRequestContext>) {
        // `{id}`: the device's serial (what its events name as subject), or its id. The router
        // allows one parameter name per position, and `devices/{id}` is taken.
        group.get("devices/{id}/health") { request, context -> Response in
            let caller = try context.requireCaller()
            let key = context.parameters.get("id") ?? ""
            var device = try await store.customers.device(tenantID: caller.tenantID, serial: key)
            if device == nil { device = try await store.customers.device(tenantID: caller.tenantID, id: key) }
            let serial = device?.serial ?? key
            let latest = try await store.health.latest(tenantID: caller.tenantID, serial: serial)
            guard device != nil || latest != nil else { throw APIError.notFound("no device \(key) and no telemetry from it") }
            let to = try instant(request, "to") ?? configuration.nowMicros()
            let from = try instant(request, "from") ?? to - Self.defaultRangeMicros
            guard from < to else { throw FieldReader.invalid("from", "must be before to") }
            let points = try integer(request, "points", range: 1...1000) ?? 100
            let trend = try await store.health.trend(tenantID: caller.tenantID, serial: serial, fromMicros: from, toMicros: to, buckets: points)
            let alarms = try await store.health.alarms(tenantID: caller.tenantID, status: "open", serial: serial, limit: 10)
            var profile = HealthProfile.standard
            if let device, let model = try await store.customers.deviceModel(tenantID: caller.tenantID, id: device.modelID) {
                profile = model.healthProfile ?? .standard
            }
            return try HTTPHelpers.json(object: [
                "device": serial, "registered": device != nil,
                "latest": latest.map(Self.healthObject) ?? NSNull(),
                "profile": profile.document,
                "trend": ["from": HTTPHelpers.timestamp(from), "to": HTTPHelpers.timestamp(to), "points": trend.map(Self.pointObject)] as [String: Any],
                "open_alarms": alarms.map(Self.alarmObject),
            ] as [String: Any])
        }
        group.get("fleet/health") { request, context -> Response in
            let caller = try context.requireCaller()
            let limit = try HTTPHelpers.listLimit(request, maximum: 10_000, defaultValue: 1_000)
            let fleet = try await store.health.fleet(tenantID: caller.tenantID, limit: limit)
            var byZone: [String: Int] = ["A": 0, "B": 0, "C": 0, "D": 0, "unknown": 0]
            for device in fleet { byZone[device.health?.zone ?? "unknown", default: 0] += 1 }
            return try HTTPHelpers.json(object: [
                "by_zone": byZone,
                "devices": fleet.map { device -> [String: Any] in
                    var object: [String: Any] = ["device": device.serial, "registered": device.registered, "open_alarms": device.openAlarms]
                    if let health = device.health {
                        object["zone"] = health.zone
                        object["health_index"] = health.index
                        object["state"] = health.state
                        object["velocity_rms_mm_s"] = health.velocityRMS
                        object["time"] = HTTPHelpers.timestamp(health.timeMicros)
                        object["state_at"] = HTTPHelpers.timestamp(health.stateAtMicros)
                    } else {
                        object["zone"] = NSNull()
                    }
                    return object
                },
            ] as [String: Any])
        }
        group.get("alarms") { request, context -> Response in
            let caller = try context.requireCaller()
            let status = try HTTPHelpers.query(request, "status")
            if let status, !["open", "cleared"].contains(status) { throw FieldReader.invalid("status", "must be open or cleared") }
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let alarms = try await store.health.alarms(tenantID: caller.tenantID, status: status, serial: try HTTPHelpers.query(request, "device"), limit: limit)
            return try HTTPHelpers.json(object: alarms.map(Self.alarmObject))
        }
        group.get("alarms/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            let id = context.parameters.get("id") ?? ""
            guard let (alarm, events) = try await store.health.alarm(tenantID: caller.tenantID, id: id) else { throw APIError.notFound("no alarm \(id)") }
            var object = Self.alarmObject(alarm)
            object["transitions"] = events.map { event -> [String: Any] in
                ["type": event.type, "at": HTTPHelpers.timestamp(event.atMicros), "severity": event.severity,
                 "health_index": event.index, "velocity_rms_mm_s": event.velocityRMS, "zone": event.zone]
            }
            return try HTTPHelpers.json(object: object)
        }
    }

    func instant(_ request: Request, _ name: String) throws -> Int64? {
        guard let text = try HTTPHelpers.query(request, name) else { return nil }
        guard let micros = RFC3339.parseMicroseconds(text) else { throw FieldReader.invalid(name, "\"\(text)\" is not an RFC 3339 timestamp") }
        return micros
    }

    func integer(_ request: Request, _ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text = try HTTPHelpers.query(request, name) else { return nil }
        guard let value = Int(text), range.contains(value) else { throw FieldReader.invalid(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)") }
        return value
    }

    static func healthObject(_ health: DeviceHealthRecord) -> [String: Any] {
        var object: [String: Any] = [
            "time": HTTPHelpers.timestamp(health.timeMicros), "health_index": health.index, "zone": health.zone,
            "state": health.state, "state_at": HTTPHelpers.timestamp(health.stateAtMicros), "velocity_rms_mm_s": health.velocityRMS,
        ]
        object["telemetry"] = (try? JSONSerialization.jsonObject(with: Data(health.telemetry.utf8))) ?? NSNull()
        return object
    }

    static func pointObject(_ point: HealthPoint) -> [String: Any] {
        ["from": HTTPHelpers.timestamp(point.fromMicros), "windows": point.windows,
         "health_index": ["mean": rounded(point.meanIndex), "min": point.minimumIndex],
         "velocity_rms_mm_s": ["mean": rounded(point.meanVelocityRMS), "max": point.maximumVelocityRMS],
         "worst_zone": point.worstZone, "temperature_c": point.meanTemperature.map { rounded($0) as Any } ?? NSNull()]
    }

    static func alarmObject(_ alarm: AlarmRecord) -> [String: Any] {
        ["id": alarm.id, "device": alarm.serial, "kind": alarm.kind, "severity": alarm.severity, "status": alarm.status,
         "raised_at": HTTPHelpers.timestamp(alarm.raisedAtMicros), "last_seen_at": HTTPHelpers.timestamp(alarm.lastSeenAtMicros),
         "cleared_at": alarm.clearedAtMicros.map { HTTPHelpers.timestamp($0) as Any } ?? NSNull(), "occurrences": alarm.occurrences,
         "health_index": alarm.index, "velocity_rms_mm_s": alarm.velocityRMS, "zone": alarm.zone]
    }

    static func rounded(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }
}
