import Foundation
import HourmeterCore
import Logging
import SQLKit

/// Everything Hourmeter keeps, on one engine. Open it with `Store.withStore`, which runs the
/// engine's background work (PostgreSQL's pool, the ingest pipeline) for as long as the body
/// runs and then drains and closes it, so nothing acknowledged is left unwritten.
public final class Store: Sendable {
    public let backend: any SQLBackend
    public let tenants: any TenantStore
    public let plans: any PlanStore
    public let customers: any CustomerStore
    public let subscriptions: any SubscriptionStore
    public let billing: any BillingStore
    public let webhooks: any WebhookStore
    public let revenueShares: any RevenueShareStore
    public let health: any HealthStore
    public let usage: SQLUsageStore
    public var meters: any MeterStore { usage }
    public var events: any EventStore { usage }
    public var engine: SQLEngine { backend.engine }

    private init(backend: any SQLBackend, usage: SQLUsageStore) {
        self.backend = backend
        self.tenants = SQLTenantStore(backend: backend)
        self.plans = SQLPlanStore(backend: backend)
        self.customers = SQLCustomerStore(backend: backend)
        self.subscriptions = SQLSubscriptionStore(backend: backend)
        self.billing = SQLBillingStore(backend: backend)
        self.webhooks = SQLWebhookStore(backend: backend)
        self.revenueShares = SQLRevenueShareStore(backend: backend)
        self.health = SQLHealthStore(backend: backend)
        self.usage = usage
    }

    /// Opens the database at `location`, migrates it, runs `body` with the store, then drains
    /// the ingest pipeline and closes the connections.
    /// What a process opens the store for.
    public enum Mode: Sendable {
        /// Ingestion and everything else. On SQLite only one such process may hold a data
        /// folder at a time (its deduplication index and pending rollups live in memory); a
        /// second one is refused rather than allowed to count events twice.
        case full
        /// Tenants and keys only (`hourmeter keys create`), safe beside a running server:
        /// it neither ingests nor folds rollups.
        case administration
    }

    public static func withStore<T: Sendable>(
        _ location: DatabaseLocation, logger: Logger, nowMicros: Int64, mode: Mode = .full,
        _ body: @Sendable (Store) async throws -> T
    ) async throws -> T {
        let backend: any SQLBackend
        switch location {
        case .sqlite(let directory):
            backend = try await SQLiteBackend.open(directory: directory, logger: logger, exclusive: mode == .full)
        case .postgres(let url): backend = try PostgresBackend(url: url, logger: logger)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await backend.run() }
            let store: Store
            do {
                try await Migrations.run(on: backend, nowMicros: nowMicros)
                store = Store(backend: backend, usage: try await SQLUsageStore(backend: backend, logger: logger, ingests: mode == .full))
            } catch {
                group.cancelAll()
                await backend.close()
                throw error
            }
            async let pipelineDone: Void = store.usage.runPipeline()
            let result: Result<T, any Error>
            do { result = .success(try await body(store)) } catch { result = .failure(error) }
            store.usage.finish()
            // Let the pipeline answer everything it holds, then stop the pool.
            await pipelineDone
            group.cancelAll()
            await backend.close()
            return try result.get()
        }
    }

    /// True when the database answers a trivial query (for /readyz).
    public func isReachable() async -> Bool {
        do {
            _ = try await backend.read { db in try await db.raw("SELECT 1 AS one").first() }
            return true
        } catch {
            return false
        }
    }
}
