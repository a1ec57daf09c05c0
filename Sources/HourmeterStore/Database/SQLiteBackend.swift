import Foundation
import HourmeterCore
import Logging
import NIOCore
import NIOPosix
import SQLiteKit
import SQLiteNIO
import SQLKit

/// The embedded engine: one SQLite file in WAL mode.
///
/// One writer connection, serialized by a lock so a transaction never interleaves with
/// another; a few reader connections, which in WAL mode read the last committed state
/// without waiting for the writer. Exact decimals are TEXT; rollups are merged in Swift
/// (`RollupSQL`), so SQLite never does decimal arithmetic.
public final class SQLiteBackend: SQLBackend {
    public let engine = SQLEngine.sqlite
    public let path: String
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let writeLock = AsyncLock()
    private let nextReader = Mutex<Int>(0)
    private let logger: Logger

    public static let readerCount = 2

    /// The data folder's lock file, held while a full store is open (-1 when not held).
    private let lockDescriptor: Int32

    private init(path: String, writer: SQLiteConnection, readers: [SQLiteConnection], logger: Logger, lockDescriptor: Int32) {
        self.path = path
        self.lockDescriptor = lockDescriptor
        self.writer = writer
        self.readers = readers
        self.logger = logger
    }

    /// Opens (creating if needed) `directory/fileName`.
    public static func open(directory: String, logger: Logger, exclusive: Bool = false, fileName: String = "hourmeter.sqlite") async throws -> SQLiteBackend {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(fileName)
        var lockDescriptor: Int32 = -1
        if exclusive {
            lockDescriptor = Glibc.open((directory as NSString).appendingPathComponent("hourmeter.lock"), O_CREAT | O_RDWR, 0o644)
            guard lockDescriptor >= 0, flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
                if lockDescriptor >= 0 { Glibc.close(lockDescriptor) }
                throw StoreError.invalidLocation("another hourmeter process is using \(directory); one process serves a SQLite data folder (use PostgreSQL for several)")
            }
        }
        let writer = try await openConnection(path: path, logger: logger)
        // WAL so readers never block the writer; FULL so a commit survives power loss: an
        // acknowledged event is durable. Group commit keeps the fsync count per batch, not per event.
        for pragma in [
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA cache_size=-65536",
            "PRAGMA wal_autocheckpoint=10000", "PRAGMA temp_store=MEMORY",
        ] {
            _ = try await writer.query(pragma)
        }
        var readers: [SQLiteConnection] = []
        for _ in 0..<readerCount {
            let reader = try await openConnection(path: path, logger: logger)
            _ = try await reader.query("PRAGMA cache_size=-32768")
            readers.append(reader)
        }
        return SQLiteBackend(path: path, writer: writer, readers: readers, logger: logger, lockDescriptor: lockDescriptor)
    }

    private static func openConnection(path: String, logger: Logger) async throws -> SQLiteConnection {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        _ = try await connection.query("PRAGMA busy_timeout=10000")
        return connection
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await body(readerConnection().sql())
    }

    /// A reader for direct SQLiteNIO access (round robin).
    func readerConnection() -> SQLiteConnection {
        let index = nextReader.withLock { value in
            value = (value + 1) % readers.count
            return value
        }
        return readers[index]
    }

    public func transaction<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T, afterCommit: @Sendable (T) -> Void
    ) async throws -> T {
        try await writeLock.withLock {
            let database = writer.sql()
            try await database.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(database)
                try await database.raw("COMMIT").run()
                afterCommit(result)
                return result
            } catch {
                try? await database.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Direct access to the writer for the ingest fast path; the caller holds the write lock
    /// through `transaction`.
    var writerConnection: SQLiteConnection { writer }

    public func run() async {}

    public func close() async {
        await writeLock.lock()
        try? await writer.close()
        for reader in readers { try? await reader.close() }
        if lockDescriptor >= 0 { Glibc.close(lockDescriptor) }  // releases the folder
        writeLock.unlock()
    }
}

import Glibc
import Synchronization
