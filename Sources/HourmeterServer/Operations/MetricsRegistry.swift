import Synchronization

/// The process's Prometheus metrics. Labels are bounded: routes are templates
/// (`/api/v1/meters/{slug}`), never raw paths, and statuses are codes.
public final class MetricsRegistry: Sendable {
    public static let latencyBucketsSeconds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram {
        var buckets: [Int]
        var count = 0
        var sumSeconds = 0.0
    }

    struct State {
        var eventsAccepted = 0
        var eventsRejected = 0
        var eventsDeduplicated = 0
        var requests: [String: Histogram] = [:]  // key: route|method|status
    }

    private let state = Mutex(State())

    public init() {}

    public func recordIngest(accepted: Int, deduplicated: Int) {
        state.withLock { $0.eventsAccepted += accepted; $0.eventsDeduplicated += deduplicated }
    }

    public func recordRejected(_ count: Int) {
        state.withLock { $0.eventsRejected += count }
    }

    public func recordRequest(route: String, method: String, status: Int, seconds: Double) {
        let key = "\(route)|\(method)|\(status)"
        state.withLock { state in
            var histogram = state.requests[key] ?? Histogram(buckets: Array(repeating: 0, count: Self.latencyBucketsSeconds.count))
            for (index, bound) in Self.latencyBucketsSeconds.enumerated() where seconds <= bound { histogram.buckets[index] += 1 }
            histogram.count += 1
            histogram.sumSeconds += seconds
            state.requests[key] = histogram
        }
    }

    /// Prometheus text exposition format 0.0.4.
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var out = ""
        out += "# HELP hourmeter_events_accepted_total Events stored (new, not duplicates).\n# TYPE hourmeter_events_accepted_total counter\n"
        out += "hourmeter_events_accepted_total \(snapshot.eventsAccepted)\n"
        out += "# HELP hourmeter_events_rejected_total Events in batches rejected as invalid or conflicting.\n# TYPE hourmeter_events_rejected_total counter\n"
        out += "hourmeter_events_rejected_total \(snapshot.eventsRejected)\n"
        out += "# HELP hourmeter_events_deduplicated_total Retried events accepted and counted once.\n# TYPE hourmeter_events_deduplicated_total counter\n"
        out += "hourmeter_events_deduplicated_total \(snapshot.eventsDeduplicated)\n"
        out += "# HELP hourmeter_http_request_duration_seconds HTTP request latency by route.\n# TYPE hourmeter_http_request_duration_seconds histogram\n"
        for key in snapshot.requests.keys.sorted() {
            let parts = key.split(separator: "|", omittingEmptySubsequences: false)
            let labels = "route=\"\(escape(String(parts[0])))\",method=\"\(parts[1])\",status=\"\(parts[2])\""
            let histogram = snapshot.requests[key]!
            for (index, bound) in Self.latencyBucketsSeconds.enumerated() {
                out += "hourmeter_http_request_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(histogram.buckets[index])\n"
            }
            out += "hourmeter_http_request_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(histogram.count)\n"
            out += "hourmeter_http_request_duration_seconds_sum{\(labels)} \(histogram.sumSeconds)\n"
            out += "hourmeter_http_request_duration_seconds_count{\(labels)} \(histogram.count)\n"
        }
        return out
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}

import Foundation
