import Foundation
import HourmeterCore
import NIOCore
import SQLKit
import SQLiteNIO

public struct Meter: Sendable {
    public var id: String
    public var tenantID: String
    public var definition: MeterDefinition
    /// Events of the meter's type that had no usable value, so were not counted.
    public var skipped: Int64
    public var createdAtMicros: Int64
}

public enum MeterStoreError: Error, Sendable, Equatable {
    case slugTaken(String)
}

public protocol MeterStore: Sendable {
    /// Creates the meter and folds every event already stored for the tenant into it (backfill),
    /// atomically with respect to ingestion: no event is counted twice or missed.
    func createMeter(tenantID: String, definition: MeterDefinition, nowMicros: Int64) async throws -> Meter
    func meter(tenantID: String, slug: String) async throws -> Meter?
    func meters(tenantID: String) async throws -> [Meter]
    /// The slugs of the tenant's meters, without folding pending rollups first (for checks
    /// that only need to know a meter exists).
    func meterSlugs(tenantID: String) async throws -> Set<String>
    /// Deletes the meter and its rollups (raw events stay). False when there is no such meter.
    func deleteMeter(tenantID: String, slug: String) async throws -> Bool
}

extension SQLUsageStore: MeterStore {
    public func createMeter(tenantID: String, definition: MeterDefinition, nowMicros: Int64) async throws -> Meter {
        let meter = Meter(id: APIKeyMaterial.identifier("mtr"), tenantID: tenantID, definition: definition, skipped: 0, createdAtMicros: nowMicros)
        let engine = backend.engine
        let sqlite = (backend as? SQLiteBackend)?.writerConnection
        // PostgreSQL: fold the queue first, so the new meter's backfill (and its `skipped`)
        // covers what was acknowledged before it; what arrives meanwhile is folded later.
        if engine == .postgres { try await foldQueue() }
        let (created, _) = try await rollupLock.withLock { try await backend.transaction({ db in
            if engine == .postgres { try await Self.lockRollups(on: db) }
            // Fold what waits under the old meters first: the backfill then covers every stored batch once.
            let folded = try await self.foldPending(on: db)
            let existing = try await db.raw("SELECT id FROM meters WHERE tenant_id = \(bind: tenantID) AND slug = \(bind: definition.slug)").first()
            if existing != nil { throw MeterStoreError.slugTaken(definition.slug) }
            let groupBy = Self.groupByJSON(definition)
            try await db.raw("""
                INSERT INTO meters (id, tenant_id, slug, name, description, event_type, aggregation, value_property, group_by, skipped, created_at)
                VALUES (\(bind: meter.id), \(bind: tenantID), \(bind: definition.slug), \(bind: definition.name), \(bind: definition.description),
                        \(bind: definition.eventType), \(bind: definition.aggregation.rawValue), \(bind: definition.valueProperty?.text),
                        \(bind: groupBy), 0, \(bind: nowMicros))
                """).run()
            try await Self.backfill(CompiledMeter(id: meter.id, definition: definition), tenantID: tenantID, engine: engine, on: db, sqlite: sqlite)
            let skipped = try await db.raw("SELECT skipped FROM meters WHERE id = \(bind: meter.id)").first()?.decode(column: "skipped", as: Int64.self) ?? 0
            var created = meter
            created.skipped = skipped
            return (created, folded)
        }, afterCommit: { self.dropFolded($0.1) }) }
        return created
    }

    public func meter(tenantID: String, slug: String) async throws -> Meter? {
        try await foldPendingRollups()  // so `skipped` is current
        return try await backend.read { db in
            try await db.raw("SELECT * FROM meters WHERE tenant_id = \(bind: tenantID) AND slug = \(bind: slug)").first().map(Self.meter)
        }
    }

    public func meters(tenantID: String) async throws -> [Meter] {
        try await foldPendingRollups()
        return try await backend.read { db in
            try await db.raw("SELECT * FROM meters WHERE tenant_id = \(bind: tenantID) ORDER BY slug").all().map(Self.meter)
        }
    }

