import AsyncHTTPClient
import Foundation
import HourmeterCore
import HourmeterStore
import NIOCore

/// Drains the edge queue to the server in batches, oldest first.
///
/// An event leaves the pending state only after the server answered 2xx for its batch, and
/// the server stores each (source, id) once: an upload interrupted anywhere — before the
/// request, after the server committed but before the answer, after the answer but before the
/// queue recorded it — is simply sent again, and the server counts it once.
///
/// Failures: network errors, 5xx and 429 are retried with exponential backoff and jitter (0.5 s
/// doubling to `maxBackoff`); 401/403 stop the agent (retrying cannot help); any other 4xx is a
/// refusal of content: the batch is split in halves until the refused events are found, and
/// those are set aside with the server's answer instead of blocking everything behind them.
struct EdgeUploader: Sendable {
    let queue: EdgeQueue
    let baseURL: String
    let key: String
    let batch: Int
    let maxBackoff: Double
    let keepUploadedSeconds: Int64

    struct Fatal: Error, CustomStringConvertible { let description: String }

    enum Outcome { case accepted, retry(String), refused(String) }

    func run(until producerDone: ManagedFlag) async throws {
        var failures = 0
        let crashAfter = Environment.string("HOURMETER_EDGE_CRASH_AFTER_UPLOADS").flatMap(Int.init)
        var uploads = 0
        while true {
            let pending = try await queue.pending(limit: batch)
            if pending.isEmpty {
                if producerDone.isSet, try await queue.pending(limit: 1).isEmpty { return }
                try await Task.sleep(for: .milliseconds(100))
                continue
            }
            switch try await send(pending) {
            case .accepted:
                uploads += 1
                // Fault injection for the crash tests: die the way a power cut would, after the
                // server committed the batch and before the queue recorded it.
                if let crashAfter, uploads >= crashAfter { _exit(86) }
                try await queue.markUploaded(pending.map(\.seq), atMicros: Int64(Date().timeIntervalSince1970 * 1_000_000),
                                             keepUploadedSeconds: keepUploadedSeconds)
                failures = 0
            case .refused(let reason):
                try await isolate(pending, reason: reason)
                failures = 0
            case .retry(let reason):
                failures += 1
                let delay = min(maxBackoff, 0.5 * pow(2, Double(min(failures - 1, 30)))) * Double.random(in: 0.5...1)
                say(String(format: "edge: upload failed (%@); retry %d in %.1f s", reason, failures, delay))
                try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
            }
        }
    }

    /// Finds the refused events of a refused batch by halving it; the rest are uploaded.
    func isolate(_ events: [EdgeQueue.Pending], reason: String) async throws {
        if events.count == 1 {
            say("edge: the server refused event \(events[0].id): \(reason.prefix(300)); set aside")
            try await queue.markRejected([events[0].seq], reason: reason)
            return
        }
        for half in [Array(events[..<(events.count / 2)]), Array(events[(events.count / 2)...])] {
            while true {
                switch try await send(half) {
                case .accepted:
                    try await queue.markUploaded(half.map(\.seq), atMicros: Int64(Date().timeIntervalSince1970 * 1_000_000),
                                                 keepUploadedSeconds: keepUploadedSeconds)
                case .refused(let reason): try await isolate(half, reason: reason)
                case .retry:
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                break
            }
        }
    }

    func send(_ events: [EdgeQueue.Pending]) async throws -> Outcome {
        var body = "["
        for (index, event) in events.enumerated() {
            if index > 0 { body += "," }
            body += event.json
        }
        body += "]"
        var request = HTTPClientRequest(url: baseURL.trimmingSuffix("/") + "/api/v1/events")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/cloudevents-batch+json")
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        let text: String
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            return .retry("\(error)")
        }
        switch response.status.code {
        case 200..<300: return .accepted
        case 401, 403: throw Fatal(description: "the server refused the key (\(response.status.code)): \(text.prefix(300))")
        case 408, 429, 500...: return .retry("HTTP \(response.status.code)")
        default: return .refused("HTTP \(response.status.code): \(text)")
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
