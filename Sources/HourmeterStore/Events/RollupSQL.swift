import Foundation
import HourmeterCore
import NIOCore
import SQLKit
import SQLiteNIO
import Synchronization

/// Writes a `RollupDelta`: reads the touched hour rows, merges in memory (exact decimals,
/// minutes inside the hour), writes them back. One code path for both engines; PostgreSQL
/// locks the rows first (`FOR UPDATE` after inserting any missing ones) so processes sharing
/// the database merge one after another, and SQLite talks to SQLiteNIO directly because
/// SQLKit's per-bind encoding costs more than SQLite's own work here.
enum RollupSQL {
    static let rowsPerStatement = 200
    /// PostgreSQL pays a round trip per statement: bigger statements (11 parameters a row,
    /// under the 65,535 parameter limit).
    static let postgresRowsPerStatement = 2_000

    static func apply(_ delta: RollupDelta, engine: SQLEngine, on db: any SQLDatabase, sqlite: SQLiteConnection?) async throws {
        let overflowed = OverflowTally()
        let merged = try await merge(delta, readingFrom: sqlite, or: db, overflowed: overflowed)
        try await write(merged, delta: overflowed.adding(to: delta), on: db, sqlite: sqlite)
    }

    /// The touched rows as they will be after the delta: existing rows read (and on
    /// PostgreSQL locked) and merged in memory.
    static func merge(_ delta: RollupDelta, readingFrom sqlite: SQLiteConnection?, or db: any SQLDatabase) async throws -> [(RollupKey, HourRollup)] {
        try await merge(delta, readingFrom: sqlite, or: db, overflowed: OverflowTally())
    }

    /// As `merge`, also reporting by meter the events of rows that overflowed when merged.
    static func merge(_ delta: RollupDelta, readingFrom sqlite: SQLiteConnection?, or db: any SQLDatabase,
                      overflowed: OverflowTally) async throws -> [(RollupKey, HourRollup)] {
        let keys = delta.hours.keys.sorted { ($0.meterID, $0.subject, $0.bucket, $0.groupKey) < ($1.meterID, $1.subject, $1.bucket, $1.groupKey) }
        var merged: [(RollupKey, HourRollup)] = []
        merged.reserveCapacity(keys.count)
        for chunk in keys.chunked(sqlite == nil ? postgresRowsPerStatement : rowsPerStatement) {
            let existing: [RollupKey: HourRollup]
            if let sqlite {
                existing = try await readSQLite(Array(chunk), on: sqlite)
            } else {
                existing = try await readPostgres(Array(chunk), on: db)
            }
            for key in chunk {
                var row = existing[key] ?? HourRollup()
                do {
                    try row.merge(delta.hours[key]!)
                } catch {
                    // The stored hour plus these events would overflow: keep the stored hour,
                    // count the events as skipped (see `skippedOnMerge`), never block the fold.
                    overflowed.add(key.meterID, Int(delta.hours[key]!.summary.count))
                    continue
                }
                merged.append((key, row))
            }
        }
        return merged
    }

    /// Writes merged rows, distinct values and skip counts.
    static func write(_ merged: [(RollupKey, HourRollup)], delta: RollupDelta, on db: any SQLDatabase, sqlite: SQLiteConnection?) async throws {
        for chunk in merged.chunked(sqlite == nil ? postgresRowsPerStatement : rowsPerStatement) {
            if let sqlite { try await writeSQLite(Array(chunk), on: sqlite) } else { try await writePostgres(Array(chunk), on: db) }
        }
        let distinct = delta.distinct.sorted { ($0.rollup.meterID, $0.rollup.bucket, $0.rollup.subject, $0.rollup.groupKey, $0.value) < ($1.rollup.meterID, $1.rollup.bucket, $1.rollup.subject, $1.rollup.groupKey, $1.value) }
        for chunk in distinct.chunked(rowsPerStatement) {
            var query: SQLQueryString = "INSERT INTO rollup_distinct (meter_id, bucket, subject, group_key, value) VALUES "
            query += chunk.map { item -> SQLQueryString in
                "(\(bind: item.rollup.meterID), \(bind: item.rollup.bucket), \(bind: item.rollup.subject), \(bind: item.rollup.groupKey), \(bind: item.value))"
            }.joined(separator: ", ")
            query += " ON CONFLICT DO NOTHING"
            try await db.raw(query).run()
        }
        for (meterID, count) in delta.skipped.sorted(by: { $0.key < $1.key }) {
            try await db.raw("UPDATE meters SET skipped = skipped + \(bind: count) WHERE id = \(bind: meterID)").run()
        }
    }