    public func meterSlugs(tenantID: String) async throws -> Set<String> {
        try await backend.read { db in
            Set(try await db.raw("SELECT slug FROM meters WHERE tenant_id = \(bind: tenantID)").all().map { try $0.decode(column: "slug", as: String.self) })
        }
    }

    public func deleteMeter(tenantID: String, slug: String) async throws -> Bool {
        let engine = backend.engine
        return try await rollupLock.withLock { try await backend.transaction({ db in
            if engine == .postgres { try await Self.lockRollups(on: db) }
            let folded = try await self.foldPending(on: db)
            guard let row = try await db.raw("SELECT id FROM meters WHERE tenant_id = \(bind: tenantID) AND slug = \(bind: slug)").first() else {
                return (false, folded)
            }
            let id = try row.decode(column: "id", as: String.self)
            for table in ["rollups", "rollup_distinct"] {
                try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE meter_id = \(bind: id)").run()
            }
            try await db.raw("DELETE FROM meters WHERE id = \(bind: id)").run()
            return (true, folded)
        }, afterCommit: { self.dropFolded($0.1) }).0 }
    }

    /// Batches read per step of a backfill: bounds memory, not the total.
    static let backfillBatchesPerStep = 200

    static func backfill(_ meter: CompiledMeter, tenantID: String, engine: SQLEngine, on db: any SQLDatabase, sqlite: SQLiteConnection?) async throws {
        var after: Int64 = -1
        // PostgreSQL: batches still queued are folded later, with this meter among the meters.
        let notQueued = engine == .postgres ? " AND seq NOT IN (SELECT seq FROM rollup_queue)" : ""
        while true {
            let rows = try await db.raw("""
                SELECT seq, body FROM event_batches WHERE tenant_id = \(bind: tenantID) AND seq > \(bind: after)\(unsafeRaw: notQueued)
                ORDER BY seq LIMIT \(literal: backfillBatchesPerStep)
                """).all()
            if rows.isEmpty { return }
            var delta = RollupDelta()
            for row in rows {
                after = try row.decode(column: "seq", as: Int64.self)
                let events = try EventLogCodec.decode(try row.decode(column: "body", as: ByteBuffer.self))
                try RollupBuilder.accumulate(events.lazy.map(\.metered), meters: [meter], into: &delta)
            }
            try RollupBuilder.summarize(&delta)
            try await RollupSQL.apply(delta, engine: engine, on: db, sqlite: sqlite)
        }
    }

    /// PostgreSQL: meter changes hold the rollup lock, like folds in every process, so a
    /// backfill and a fold never both count (or both miss) a batch.
    static func lockRollups(on db: any SQLDatabase) async throws {
        try await db.raw("SELECT pg_advisory_xact_lock(\(literal: rollupAdvisoryLock))").run()
    }

    static func groupByJSON(_ definition: MeterDefinition) -> String {
        "{" + definition.groupBy.map { JSONText.quoted($0.name) + ":" + JSONText.quoted($0.path.text) }.joined(separator: ",") + "}"
    }

    static func meter(_ row: any SQLRow) throws -> Meter {
        let groupText = try row.decode(column: "group_by", as: String.self)
        let groupBy = (try? JSONSerialization.jsonObject(with: Data(groupText.utf8))) as? [String: String] ?? [:]
        let definition = try MeterDefinition(
            slug: try row.decode(column: "slug", as: String.self), name: try row.decode(column: "name", as: String?.self),
            description: try row.decode(column: "description", as: String?.self),
            eventType: try row.decode(column: "event_type", as: String.self),
            aggregation: try row.decode(column: "aggregation", as: String.self),
            valueProperty: try row.decode(column: "value_property", as: String?.self), groupBy: groupBy)
        return Meter(id: try row.decode(column: "id", as: String.self), tenantID: try row.decode(column: "tenant_id", as: String.self),
                     definition: definition, skipped: try row.decode(column: "skipped", as: Int64.self),
                     createdAtMicros: try row.decode(column: "created_at", as: Int64.self))
    }
}
