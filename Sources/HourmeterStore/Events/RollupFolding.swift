import HourmeterCore
import Logging
import NIOCore
import SQLKit
import NIOPosix
import Synchronization

/// Deferred rollups for the embedded engine.
///
/// On SQLite one process writes, so rollups need not be updated inside each ingest
/// transaction: committed batches wait here and are folded into the rollup tables together,
/// every `foldIntervalMilliseconds` or sooner when many wait. Folding many batches at once turns
/// thousands of upserts of the same minute and hour rows into one each — the difference
/// between ~9k and ~100k events/s on two cores. Nothing is lost or counted twice:
/// `rollup_state.watermark` records the last folded batch in the same transaction as the fold,
/// and start-up folds every batch after it. Every read of usage folds what waits first, so a
/// query always sees every acknowledged event. PostgreSQL, shared by many processes, keeps
/// updating rollups inside the ingest transaction instead.
struct PendingRollups: Sendable {
    var batches: [(seq: Int64, tenantID: String, events: [UsageEvent])] = []
    var eventCount = 0
}

extension SQLUsageStore {
    public static let foldIntervalMilliseconds = 1_000
    /// Past this many waiting events a fold starts without waiting for the interval.
    public static let eagerFoldEvents = 100_000
    /// Past this many waiting events, ingestion waits for a fold (back-pressure; bounds memory).
    public static let maxPendingRollupEvents = 500_000

    /// SQLite keeps waiting batches in memory; PostgreSQL in `rollup_queue`, shared by processes.
    var foldsInMemory: Bool { backend.engine == .sqlite }
    /// The PostgreSQL advisory lock held by whatever writes rollups (a fold, a meter change),
    /// in any process.
    static let rollupAdvisoryLock = 4_242_002
    /// Batches one PostgreSQL fold transaction takes from the queue.
    static let queueBatchesPerFold = 1_000

    func appendPending(_ batches: [(seq: Int64, tenantID: String, events: [UsageEvent])]) {
        pendingRollups.withLock { pending in
            pending.batches.append(contentsOf: batches)
            pending.eventCount += batches.reduce(0) { $0 + $1.events.count }
        }
    }

    var pendingRollupEvents: Int { pendingRollups.withLock { $0.eventCount } }

    /// Folds every waiting batch into the rollups.
    ///
    /// The work (aggregating events, reading and merging the touched rows) happens outside the
    /// write lock, so ingestion keeps committing meanwhile; only the final write takes it.
    /// `rollupLock` keeps folds and meter changes, the only writers of rollups, one at a time,
    /// so rows read here cannot change before they are written.
    func foldPendingRollups() async throws {
        guard ingests else { return }
        guard let sqlite = backend as? SQLiteBackend else { return try await foldQueue() }
        guard pendingRollups.withLock({ !$0.batches.isEmpty }) else { return }
        try await rollupLock.withLock {
            let batches = pendingRollups.withLock { $0.batches }
            guard let last = batches.last else { return }
            let started = ContinuousClock.now
            let tenants = Array(Set(batches.map(\.tenantID))).sorted()
            let meters = try await backend.read { db in try await Self.compiledMeters(for: tenants, on: db) }
            // A second of events is a few hundred milliseconds of work: on a thread of its own,
            // so the two threads of Swift's cooperative pool keep serving requests meanwhile.
            let finalDelta = try await foldThread.runIfActive {
                var delta = RollupDelta()
                for batch in batches {
                    guard let tenantMeters = meters[batch.tenantID] else { continue }
                    try RollupBuilder.accumulate(batch.events.lazy.map(\.metered), meters: tenantMeters, into: &delta)
                }
                try RollupBuilder.summarize(&delta)
                return delta
            }
            let reader = sqlite.readerConnection()
            let overflowed = OverflowTally()
            let merged = try await backend.read { db in
                try await RollupSQL.merge(finalDelta, readingFrom: reader, or: db, overflowed: overflowed)
            }
            let prepared = ContinuousClock.now
            _ = try await backend.transaction({ db in
                try await RollupSQL.write(merged, delta: overflowed.adding(to: finalDelta), on: db, sqlite: sqlite.writerConnection)
                try await db.raw("UPDATE rollup_state SET watermark = \(bind: last.seq) WHERE id = 1").run()
                return batches.count
            }, afterCommit: { self.dropFolded($0) })
            logger.debug("folded rollups", metadata: [
                "batches": "\(batches.count)", "hourRows": "\(merged.count)",
                "prepare": "\(prepared - started)", "write": "\(ContinuousClock.now - prepared)",
            ])
        }
    }

