import HourmeterCore
import Logging
import SQLKit

/// The edge agent's durable queue: every event is written here (SQLite, WAL, synchronous=FULL)
/// before any upload is tried, together with how far the agent got in its input, so a crash
/// or a power cut loses nothing measured and a restart resumes where it stopped.
///
/// Events keep their deterministic ids (`EdgeEvents`): enqueueing one again is a no-op, and
/// uploading one again is answered by the server as a duplicate. Uploaded events are kept for
/// `keepUploadedSeconds` as the record of what was sent, then removed (their counts remain).
public final class EdgeQueue: Sendable {
    let backend: SQLiteBackend
    public static let fileName = "edge-queue.sqlite"

    public struct Progress: Sendable, Equatable {
        /// Where the input stands: the next interval's index (simulation) or start (files).
        public var position: Int64
        /// The device state machine's state, so hysteresis continues across a restart.
        public var state: String
        public init(position: Int64, state: String) { self.position = position; self.state = state }
    }

    public struct Pending: Sendable {
        public var seq: Int64
        public var id: String
        public var json: String
    }

    public struct Status: Sendable, Equatable {
        /// Events ever queued, by type.
        public var measured: [String: Int]
        public var pending: Int
        public var uploaded: Int
        /// Refused by the server as invalid; kept with the reason, never retried.
        public var rejected: Int
    }

    init(backend: SQLiteBackend) { self.backend = backend }

    /// Opens the queue in `directory`, which one agent holds at a time (`exclusive`); a
    /// status reader opens it beside the running agent.
    public static func open(directory: String, logger: Logger, exclusive: Bool = true) async throws -> EdgeQueue {
        let backend = try await SQLiteBackend.open(directory: directory, logger: logger, exclusive: exclusive, fileName: fileName)
        try await backend.transaction { db in
            for statement in [
                """
                CREATE TABLE IF NOT EXISTS edge_events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, time BIGINT NOT NULL,
                    body TEXT NOT NULL, status TEXT NOT NULL, uploaded_at BIGINT, reason TEXT)
                """,
                "CREATE INDEX IF NOT EXISTS edge_events_status ON edge_events (status, seq)",
                "CREATE TABLE IF NOT EXISTS edge_progress (stream TEXT PRIMARY KEY, position BIGINT NOT NULL, state TEXT NOT NULL)",
                // Counts of events removed after their retention, so the status stays whole.
                "CREATE TABLE IF NOT EXISTS edge_removed (type TEXT PRIMARY KEY, count BIGINT NOT NULL)",
                // Usage measured by state, exact decimals, kept as events are queued (and so
                // whole after retention removes the events themselves).
                "CREATE TABLE IF NOT EXISTS edge_totals (state TEXT PRIMARY KEY, run_seconds TEXT NOT NULL, energy_kwh TEXT NOT NULL)",
            ] {
                try await db.raw(SQLQueryString(statement)).run()
            }
        }
        return EdgeQueue(backend: backend)
    }

    public func close() async { await backend.close() }

    public func progress(stream: String) async throws -> Progress? {
        try await backend.read { db in
            guard let row = try await db.raw("SELECT position, state FROM edge_progress WHERE stream = \(bind: stream)").first() else { return nil }
            return Progress(position: try row.decode(column: "position", as: Int64.self), state: try row.decode(column: "state", as: String.self))
        }
    }

    /// Queues events and moves the stream's progress in one transaction: either both are on
    /// disk or neither is, so a restart neither skips nor repeats measuring.
    public func enqueue(_ events: [EdgeEvent], stream: String, progress: Progress) async throws {
        try await backend.transaction { db in
            var inserted = Set<String>()
            for chunk in events.chunked(200) {
                var query: SQLQueryString = "INSERT INTO edge_events (id, type, time, body, status) VALUES "
                query += chunk.map { "(\(bind: $0.id), \(bind: $0.type), \(bind: $0.timeMicros), \(bind: $0.json), 'pending')" as SQLQueryString }
                    .joined(separator: ", ")
                query += " ON CONFLICT (id) DO NOTHING RETURNING id"
                for row in try await db.raw(query).all() { inserted.insert(try row.decode(column: "id", as: String.self)) }
            }
            // Totals move only by events new to the queue: queueing one again adds nothing.
            var added: [String: (seconds: ExactDecimal, energy: ExactDecimal)] = [:]
            for event in events where inserted.contains(event.id) {
                guard let usage = event.usage, let seconds = ExactDecimal(usage.runSeconds), let energy = ExactDecimal(usage.energyKWh) else { continue }
                let sum = added[usage.state] ?? (.zero, .zero)
                added[usage.state] = (try sum.seconds.adding(seconds), try sum.energy.adding(energy))
            }
            for (state, sum) in added.sorted(by: { $0.key < $1.key }) {
                var seconds = sum.seconds, energy = sum.energy
                if let row = try await db.raw("SELECT run_seconds, energy_kwh FROM edge_totals WHERE state = \(bind: state)").first() {
                    seconds = try seconds.adding(ExactDecimal(try row.decode(column: "run_seconds", as: String.self)) ?? .zero)
                    energy = try energy.adding(ExactDecimal(try row.decode(column: "energy_kwh", as: String.self)) ?? .zero)
                }
                try await db.raw("""
                    INSERT INTO edge_totals (state, run_seconds, energy_kwh) VALUES (\(bind: state), \(bind: seconds.description), \(bind: energy.description))
                    ON CONFLICT (state) DO UPDATE SET run_seconds = excluded.run_seconds, energy_kwh = excluded.energy_kwh
                    """).run()
            }
            try await db.raw("""
                INSERT INTO edge_progress (stream, position, state) VALUES (\(bind: stream), \(bind: progress.position), \(bind: progress.state))
                ON CONFLICT (stream) DO UPDATE SET position = excluded.position, state = excluded.state
                """).run()
        }
    }

