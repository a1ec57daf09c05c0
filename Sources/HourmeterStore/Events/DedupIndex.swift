/// The identity keys of every stored event, in memory, for the embedded engine.
///
/// On SQLite a table keyed by random 64-bit hashes scatters writes over its B-tree and caps
/// ingest near 110k rows/s (see the ingest note); the single writer process can instead keep
/// the keys in memory, persisted with each batch (`event_batches.identity_keys`) and rebuilt at
/// start-up. A key maps to the batch holding the event, so a hit is confirmed by comparing the
/// stored event itself; the rare true hash collision keeps every batch in `collisions`.
/// Memory: about 40 bytes per stored event (400 MB for 10 million).
struct DedupIndex: Sendable {
    private var first: [Int64: Int64] = [:]
    private var collisions: [Int64: [Int64]] = [:]

    /// Every batch that may hold an event with this key.
    func batches(for key: Int64) -> [Int64] {
        guard let seq = first[key] else { return [] }
        if let more = collisions[key] { return [seq] + more }
        return [seq]
    }

    mutating func insert(_ key: Int64, batch seq: Int64) {
        if let existing = first[key] {
            if existing != seq { collisions[key, default: []].append(seq) }
        } else {
            first[key] = seq
        }
    }
}
