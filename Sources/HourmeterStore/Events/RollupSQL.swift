import HourmeterCore
import SQLKit
import SQLiteNIO

/// Writes a `RollupDelta` as a handful of multi-row upserts, the same statements on both
/// engines except for how an exact decimal is added (NUMERIC vs `dec_add` on TEXT).
enum RollupSQL {
    static let rowsPerStatement = 400

    /// `sqlite`: the writer connection, when on SQLite; rows then go straight to SQLiteNIO with
    /// plain `?` parameters (SQLKit's per-bind encoding costs more than SQLite's own work here).
    static func apply(_ delta: RollupDelta, engine: SQLEngine, on db: any SQLDatabase, sqlite: SQLiteConnection?) async throws {
        if let sqlite {
            try await upsertSQLite(delta.minute, table: "rollup_minute", on: sqlite)
            try await upsertSQLite(delta.hour, table: "rollup_hour", on: sqlite)
        } else {
            try await upsert(delta.minute, table: "rollup_minute", engine: engine, on: db)
            try await upsert(delta.hour, table: "rollup_hour", engine: engine, on: db)
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

    static func upsertSQLite(_ rows: [RollupKey: AggregateState], table: String, on connection: SQLiteConnection) async throws {
        guard !rows.isEmpty else { return }
        let sorted = rows.sorted { ($0.key.meterID, $0.key.bucket, $0.key.subject, $0.key.groupKey) < ($1.key.meterID, $1.key.bucket, $1.key.subject, $1.key.groupKey) }
        let newer = "excluded.latest_time IS NOT NULL AND (\(table).latest_time IS NULL OR excluded.latest_time >= \(table).latest_time)"
        let tail = """
             ON CONFLICT (meter_id, bucket, subject, group_key) DO UPDATE SET \
            cnt = \(table).cnt + excluded.cnt, total = dec_add(\(table).total, excluded.total), \
            min_value = dec_min(\(table).min_value, excluded.min_value), max_value = dec_max(\(table).max_value, excluded.max_value), \
            latest_value = CASE WHEN \(newer) THEN excluded.latest_value ELSE \(table).latest_value END, \
            latest_time = CASE WHEN \(newer) THEN excluded.latest_time ELSE \(table).latest_time END
            """
        func text(_ value: ExactDecimal?) -> SQLiteData { value.map { .text($0.description) } ?? .null }
        for chunk in sorted.chunked(rowsPerStatement) {
            let sql = "INSERT INTO \(table) (meter_id, bucket, subject, group_key, cnt, total, min_value, max_value, latest_time, latest_value) VALUES "
                + Array(repeating: "(?,?,?,?,?,?,?,?,?,?)", count: chunk.count).joined(separator: ",") + tail
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 10)
            for (key, state) in chunk {
                binds.append(.text(key.meterID)); binds.append(.integer(SQLiteInt64(key.bucket)))
                binds.append(.text(key.subject)); binds.append(.text(key.groupKey))
                binds.append(.integer(SQLiteInt64(state.count))); binds.append(.text(state.sum.description))
                binds.append(text(state.min)); binds.append(text(state.max))
                binds.append(state.latestTime.map { .integer(SQLiteInt64($0)) } ?? .null); binds.append(text(state.latest))
            }
            try await connection.query(sql, binds) { _ in }
        }
    }

    /// Rows are written in key order so concurrent PostgreSQL writers lock rows in the same
    /// order and cannot deadlock.
    static func upsert(_ rows: [RollupKey: AggregateState], table: String, engine: SQLEngine, on db: any SQLDatabase) async throws {
        guard !rows.isEmpty else { return }
        let sorted = rows.sorted { ($0.key.meterID, $0.key.bucket, $0.key.subject, $0.key.groupKey) < ($1.key.meterID, $1.key.bucket, $1.key.subject, $1.key.groupKey) }
        let cast = engine == .postgres ? "::numeric" : ""
        let add = engine == .postgres ? "\(table).total + excluded.total" : "dec_add(\(table).total, excluded.total)"
        let least = engine == .postgres ? "LEAST(\(table).min_value, excluded.min_value)" : "dec_min(\(table).min_value, excluded.min_value)"
        let greatest = engine == .postgres ? "GREATEST(\(table).max_value, excluded.max_value)" : "dec_max(\(table).max_value, excluded.max_value)"
        let newer = "excluded.latest_time IS NOT NULL AND (\(table).latest_time IS NULL OR excluded.latest_time >= \(table).latest_time)"
        for chunk in sorted.chunked(rowsPerStatement) {
            var query: SQLQueryString = "INSERT INTO \(unsafeRaw: table) (meter_id, bucket, subject, group_key, cnt, total, min_value, max_value, latest_time, latest_value) VALUES "
            query += chunk.map { key, state -> SQLQueryString in
                "(\(bind: key.meterID), \(bind: key.bucket), \(bind: key.subject), \(bind: key.groupKey), \(bind: state.count), \(bind: state.sum.description)\(unsafeRaw: cast), \(bind: state.min?.description)\(unsafeRaw: cast), \(bind: state.max?.description)\(unsafeRaw: cast), \(bind: state.latestTime), \(bind: state.latest?.description)\(unsafeRaw: cast))"
            }.joined(separator: ", ")
            query += """
                 ON CONFLICT (meter_id, bucket, subject, group_key) DO UPDATE SET \
                cnt = \(unsafeRaw: table).cnt + excluded.cnt, total = \(unsafeRaw: add), \
                min_value = \(unsafeRaw: least), max_value = \(unsafeRaw: greatest), \
                latest_value = CASE WHEN \(unsafeRaw: newer) THEN excluded.latest_value ELSE \(unsafeRaw: table).latest_value END, \
                latest_time = CASE WHEN \(unsafeRaw: newer) THEN excluded.latest_time ELSE \(unsafeRaw: table).latest_time END
                """
            try await db.raw(query).run()
        }
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
