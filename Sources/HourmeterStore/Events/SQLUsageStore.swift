import HourmeterCore
import Logging
import NIOCore
import SQLKit
import NIOPosix
import Synchronization

/// Meters, the event log and rollups over either engine.
///
/// Ingestion goes through one pipeline per process: concurrent requests queue their batches,
/// and one loop writes everything queued so far in a single transaction (group commit), then
/// answers each request. Deduplication, rollup aggregation and the commit happen once per
/// group, not once per event.
public final class SQLUsageStore: EventStore, Sendable {
    let backend: any SQLBackend
    let logger: Logger
    /// SQLite only: the in-memory identity index (see `DedupIndex`).
    let dedup: Mutex<DedupIndex>
    /// True on SQLite, where `dedup` is the authority; PostgreSQL uses `event_keys` instead.
    let dedupInMemory: Bool
    let queue = Mutex(PendingQueue())
    /// SQLite only: committed batches not yet folded into the rollups (see `RollupFolding`).
    let pendingRollups = Mutex(PendingRollups())
    /// PostgreSQL: events this process queued since its last fold (back-pressure, so a fold
    /// that cannot keep up slows ingestion instead of letting the queue grow without bound).
    let queuedSinceFold = Mutex(0)
    public static let maxQueuedEventsPerProcess = 100_000
    /// Held by whatever writes rollups: a fold, a meter's creation (backfill) or deletion.
    let rollupLock = AsyncLock()
    /// The thread folds compute on (see `foldPendingRollups`).
    let foldThread = NIOThreadPool(numberOfThreads: 1)
    let wake: AsyncStream<Void>
    let wakeContinuation: AsyncStream<Void>.Continuation

    /// Most events one group commit writes; more wait for the next group.
    public static let maxEventsPerGroup = 50_000

    struct Job: Sendable {
        var tenantID: String
        var events: [UsageEvent]
        var receivedMicros: Int64
        var continuation: CheckedContinuation<IngestResult, any Error>
    }

    struct PendingQueue: Sendable {
        var jobs: [Job] = []
        var closed = false
    }

    /// False for an administration-only store: it loads no deduplication index and folds
    /// nothing, and refuses to ingest.
    let ingests: Bool

    init(backend: any SQLBackend, logger: Logger, ingests: Bool = true) async throws {
        self.backend = backend
        self.logger = logger
        self.ingests = ingests
        foldThread.start()
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        dedupInMemory = backend.engine == .sqlite
        dedup = Mutex(dedupInMemory && ingests ? try await Self.loadDedupIndex(backend) : DedupIndex())
        if ingests { try await loadUnfolded() }
    }

    static func loadDedupIndex(_ backend: any SQLBackend) async throws -> DedupIndex {
        var index = DedupIndex()
        var after: Int64 = -1
        while true {
            let cursor = after
            let rows = try await backend.read { db in
                try await db.raw("SELECT seq, identity_keys FROM event_batches WHERE seq > \(bind: cursor) ORDER BY seq LIMIT 2000").all()
            }
            if rows.isEmpty { return index }
            for row in rows {
                let seq = try row.decode(column: "seq", as: Int64.self)
                for key in EventLogCodec.decodeKeys(try row.decode(column: "identity_keys", as: ByteBuffer.self)) {
                    index.insert(key, batch: seq)
                }
                after = seq
            }
        }
    }

    // MARK: Ingest

