import ArgumentParser
import HourmeterServer
import HourmeterStore
import Hummingbird
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP server. Every option also reads an environment variable (shown in its help).")

    @Option(help: "Address to listen on (env HOURMETER_HOST, default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on (env HOURMETER_PORT, default 8080).") var port: Int?
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Largest request body in bytes (env HOURMETER_MAX_BODY_BYTES, default 8388608).") var maxBodyBytes: Int?
    @Option(help: "Most events per ingest request (env HOURMETER_MAX_EVENTS_PER_BATCH, default 10000).") var maxEventsPerBatch: Int?
    @Option(help: "How far an event time may be ahead of the clock, seconds (env HOURMETER_MAX_EVENT_FUTURE_SECONDS, default 300).") var maxEventFutureSeconds: Int?
    @Option(help: "Most windows per meter query (env HOURMETER_MAX_QUERY_WINDOWS, default 50000).") var maxQueryWindows: Int?
    @Option(help: "Largest page of a listing (env HOURMETER_MAX_LIST_LIMIT, default 1000).") var maxListLimit: Int?
    @Option(help: "Seconds a closed period's draft invoice stays open for late events (env HOURMETER_BILLING_GRACE_SECONDS, default 86400).") var billingGraceSeconds: Int?
    @Option(help: "Seconds between billing cycles, 0 for none (env HOURMETER_BILLING_INTERVAL_SECONDS, default 60).") var billingIntervalSeconds: Int?
    @Option(help: "Seconds between webhook delivery rounds, 0 for none (env HOURMETER_WEBHOOK_INTERVAL_SECONDS, default 2).") var webhookIntervalSeconds: Int?
    @Option(help: "Attempts per webhook delivery before it fails (env HOURMETER_WEBHOOK_MAX_ATTEMPTS, default 8).") var webhookMaxAttempts: Int?
    @Flag(help: "Allow webhook endpoints on loopback, private and link-local addresses (env HOURMETER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=1).") var webhookAllowPrivateAddresses = false

    func serverConfiguration() throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.host = host ?? Environment.string("HOURMETER_HOST") ?? configuration.host
        configuration.port = try port ?? Environment.int("HOURMETER_PORT") ?? configuration.port
        var limits = configuration.limits
        limits.maxBodyBytes = try maxBodyBytes ?? Environment.int("HOURMETER_MAX_BODY_BYTES") ?? limits.maxBodyBytes
        limits.maxEventsPerBatch = try maxEventsPerBatch ?? Environment.int("HOURMETER_MAX_EVENTS_PER_BATCH") ?? limits.maxEventsPerBatch
        limits.maxEventFutureSeconds = try maxEventFutureSeconds ?? Environment.int("HOURMETER_MAX_EVENT_FUTURE_SECONDS") ?? limits.maxEventFutureSeconds
        limits.maxQueryWindows = try maxQueryWindows ?? Environment.int("HOURMETER_MAX_QUERY_WINDOWS") ?? limits.maxQueryWindows
        limits.maxListLimit = try maxListLimit ?? Environment.int("HOURMETER_MAX_LIST_LIMIT") ?? limits.maxListLimit
        for (name, value) in [("max-body-bytes", limits.maxBodyBytes), ("max-events-per-batch", limits.maxEventsPerBatch),
                              ("max-query-windows", limits.maxQueryWindows), ("max-list-limit", limits.maxListLimit)] where value < 1 {
            throw ValidationError("--\(name) must be at least 1")
        }
        configuration.limits = limits
        configuration.billingGraceSeconds = Int64(try billingGraceSeconds ?? Environment.int("HOURMETER_BILLING_GRACE_SECONDS") ?? Int(configuration.billingGraceSeconds))
        configuration.billingIntervalSeconds = Int64(try billingIntervalSeconds ?? Environment.int("HOURMETER_BILLING_INTERVAL_SECONDS") ?? Int(configuration.billingIntervalSeconds))
        configuration.webhookIntervalSeconds = Int64(try webhookIntervalSeconds ?? Environment.int("HOURMETER_WEBHOOK_INTERVAL_SECONDS") ?? Int(configuration.webhookIntervalSeconds))
        configuration.webhookAllowPrivateAddresses = webhookAllowPrivateAddresses || Environment.string("HOURMETER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES") == "1"
        configuration.webhookMaxAttempts = try webhookMaxAttempts ?? Environment.int("HOURMETER_WEBHOOK_MAX_ATTEMPTS") ?? configuration.webhookMaxAttempts
        guard configuration.webhookIntervalSeconds >= 0, configuration.webhookMaxAttempts >= 1 else {
            throw ValidationError("--webhook-interval-seconds must not be negative and --webhook-max-attempts must be at least 1")
        }
        guard configuration.billingGraceSeconds >= 0, configuration.billingIntervalSeconds >= 0 else {
            throw ValidationError("--billing-grace-seconds and --billing-interval-seconds must not be negative")
        }
        return configuration
    }

    func run() async throws {
        let configuration = try serverConfiguration()
        let location = try database.location()
        let logger = makeLogger("hourmeter")
        logger.info("opening \(location)")
        try await Store.withStore(location, logger: logger, nowMicros: configuration.nowMicros()) { store in
            let app = buildApplication(store: store, configuration: configuration, logger: logger)
            logger.info("serving on http://\(configuration.host):\(configuration.port)")
            // Stops on SIGTERM/SIGINT: no new connections, in-flight requests finish; the store
            // then drains its ingest queue and closes. The billing cycle runs beside the server
            // and is cancelled when it stops (a run in progress is one transaction per invoice).
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                for loop in backgroundLoops(store: store, configuration: configuration, logger: logger) { group.addTask { await loop() } }
                // The server returning (a signal) ends the billing, webhook and health loops too.
                try await group.next()
                group.cancelAll()
            }
        }
        logger.info("stopped")
    }
}