    /// Usage measured by state (exact): run seconds and energy.
    public func totals() async throws -> [String: (runSeconds: ExactDecimal, energyKWh: ExactDecimal)] {
        try await backend.read { db in
            var totals: [String: (runSeconds: ExactDecimal, energyKWh: ExactDecimal)] = [:]
            for row in try await db.raw("SELECT state, run_seconds, energy_kwh FROM edge_totals").all() {
                totals[try row.decode(column: "state", as: String.self)] = (
                    ExactDecimal(try row.decode(column: "run_seconds", as: String.self)) ?? .zero,
                    ExactDecimal(try row.decode(column: "energy_kwh", as: String.self)) ?? .zero)
            }
            return totals
        }
    }

    /// The oldest events not yet uploaded.
    public func pending(limit: Int) async throws -> [Pending] {
        try await backend.read { db in
            try await db.raw("SELECT seq, id, body FROM edge_events WHERE status = 'pending' ORDER BY seq LIMIT \(bind: limit)").all().map {
                Pending(seq: try $0.decode(column: "seq", as: Int64.self), id: try $0.decode(column: "id", as: String.self),
                        json: try $0.decode(column: "body", as: String.self))
            }
        }
    }

    /// Records that the server acknowledged these events, and removes uploaded ones older
    /// than the retention.
    public func markUploaded(_ seqs: [Int64], atMicros now: Int64, keepUploadedSeconds: Int64) async throws {
        try await backend.transaction { db in
            for chunk in seqs.chunked(500) {
                try await db.raw("UPDATE edge_events SET status = 'uploaded', uploaded_at = \(bind: now) WHERE seq IN (\(binds: Array(chunk)))").run()
            }
            let cutoff = now - keepUploadedSeconds * 1_000_000
            try await db.raw("""
                INSERT INTO edge_removed (type, count)
                SELECT type, COUNT(*) FROM edge_events WHERE status = 'uploaded' AND uploaded_at < \(bind: cutoff) GROUP BY type
                ON CONFLICT (type) DO UPDATE SET count = edge_removed.count + excluded.count
                """).run()
            try await db.raw("DELETE FROM edge_events WHERE status = 'uploaded' AND uploaded_at < \(bind: cutoff)").run()
        }
    }

    /// Sets events the server refused as invalid aside, with its answer.
    public func markRejected(_ seqs: [Int64], reason: String) async throws {
        try await backend.transaction { db in
            try await db.raw("UPDATE edge_events SET status = 'rejected', reason = \(bind: String(reason.prefix(2000))) WHERE seq IN (\(binds: seqs))").run()
        }
    }

    /// Puts events the server refused back in line (after the cause was fixed); returns how many.
    public func requeueRejected() async throws -> Int {
        try await backend.transaction { db in
            try await db.raw("UPDATE edge_events SET status = 'pending', reason = NULL WHERE status = 'rejected' RETURNING seq").all().count
        }
    }

    public func status() async throws -> Status {
        try await backend.read { db in
            var status = Status(measured: [:], pending: 0, uploaded: 0, rejected: 0)
            for row in try await db.raw("SELECT type, status, COUNT(*) AS n FROM edge_events GROUP BY type, status").all() {
                let count = try row.decode(column: "n", as: Int.self)
                status.measured[try row.decode(column: "type", as: String.self), default: 0] += count
                switch try row.decode(column: "status", as: String.self) {
                case "pending": status.pending += count
                case "uploaded": status.uploaded += count
                default: status.rejected += count
                }
            }
            for row in try await db.raw("SELECT type, count FROM edge_removed").all() {
                let count = try row.decode(column: "count", as: Int.self)
                status.measured[try row.decode(column: "type", as: String.self), default: 0] += count
                status.uploaded += count
            }
            return status
        }
    }

    /// Every queued event's body of a type (uploaded or not, within the retention), oldest
    /// first: for looking into the queue.
    public func bodies(type: String) async throws -> [String] {
        try await backend.read { db in
            try await db.raw("SELECT body FROM edge_events WHERE type = \(bind: type) ORDER BY seq").all().map { try $0.decode(column: "body", as: String.self) }
        }
    }
}
