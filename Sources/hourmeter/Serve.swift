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
            // then drains its ingest queue and closes.
            try await app.runService()
        }
        logger.info("stopped")
    }
}