/// What runs beside the server (`serve` and `demo` alike): the billing cycle, webhook
/// deliveries, and the health projection of telemetry a crash left queued (at start, then
/// every 5 s; uploads project their own batches at once). Each ends when its task is cancelled.
func backgroundLoops(store: Store, configuration: ServerConfiguration, logger: Logger) -> [@Sendable () async -> Void] {
    /// `body` every `seconds` (first after one wait, or at once), its errors logged, until cancelled.
    @Sendable func every(_ seconds: Int64, atOnce: Bool = false, _ what: String, _ body: @escaping @Sendable () async throws -> Void) -> @Sendable () async -> Void {
        {
            var first = atOnce
            while !Task.isCancelled {
                if !first {
                    try? await Task.sleep(for: .seconds(seconds))
                    guard !Task.isCancelled else { break }
                }
                first = false
                do { try await body() } catch { logger.error("\(what) failed", metadata: ["error": "\(error)"]) }
            }
        }
    }
    var loops: [@Sendable () async -> Void] = []
    if configuration.billingIntervalSeconds > 0 {
        let billing = BillingRun(store: store, graceSeconds: configuration.billingGraceSeconds)
        loops.append(every(configuration.billingIntervalSeconds, "billing run") {
            for tenantID in try await store.subscriptions.tenantsWithSubscriptions() {
                // One tenant failing does not stop the others' billing.
                do { _ = try await billing.run(tenantID: tenantID, atMicros: configuration.nowMicros()) } catch {
                    logger.error("billing run failed", metadata: ["tenant": "\(tenantID)", "error": "\(error)"])
                }
            }
        })
    }
    if configuration.webhookIntervalSeconds > 0 {
        let dispatcher = WebhookDispatcher(store: store, maxAttempts: configuration.webhookMaxAttempts)
        loops.append(every(configuration.webhookIntervalSeconds, "webhook deliveries") { try await dispatcher.deliverDue(nowMicros: configuration.nowMicros()) })
    }
    loops.append(every(5, atOnce: true, "health projection") { _ = try await store.health.project(limit: 50, rounds: .max) })
    return loops
}
