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
/// Failures: network errors, 408, 429 and 5xx are retried with exponential backoff and jitter
/// (0.5 s doubling to `maxBackoff`). 400, 409 and 422 refuse content: the batch is split in
/// halves until the refused events are found, and those are set aside with the server's answer
/// (`edge run --retry-rejected` queues them again) instead of blocking everything behind them.
/// 413 splits the batch too. Anything else (401/403, or a 404/405/415 from a wrong `--server`
/// or a proxy) stops the agent with the server's answer: retrying cannot help, and treating it
/// as refused content would set aside everything measured.
struct EdgeUploader: Sendable {
    let queue: EdgeQueue
    let baseURL: String
    let key: String
    let batch: Int
    let maxBackoff: Double
    let keepUploadedSeconds: Int64

    struct Fatal: Error, CustomStringConvertible { let description: String }

    enum Outcome { case accepted, retry(String), refused(String), tooLarge(String) }

    func run(until producerDone: ManagedFlag) async throws {
        var failures = 0
        let crashAfter = Self.crashAfterUploads
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
            case .refused(let reason), .tooLarge(let reason):
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
                case .refused(let reason), .tooLarge(let reason): try await isolate(half, reason: reason)
                case .retry:
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                break
            }
        }
    }

    /// Fault injection for the crash tests, in debug builds only: die after this many
    /// acknowledged uploads, before the queue records the last one.
    static var crashAfterUploads: Int? {
        #if DEBUG
        Environment.string("HOURMETER_EDGE_CRASH_AFTER_UPLOADS").flatMap(Int.init)
        #else
        nil
        #endif
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
        case 408, 429, 500...: return .retry("HTTP \(response.status.code)")
        case 400, 409, 422: return .refused("HTTP \(response.status.code): \(text)")
        case 413: return .tooLarge("HTTP 413: \(text)")
        case 401, 403: throw Fatal(description: "the server refused the key (\(response.status.code)): \(text.prefix(300))")
        default: throw Fatal(description: "\(baseURL) answered \(response.status.code) to an upload; is --server right? \(text.prefix(300))")
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