    static let columns = "meter_id, bucket, subject, group_key, cnt, total, min_value, max_value, latest_time, latest_value, minutes"
    /// Rows were merged in memory: the stored values are replaced, the key stays.
    static let overwrite = """
         ON CONFLICT (meter_id, subject, bucket, group_key) DO UPDATE SET cnt = excluded.cnt, total = excluded.total, \
        min_value = excluded.min_value, max_value = excluded.max_value, latest_time = excluded.latest_time, \
        latest_value = excluded.latest_value, minutes = excluded.minutes
        """

    // MARK: SQLite

    static func readSQLite(_ keys: [RollupKey], on connection: SQLiteConnection) async throws -> [RollupKey: HourRollup] {
        // A join on VALUES, not a row-value IN: SQLite plans the IN as a full scan (measured),
        // the join as one primary-key lookup per key.
        let qualified = columns.split(separator: ",").map { "r." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
        let sql = "SELECT \(qualified) FROM (VALUES "
            + Array(repeating: "(?,?,?,?)", count: keys.count).joined(separator: ",")
            + ") AS v CROSS JOIN rollups AS r ON r.meter_id = v.column1 AND r.subject = v.column2 AND r.bucket = v.column3 AND r.group_key = v.column4"
        var binds: [SQLiteData] = []
        binds.reserveCapacity(keys.count * 4)
        for key in keys {
            binds.append(.text(key.meterID)); binds.append(.text(key.subject))
            binds.append(.integer(SQLiteInt64(key.bucket))); binds.append(.text(key.groupKey))
        }
        let found = Mutex<[RollupKey: HourRollup]>([:])
        try await connection.query(sql, binds) { row in
            guard let parsed = try? sqliteRow(row) else { return }
            found.withLock { $0[parsed.0] = parsed.1 }
        }
        let rows = found.withLock { $0 }
        guard rows.count <= keys.count else { throw MinuteSlotCodec.CorruptSlots() }
        return rows
    }

    static func sqliteRow(_ row: SQLiteRow) throws -> (RollupKey, HourRollup) {
        func text(_ name: String) -> String? { row.column(name)?.string }
        func decimal(_ name: String) -> ExactDecimal? { text(name).flatMap(ExactDecimal.init) }
        guard let meterID = text("meter_id"), let bucket = row.column("bucket")?.integer, let subject = text("subject"),
              let groupKey = text("group_key"), let count = row.column("cnt")?.integer, let blob = row.column("minutes")?.blob else {
            throw MinuteSlotCodec.CorruptSlots()
        }
        let summary = AggregateState(count: Int64(count), sum: decimal("total") ?? .zero, min: decimal("min_value"), max: decimal("max_value"),
                                     latestTime: row.column("latest_time")?.integer.map { Int64($0) }, latest: decimal("latest_value"))
        return (RollupKey(meterID: meterID, bucket: Int64(bucket), subject: subject, groupKey: groupKey),
                HourRollup(summary: summary, minutes: try MinuteSlotCodec.decode(blob)))
    }

    static func writeSQLite(_ rows: [(RollupKey, HourRollup)], on connection: SQLiteConnection) async throws {
        // An upsert, not INSERT OR REPLACE: REPLACE deletes and reinserts, touching every index.
        let sql = "INSERT INTO rollups (\(columns)) VALUES "
            + Array(repeating: "(?,?,?,?,?,?,?,?,?,?,?)", count: rows.count).joined(separator: ",") + overwrite
        func text(_ value: ExactDecimal?) -> SQLiteData { value.map { .text($0.description) } ?? .null }
        var binds: [SQLiteData] = []
        binds.reserveCapacity(rows.count * 11)
        for (key, row) in rows {
            let state = row.summary
            binds.append(.text(key.meterID)); binds.append(.integer(SQLiteInt64(key.bucket)))
            binds.append(.text(key.subject)); binds.append(.text(key.groupKey))
            binds.append(.integer(SQLiteInt64(state.count))); binds.append(.text(state.sum.description))
            binds.append(text(state.min)); binds.append(text(state.max))
            binds.append(state.latestTime.map { .integer(SQLiteInt64($0)) } ?? .null); binds.append(text(state.latest))
            binds.append(.blob(MinuteSlotCodec.encode(row.minutes)))
        }
        try await connection.query(sql, binds) { _ in }
    }

    // MARK: PostgreSQL

    static func keyValues(_ keys: [RollupKey]) -> SQLQueryString {
        keys.map { "(\(bind: $0.meterID), \(bind: $0.subject), \(bind: $0.bucket)::bigint, \(bind: $0.groupKey))" as SQLQueryString }
            .joined(separator: ", ")
    }

    static func readPostgres(_ keys: [RollupKey], on db: any SQLDatabase) async throws -> [RollupKey: HourRollup] {
        // Make every row exist, then lock them all: a concurrent process merging the same
        // rows waits for this transaction instead of overwriting it.
        var insert: SQLQueryString = "INSERT INTO rollups (\(unsafeRaw: columns)) SELECT v.m, v.b, v.s, v.g, 0, 0, NULL, NULL, NULL, NULL, ''::bytea FROM (VALUES "
        insert += keyValues(keys)
        insert += ") AS v(m, s, b, g) ON CONFLICT DO NOTHING"
        try await db.raw(insert).run()
        var select: SQLQueryString = """
            SELECT r.meter_id, r.bucket, r.subject, r.group_key, r.cnt, r.total::text AS total, r.min_value::text AS min_value,
                   r.max_value::text AS max_value, r.latest_time, r.latest_value::text AS latest_value, r.minutes
            FROM (VALUES
            """
        select += keyValues(keys)
        select += """
            ) AS v(m, s, b, g) JOIN rollups AS r ON r.meter_id = v.m AND r.subject = v.s AND r.bucket = v.b AND r.group_key = v.g
            ORDER BY r.meter_id, r.subject, r.bucket, r.group_key FOR UPDATE OF r
            """
        var result: [RollupKey: HourRollup] = [:]
        for row in try await db.raw(select).all() {
            func decimal(_ name: String) throws -> ExactDecimal? { try row.decode(column: name, as: String?.self).flatMap(ExactDecimal.init) }
            let key = RollupKey(meterID: try row.decode(column: "meter_id", as: String.self), bucket: try row.decode(column: "bucket", as: Int64.self),
                                subject: try row.decode(column: "subject", as: String.self), groupKey: try row.decode(column: "group_key", as: String.self))
            let summary = AggregateState(count: try row.decode(column: "cnt", as: Int64.self), sum: try decimal("total") ?? .zero,
                                         min: try decimal("min_value"), max: try decimal("max_value"),
                                         latestTime: try row.decode(column: "latest_time", as: Int64?.self), latest: try decimal("latest_value"))
            result[key] = HourRollup(summary: summary, minutes: try MinuteSlotCodec.decode(try row.decode(column: "minutes", as: ByteBuffer.self)))
        }
        return result
    }

    static func writePostgres(_ rows: [(RollupKey, HourRollup)], on db: any SQLDatabase) async throws {
        var query: SQLQueryString = "INSERT INTO rollups (\(unsafeRaw: columns)) VALUES "
        query += rows.map { key, row -> SQLQueryString in
            let state = row.summary
            return """
                (\(bind: key.meterID), \(bind: key.bucket), \(bind: key.subject), \(bind: key.groupKey), \(bind: state.count), \
                \(bind: state.sum.description)::numeric, \(bind: state.min?.description)::numeric, \(bind: state.max?.description)::numeric, \
                \(bind: state.latestTime), \(bind: state.latest?.description)::numeric, \(bind: MinuteSlotCodec.encode(row.minutes)))
                """
        }.joined(separator: ", ")
        query += SQLQueryString(overwrite)
        try await db.raw(query).run()
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

/// Events of rollup rows that could not be merged without overflowing, by meter: they are
/// added to the meter's `skipped` instead.
final class OverflowTally: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func add(_ meterID: String, _ events: Int) { counts.withLock { $0[meterID, default: 0] += events } }

    func adding(to delta: RollupDelta) -> RollupDelta {
        var result = delta
        for (meterID, count) in counts.withLock({ $0 }) { result.skipped[meterID, default: 0] += count }
        return result
    }
}