    /// PostgreSQL: folds everything in `rollup_queue`, a transaction per step, under the shared
    /// rollup lock. A batch is in the queue exactly when its ingest transaction committed and no
    /// fold has counted it, so any process may fold it, and queries in every process see it.
    func foldQueue() async throws {
        // Most reads find the queue empty: answer that without taking the lock.
        let waiting = try await backend.read { db in try await db.raw("SELECT seq FROM rollup_queue LIMIT 1").first() }
        guard waiting != nil else {
            queuedSinceFold.withLock { $0 = 0 }
            return
        }
        while true {
            let folded: Int = try await backend.transaction { db in
                try await db.raw("SELECT pg_advisory_xact_lock(\(literal: Self.rollupAdvisoryLock))").run()
                let rows = try await db.raw("""
                    SELECT q.seq, b.tenant_id, b.body FROM rollup_queue q JOIN event_batches b ON b.seq = q.seq
                    ORDER BY q.seq LIMIT \(literal: Self.queueBatchesPerFold)
                    """).all()
                if rows.isEmpty { return 0 }
                var seqs: [Int64] = []
                var batches: [(tenantID: String, events: [UsageEvent])] = []
                for row in rows {
                    seqs.append(try row.decode(column: "seq", as: Int64.self))
                    batches.append((try row.decode(column: "tenant_id", as: String.self),
                                    try EventLogCodec.decode(try row.decode(column: "body", as: ByteBuffer.self))))
                }
                let meters = try await Self.compiledMeters(for: Array(Set(batches.map(\.tenantID))).sorted(), on: db)
                var delta = RollupDelta()
                for batch in batches {
                    guard let tenantMeters = meters[batch.tenantID] else { continue }
                    try RollupBuilder.accumulate(batch.events.lazy.map(\.metered), meters: tenantMeters, into: &delta)
                }
                try RollupBuilder.summarize(&delta)
                try await RollupSQL.apply(delta, engine: .postgres, on: db, sqlite: nil)
                try await db.raw("DELETE FROM rollup_queue WHERE seq = ANY(\(bind: seqs)::bigint[])").run()
                return rows.count
            }
            if folded < Self.queueBatchesPerFold {
                queuedSinceFold.withLock { $0 = 0 }
                return
            }
        }
    }

    /// Inside a write transaction: folds the batches waiting now; returns how many, for
    /// `dropFolded` once the transaction commits (if it rolls back they stay and fold later).
    func foldPending(on db: any SQLDatabase) async throws -> Int {
        guard foldsInMemory else { return 0 }
        let batches = pendingRollups.withLock { $0.batches }
        guard !batches.isEmpty else { return 0 }
        let started = ContinuousClock.now
        let tenants = Array(Set(batches.map(\.tenantID))).sorted()
        let meters = try await Self.compiledMeters(for: tenants, on: db)
        var delta = RollupDelta()
        for batch in batches {
            guard let tenantMeters = meters[batch.tenantID] else { continue }
            try RollupBuilder.accumulate(batch.events.lazy.map(\.metered), meters: tenantMeters, into: &delta)
        }
        try RollupBuilder.summarize(&delta)
        try await RollupSQL.apply(delta, engine: backend.engine, on: db, sqlite: (backend as? SQLiteBackend)?.writerConnection)
        try await db.raw("UPDATE rollup_state SET watermark = \(bind: batches.last!.seq) WHERE id = 1").run()
        logger.debug("folded rollups", metadata: [
            "batches": "\(batches.count)", "hourRows": "\(delta.hours.count)",
            "elapsed": "\(ContinuousClock.now - started)",
        ])
        return batches.count
    }

    func dropFolded(_ count: Int) {
        guard count > 0 else { return }
        pendingRollups.withLock { pending in
            let folded = pending.batches.prefix(count).reduce(0) { $0 + $1.events.count }
            pending.batches.removeFirst(count)
            pending.eventCount -= folded
        }
    }

    /// At start-up: every batch the rollups have not folded yet waits again.
    func loadUnfolded() async throws {
        guard foldsInMemory else { return }
        let watermark = try await backend.read { db in
            try await db.raw("SELECT watermark FROM rollup_state WHERE id = 1").first()?.decode(column: "watermark", as: Int64.self)
        } ?? 0
        var after = watermark
        while true {
            let cursor = after
            let rows = try await backend.read { db in
                try await db.raw("SELECT seq, tenant_id, body FROM event_batches WHERE seq > \(bind: cursor) ORDER BY seq LIMIT 500").all()
            }
            if rows.isEmpty { break }
            var batches: [(seq: Int64, tenantID: String, events: [UsageEvent])] = []
            for row in rows {
                let seq = try row.decode(column: "seq", as: Int64.self)
                batches.append((seq, try row.decode(column: "tenant_id", as: String.self),
                                try EventLogCodec.decode(try row.decode(column: "body", as: ByteBuffer.self))))
                after = seq
            }
            appendPending(batches)
        }
        if pendingRollupEvents > 0 {
            logger.info("folding \(pendingRollupEvents) events the rollups had not seen before the last stop")
            try await foldPendingRollups()
        }
    }

    /// Folds every `foldIntervalMilliseconds`, or as soon as `eagerFoldEvents` wait, until the
    /// pipeline closes; the pipeline folds once more at the end.
    func runFoldTimer() async {
        var lastFold = ContinuousClock.now
        while !queue.withLock({ $0.closed }) {
            try? await Task.sleep(for: .milliseconds(20))
            guard pendingRollupEvents >= Self.eagerFoldEvents
                || ContinuousClock.now - lastFold >= .milliseconds(Self.foldIntervalMilliseconds) else { continue }
            lastFold = ContinuousClock.now
            do { try await foldPendingRollups() } catch {
                logger.error("folding rollups failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    static func compiledMeters(for tenants: [String], on db: any SQLDatabase) async throws -> [String: [CompiledMeter]] {
        guard !tenants.isEmpty else { return [:] }
        var query: SQLQueryString = "SELECT * FROM meters WHERE tenant_id IN ("
        query += tenants.map { "\(bind: $0)" as SQLQueryString }.joined(separator: ", ")
        query += ")"
        var result: [String: [CompiledMeter]] = [:]
        for row in try await db.raw(query).all() {
            let meter = try Self.meter(row)
            result[meter.tenantID, default: []].append(CompiledMeter(id: meter.id, definition: meter.definition))
        }
        return result
    }
}
