import Foundation
import HourmeterCore
import Logging
import SQLKit

/// The machine's write ceiling for the benchmark: the same rows the ingest benchmark sends,
/// inserted as plain multi-row INSERTs into a bare table with no index, in transactions of the
/// same size and with the same durability settings. Ingest throughput divided by this number
/// says how much the event path costs beyond the bare write.
public enum WriteCeiling {
    public struct Row: Sendable {
        public var id: String, source: String, type: String, subject: String, timeMicros: Int64, data: String
        public init(id: String, source: String, type: String, subject: String, timeMicros: Int64, data: String) {
            self.id = id; self.source = source; self.type = type; self.subject = subject; self.timeMicros = timeMicros; self.data = data
        }
    }

    /// Rows per second. On SQLite a fresh file in `scratchDirectory`; on PostgreSQL a scratch
    /// table that is dropped afterwards.
    public static func measure(_ location: DatabaseLocation, scratchDirectory: String, rows: [Row], rowsPerTransaction: Int, logger: Logger) async throws -> Double {
        let backend: any SQLBackend
        switch location {
        case .sqlite: backend = try await SQLiteBackend.open(directory: scratchDirectory, logger: logger)
        case .postgres(let url): backend = try PostgresBackend(url: url, logger: logger)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await backend.run() }
            defer { group.cancelAll() }
            try await backend.transaction { db in
                try await db.raw("DROP TABLE IF EXISTS ceiling_events").run()
                try await db.raw("CREATE TABLE ceiling_events (id TEXT, source TEXT, type TEXT, subject TEXT, time BIGINT, data TEXT)").run()
            }
            let start = ContinuousClock.now
            for chunk in rows.chunked(rowsPerTransaction) {
                try await backend.transaction { db in
                    for part in Array(chunk).chunked(1000) {
                        var query: SQLQueryString = "INSERT INTO ceiling_events (id, source, type, subject, time, data) VALUES "
                        query += part.map { row -> SQLQueryString in
                            "(\(bind: row.id), \(bind: row.source), \(bind: row.type), \(bind: row.subject), \(bind: row.timeMicros), \(bind: row.data))"
                        }.joined(separator: ", ")
                        try await db.raw(query).run()
                    }
                }
            }
            let elapsed = ContinuousClock.now - start
            try await backend.transaction { db in try await db.raw("DROP TABLE ceiling_events").run() }
            await backend.close()
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Double(rows.count) / seconds
        }
    }
}
