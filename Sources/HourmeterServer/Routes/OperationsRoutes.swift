import Foundation
import HourmeterStore
import Hummingbird

/// Liveness, readiness, metrics and the API document; no key needed.
struct OperationsRoutes {
    let store: Store
    let metrics: MetricsRegistry

    func register(on router: Router<AppRequestContext>) {
        router.get("healthz") { _, _ in HTTPHelpers.text("{\"status\":\"ok\"}", contentType: "application/json") }
        router.get("readyz") { _, _ -> Response in
            await store.isReachable()
                ? HTTPHelpers.text("{\"status\":\"ready\"}", contentType: "application/json")
                : Problem(.unavailable("the database is not reachable")).response()
        }
        router.get("metrics") { _, _ in
            HTTPHelpers.text(metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("openapi.yaml") { _, _ -> Response in
            HTTPHelpers.text(OpenAPIDocument.text, contentType: "application/yaml")
        }
    }
}

/// The HTTP contract, shipped inside the binary.
public enum OpenAPIDocument {
    public static let text: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "" }
        return text
    }()
}
