import SQLKit

/// The two engines Hourmeter runs on. Most SQL is shared; where they differ (exact decimal
/// arithmetic, blobs, upsert details) the store asks `engine`.
public enum SQLEngine: String, Sendable {
    case sqlite
    case postgres
}

/// Where the data lives, as the command line and the environment give it.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    /// A SQLite file (WAL) inside this folder.
    case sqlite(directory: String)
    /// `postgres://user:pass@host:port/db?sslmode=…`
    case postgres(url: String)

    public var description: String {
        switch self {
        case .sqlite(let directory): return "sqlite:\(directory)/hourmeter.sqlite"
        case .postgres(let url):
            // Never print a password.
            if let at = url.firstIndex(of: "@"), let scheme = url.range(of: "://") {
                return String(url[..<scheme.upperBound]) + "…" + String(url[at...])
            }
            return "postgres"
        }
    }
}

/// Connections of one engine: reads on any connection, writes in serialized transactions.
public protocol SQLBackend: Sendable {
    var engine: SQLEngine { get }
    /// Runs `body` on a connection that may read (and sees every committed write).
    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` inside one transaction; commits when it returns, rolls back when it throws.
    /// `afterCommit` runs once the commit succeeded, before any other transaction of this
    /// process starts on SQLite, so in-memory state can follow the database in the same order.
    func transaction<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T, afterCommit: @Sendable (T) -> Void
    ) async throws -> T
    /// Keeps the engine's background work alive (PostgreSQL's pool) until cancelled.
    func run() async
    func close() async
}

public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The database could not be reached or failed; never shown to a client as is.
    case unavailable(String)
    case invalidLocation(String)

    public var description: String {
        switch self {
        case .unavailable(let reason): return "the database is unavailable: \(reason)"
        case .invalidLocation(let reason): return reason
        }
    }
}

extension SQLBackend {
    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await transaction(body, afterCommit: { _ in })
    }
}
