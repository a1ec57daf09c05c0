import Foundation
import HTTPTypes
import HourmeterCore
import HourmeterServer
import HourmeterStore
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct OperationsTests {
    @Test func healthReadinessAndMetrics() async throws {
        try await withLiveServer { app in
            #expect(try await app.request(.get, "/healthz", key: nil).status == .ok)
            #expect(try await app.request(.get, "/readyz", key: nil).status == .ok)
            let (_, key) = try await app.tenantWithKey("Acme")
            #expect(try await app.request(.post, "/api/v1/events", key: key, json: cloudEvent("m1")).status == .noContent)
            let metrics = try await app.request(.get, "/metrics", key: nil)
            #expect(metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains("hourmeter_events_accepted_total 1\n"))
            #expect(metrics.text.contains(#"hourmeter_http_request_duration_seconds_count{route="/api/v1/events",method="POST",status="204"} 1"#))
            #expect(metrics.text.contains("# TYPE hourmeter_http_request_duration_seconds histogram"))
            _ = try await app.request(.get, "/no/such/route", key: nil).problem(.notFound, "not-found")
        }
    }

    /// The document and the server agree: every registered route is documented and every
    /// documented route is registered. The console's HTML pages (`/console…`) are for people,
    /// not clients, and are not part of the API contract; everything else is.
    @Test func openAPIDocumentMatchesTheRouter() async throws {
        try await Store.withStore(.sqlite(directory: temporaryDirectory()), logger: testLogger, nowMicros: nowMicros()) { store in
            let router = buildRouter(store: store, configuration: ServerConfiguration(), metrics: MetricsRegistry())
            let registered = Set(router.routes.map { "\($0.method.rawValue.uppercased()) \($0.path.description.hasPrefix("/") ? "" : "/")\($0.path)" })
                .filter { !$0.split(separator: " ")[1].hasPrefix("/console") }
            #expect(router.routes.contains { $0.path.description.contains("console/invoices") })
            let documented = Set(Self.documentedOperations(OpenAPIDocument.text))
            #expect(!documented.isEmpty)
            #expect(registered.subtracting(documented).isEmpty, "registered but not documented: \(registered.subtracting(documented).sorted())")
            #expect(documented.subtracting(registered).isEmpty, "documented but not registered: \(documented.subtracting(registered).sorted())")
        }
        try await withLiveServer { app in
            let served = try await app.request(.get, "/openapi.yaml", key: nil)
            #expect(served.status == .ok && served.text == OpenAPIDocument.text)
        }
    }

    /// "METHOD /path" for each operation under `paths:` (two-space path keys, four-space methods).
    static func documentedOperations(_ yaml: String) -> [String] {
        var operations: [String] = []
        var inPaths = false
        var path: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("paths:") { inPaths = true; continue }
            if inPaths, let first = line.first, first != " ", first != "#" { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).prefix { $0 != ":" })
            } else if line.hasPrefix("    ") && !line.hasPrefix("     "), let path {
                let key = line.dropFirst(4).prefix { $0 != ":" }
                if ["get", "post", "put", "patch", "delete", "head", "options"].contains(String(key)) {
                    operations.append("\(key.uppercased()) \(path)")
                }
            }
        }
        return operations
    }
}
