import HourmeterCore

/// Every setting of the server, each with its default. The command line fills it from flags
/// and `HOURMETER_*` environment variables; tests build it directly.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var limits = Limits()
    /// `billingGraceSeconds`: how long a closed period's draft invoice stays open for late events.
    public var billingGraceSeconds: Int64 = 86_400
    /// `billingIntervalSeconds`: how often `serve` runs the billing cycle (0: never; use `POST /api/v1/billing/run`).
    public var billingIntervalSeconds: Int64 = 60
    /// `billingRunMaxAheadSeconds`: how far past the clock `POST /api/v1/billing/run` may stand
    /// it. 0 by default: billing a period that has not happened would finalize invoices for
    /// usage nobody had yet. Back-filling the past is always allowed; tests raise this.
    public var billingRunMaxAheadSeconds: Int64 = 0
    /// `webhookIntervalSeconds`: how often `serve` delivers what the webhook outbox holds (0: never).
    public var webhookIntervalSeconds: Int64 = 2
    /// `webhookMaxAttempts`: attempts per delivery before it is marked failed.
    public var webhookMaxAttempts = 8
    /// `webhookAllowPrivateAddresses`: whether endpoints may name loopback, private or
    /// link-local addresses (off by default: a tenant must not reach the operator's network).
    public var webhookAllowPrivateAddresses = false
    /// The clock, in µs since the epoch. Injected so tests can stand it still.
    public var nowMicros: @Sendable () -> Int64 = ServerConfiguration.systemClock

    public init() {}

    public static let systemClock: @Sendable () -> Int64 = {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}

/// A limit on everything a request can make the server do. Each has a name (used in the
/// error that reports it), a default and a setting.
public struct Limits: Sendable {
    /// `maxBodyBytes`: largest request body accepted (413 beyond).
    public var maxBodyBytes = 8 * 1024 * 1024
    /// `maxEventsPerBatch`: most events in one ingest request (413 beyond).
    public var maxEventsPerBatch = 10_000
    /// `maxEventFutureSeconds`: how far past the server's clock an event `time` may be (400 beyond).
    public var maxEventFutureSeconds = 300
    /// `maxQueryWindows`: most windows one meter query may return.
    public var maxQueryWindows = 50_000
    /// `maxListLimit`: largest `limit` of a listing.
    public var maxListLimit = 1_000
    /// `maxAttributeBytes`: longest CloudEvents string attribute (id, source, type, subject).
    public var maxAttributeBytes = 1_024
    public init() {}
}

import Glibc
