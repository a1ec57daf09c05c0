import ArgumentParser
import HourmeterServer
import HourmeterStore
import Hummingbird

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
                if configuration.billingIntervalSeconds > 0 {
                    group.addTask {
                        let billing = BillingRun(store: store, graceSeconds: configuration.billingGraceSeconds)
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(configuration.billingIntervalSeconds))
                            guard !Task.isCancelled else { break }
                            for tenantID in (try? await store.subscriptions.tenantsWithSubscriptions()) ?? [] {
                                do { _ = try await billing.run(tenantID: tenantID, atMicros: configuration.nowMicros()) } catch {
                                    logger.error("billing run failed", metadata: ["tenant": "\(tenantID)", "error": "\(error)"])
                                }
                            }
                        }
                    }
                }
                if configuration.webhookIntervalSeconds > 0 {
                    group.addTask {
                        let dispatcher = WebhookDispatcher(store: store, maxAttempts: configuration.webhookMaxAttempts)
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(configuration.webhookIntervalSeconds))
                            guard !Task.isCancelled else { break }
                            do { try await dispatcher.deliverDue(nowMicros: configuration.nowMicros()) } catch {
                                logger.error("webhook deliveries failed", metadata: ["error": "\(error)"])
                            }
                        }
                    }
                }
                // Telemetry left queued by a crash (or a failed projection) is projected at
                // start and then every few seconds; uploads project their own batches at once.
                group.addTask {
                    while !Task.isCancelled {
                        do { _ = try await store.health.project(limit: 50, rounds: .max) } catch {
                            logger.error("health projection failed", metadata: ["error": "\(error)"])
                        }
                        try? await Task.sleep(for: .seconds(5))
                    }
                }
                // The server returning (a signal) ends the billing, webhook and health loops too.
                try await group.next()
                group.cancelAll()
            }
        }
        logger.info("stopped")
    }
}
