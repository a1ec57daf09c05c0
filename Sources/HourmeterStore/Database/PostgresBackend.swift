import Foundation
import Logging
import PostgresKit
import PostgresNIO
import SQLKit

/// The scale-out engine: one PostgreSQL shared by any number of `hourmeter serve` processes.
/// Exact decimals are NUMERIC, so the database does the arithmetic natively.
public final class PostgresBackend: SQLBackend {
    public let engine = SQLEngine.postgres
    let client: PostgresClient
    private let logger: Logger

    public init(url: String, logger: Logger) throws {
        guard let configuration = try? SQLPostgresConfiguration(url: url) else {
            throw StoreError.invalidLocation("not a PostgreSQL URL: expected postgres://user:password@host:port/database")
        }
        let core = configuration.coreConfiguration
        let tls: PostgresClient.Configuration.TLS
        switch (core.tls.isEnforced, core.tls.isAllowed) {
        case (true, _): tls = .require(core.tls.sslContext!.configuration)
        case (_, true): tls = .prefer(core.tls.sslContext!.configuration)
        default: tls = .disable
        }
        guard let host = core.host else { throw StoreError.invalidLocation("the PostgreSQL URL needs a host") }
        var clientConfiguration = PostgresClient.Configuration(
            host: host, port: core.port ?? 5432, username: core.username, password: core.password,
            database: core.database, tls: tls)
        clientConfiguration.options.maximumConnections = 16
        self.client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        self.logger = logger
    }

    public func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await body(connection.sql())
        }
    }

    public func transaction<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T, afterCommit: @Sendable (T) -> Void
    ) async throws -> T {
        let result: T
        do {
            result = try await client.withTransaction(logger: logger) { connection in
                try await body(connection.sql())
            }
        } catch let error as PostgresTransactionError {
            // The store's own errors (a lost race, a conflict) come back as they were thrown.
            if let closureError = error.closureError, error.rollbackError == nil { throw closureError }
            throw error
        }
        afterCommit(result)
        return result
    }

    /// Runs the connection pool; the pool serves nothing until this runs.
    public func run() async { await client.run() }

    public func close() async {}
}