    public func ingest(tenantID: String, events: [UsageEvent], receivedMicros: Int64) async throws -> IngestResult {
        guard ingests else { throw StoreError.unavailable("this store was opened for administration only") }
        if events.isEmpty { return IngestResult(accepted: 0, duplicates: 0) }
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = queue.withLock { queue -> Bool in
                if queue.closed { return false }
                queue.jobs.append(Job(tenantID: tenantID, events: events, receivedMicros: receivedMicros, continuation: continuation))
                return true
            }
            if accepted { wakeContinuation.yield() } else { continuation.resume(throwing: IngestError.shuttingDown) }
        }
    }

    /// The group-commit loop. Returns after `finish()` once every queued batch is answered.
    func runPipeline() async {
        async let timer: Void = runFoldTimer()
        for await _ in wake {
            while true {
                let group = queue.withLock { queue -> [Job] in
                    var taken: [Job] = []
                    var events = 0
                    while !queue.jobs.isEmpty, taken.isEmpty || events + queue.jobs[0].events.count <= Self.maxEventsPerGroup {
                        let job = queue.jobs.removeFirst()
                        events += job.events.count
                        taken.append(job)
                    }
                    return taken
                }
                if group.isEmpty { break }
                await process(group)
                if foldsInMemory ? pendingRollupEvents >= Self.maxPendingRollupEvents
                    : queuedSinceFold.withLock({ $0 }) >= Self.maxQueuedEventsPerProcess {
                    do { try await foldPendingRollups() } catch {
                        logger.error("folding rollups failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
                    }
                }
            }
            if queue.withLock({ $0.closed && $0.jobs.isEmpty }) { break }
        }
        await timer
        do { try await foldPendingRollups() } catch {
            logger.error("final fold of rollups failed; it will run at the next start", metadata: ["error": "\(String(reflecting: error))"])
        }
        try? await foldThread.shutdownGracefully()
    }

    /// Stops taking batches; queued ones are still written.
    func finish() {
        queue.withLock { $0.closed = true }
        wakeContinuation.yield()
        wakeContinuation.finish()
    }

    /// A job's events after deduplication.
    struct Classified {
        var job: Job
        var fresh: [UsageEvent] = []
        var freshKeys: [Int64] = []
        var duplicates = 0
    }

    struct LostRace: Error {}

    func process(_ group: [Job]) async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let started = ContinuousClock.now
                let (classified, failed) = try await classify(group)
                let classifiedAt = ContinuousClock.now
                try await write(classified)
                // Answered only now: a retry after a lost race classifies again, and a failed
                // write answers every job of the group once, below.
                for (job, error) in failed { job.continuation.resume(throwing: error) }
                logger.debug("group commit", metadata: [
                    "jobs": "\(group.count)", "events": "\(group.reduce(0) { $0 + $1.events.count })",
                    "classify": "\(classifiedAt - started)", "write": "\(ContinuousClock.now - classifiedAt)",
                ])
                for item in classified {
                    item.job.continuation.resume(returning: IngestResult(accepted: item.fresh.count, duplicates: item.duplicates))
                }
                return
            } catch is LostRace where attempt < 5 {
                continue  // another process stored one of these identities first; classify again
            } catch {
                logger.error("ingest group failed", metadata: ["error": "\(String(reflecting: error))"])
                for job in group { job.continuation.resume(throwing: StoreError.unavailable("the event store could not commit the batch")) }
                return
            }
        }
    }

    /// Splits each job's events into new ones and duplicates; a job with a conflicting retry fails whole.
    func classify(_ group: [Job]) async throws -> ([Classified], [(Job, IngestError)]) {
        var keysByJob: [[Int64]] = []
        var allKeys: [Int64] = []
        for job in group {
            let keys = job.events.map { UsageEvent.identityKey(tenantID: job.tenantID, source: $0.source, id: $0.id) }
            keysByJob.append(keys)
            allKeys.append(contentsOf: keys)
        }
        let stored = try await storedEvents(for: allKeys)

        var pending: [Int64: [UsageEvent]] = [:]  // accepted earlier in this group
        var classified: [Classified] = []
        var failed: [(Job, IngestError)] = []
        jobs: for (jobIndex, job) in group.enumerated() {
            var item = Classified(job: job)
            var local: [Int64: [UsageEvent]] = [:]
            for (index, event) in job.events.enumerated() {
                let key = keysByJob[jobIndex][index]
                let candidates = (local[key] ?? []) + (pending[key] ?? []) + (stored[key] ?? []).filter { $0.tenantID == job.tenantID }.map(\.event)
                if let previous = candidates.first(where: { $0.sameIdentity(as: event) }) {
                    if let attribute = previous.firstDifference(from: event) {
                        failed.append((job, .conflict(index: index, attribute: attribute, source: event.source, id: event.id)))
                        continue jobs
                    }
                    item.duplicates += 1
                    continue
                }
                local[key, default: []].append(event)
                item.fresh.append(event)
                item.freshKeys.append(key)
            }
            for (key, events) in local { pending[key, default: []].append(contentsOf: events) }
            classified.append(item)
        }
        return (classified, failed)
    }

    struct StoredEvent { var tenantID: String; var event: UsageEvent }

    /// Already-stored events whose identity key is among `keys`.
    func storedEvents(for keys: [Int64]) async throws -> [Int64: [StoredEvent]] {
        var seqs = Set<Int64>()
        if dedupInMemory {
            dedup.withLock { index in
                for key in keys { seqs.formUnion(index.batches(for: key)) }
            }
        } else {
            for chunk in Array(Set(keys)).chunked(5000) {
                let rows = try await backend.read { db in
                    try await db.raw("SELECT batch_seq FROM event_keys WHERE key = ANY(\(bind: Array(chunk)))").all()
                }
                for row in rows { seqs.insert(try row.decode(column: "batch_seq", as: Int64.self)) }
            }
        }
        guard !seqs.isEmpty else { return [:] }
        let wanted = Set(keys)
        var result: [Int64: [StoredEvent]] = [:]
        for chunk in Array(seqs).chunked(200) {
            let rows = try await backend.read { db in
                var query: SQLQueryString = "SELECT tenant_id, body FROM event_batches WHERE seq IN ("
                query += chunk.map { "\(bind: $0)" as SQLQueryString }.joined(separator: ", ")
                query += ")"
                return try await db.raw(query).all()
            }
            for row in rows {
                let tenantID = try row.decode(column: "tenant_id", as: String.self)
                for event in try EventLogCodec.decode(try row.decode(column: "body", as: ByteBuffer.self)) {
                    let key = UsageEvent.identityKey(tenantID: tenantID, source: event.source, id: event.id)
                    if wanted.contains(key) { result[key, default: []].append(StoredEvent(tenantID: tenantID, event: event)) }
                }
            }
        }
        return result
    }

    /// One transaction for the whole group: batch rows, and on PostgreSQL the identity keys
    /// and the fold queue. Rollups are folded afterwards (see `RollupFolding`).
    func write(_ classified: [Classified]) async throws {
        let items = classified.filter { !$0.fresh.isEmpty }
        guard !items.isEmpty else { return }
        let engine = backend.engine
        let seqs: [Int64] = try await backend.transaction({ db in
            var seqs: [Int64] = []
            for item in items {
                let times = item.fresh.map(\.timeMicros)
                let row = try await db.raw("""
                    INSERT INTO event_batches (tenant_id, received_at, event_count, min_time, max_time, body, identity_keys)
                    VALUES (\(bind: item.job.tenantID), \(bind: item.job.receivedMicros), \(bind: item.fresh.count),
                            \(bind: times.min()!), \(bind: times.max()!), \(bind: EventLogCodec.encode(item.fresh)),
                            \(bind: EventLogCodec.encodeKeys(item.freshKeys)))
                    RETURNING seq
                    """).first()
                guard let seq = try row?.decode(column: "seq", as: Int64.self) else { throw StoreError.unavailable("no batch sequence") }
                seqs.append(seq)
            }
            // Batches with telemetry are queued for the health projection in the same
            // transaction, so a crash between the two cannot lose a device's health.
            let healthSeqs = zip(items, seqs).filter { item, _ in item.fresh.contains { $0.type == EdgeEvents.telemetryType } }.map(\.1)
            if !healthSeqs.isEmpty {
                try await db.raw("INSERT INTO health_queue (seq) VALUES \(unsafeRaw: healthSeqs.map { "(\($0))" }.joined(separator: ", "))").run()
            }
            guard engine == .postgres else { return seqs }
            // All keys of the transaction in one statement, in key order: two processes inserting
            // overlapping keys then lock them in the same order and cannot deadlock.
            var pairs: [(key: Int64, seq: Int64)] = []
            for (item, seq) in zip(items, seqs) { pairs += item.freshKeys.map { ($0, seq) } }
            pairs.sort { $0.key < $1.key }
            let inserted = try await db.raw("""
                INSERT INTO event_keys (key, batch_seq)
                SELECT k, s FROM unnest(\(bind: pairs.map(\.key))::bigint[], \(bind: pairs.map(\.seq))::bigint[]) AS t(k, s) ORDER BY k
                ON CONFLICT DO NOTHING RETURNING key
                """).all()
            if inserted.count != Set(pairs.map(\.key)).count { throw LostRace() }
            try await db.raw("INSERT INTO rollup_queue (seq) SELECT unnest(\(bind: seqs)::bigint[])").run()
            return seqs
        }, afterCommit: { seqs in
            if engine == .postgres { self.queuedSinceFold.withLock { $0 += items.reduce(0) { $0 + $1.fresh.count } } }
            // Under the write lock: waiting batches stay in commit order for the watermark.
            if engine == .sqlite { self.appendPending(zip(items, seqs).map { ($1, $0.job.tenantID, $0.fresh) }) }
        })
        if dedupInMemory {
            dedup.withLock { index in
                for (item, seq) in zip(items, seqs) {
                    for key in item.freshKeys { index.insert(key, batch: seq) }
                }
            }
        }
    }
}
