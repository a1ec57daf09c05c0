import HourmeterCore
import HourmeterStore
import Hummingbird
import Logging

/// Builds the router: operations routes at the root, the API under `/api/v1` behind keys.
/// Errors from every route become problem+json in `ProblemMiddleware`, the only mapping.
public func buildRouter(store: Store, configuration: ServerConfiguration, metrics: MetricsRegistry) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
    router.add(middleware: ProblemMiddleware())
    OperationsRoutes(store: store, metrics: metrics).register(on: router)
    ConsoleRoutes(store: store, configuration: configuration).register(on: router)
    let api = router.group("api/v1").add(middleware: AuthMiddleware(tenants: store.tenants))
    TenantRoutes(store: store, configuration: configuration).register(on: api)
    EventRoutes(store: store, configuration: configuration, metrics: metrics).register(on: api)
    let meterRoutes = MeterRoutes(store: store, configuration: configuration)
    meterRoutes.register(on: api)
    QueryRoutes(store: store, configuration: configuration, meters: meterRoutes).register(on: api)
    PlanRoutes(store: store, configuration: configuration).register(on: api)
    PricingRoutes(store: store, configuration: configuration).register(on: api)
    CustomerRoutes(store: store, configuration: configuration).register(on: api)
    SubscriptionRoutes(store: store, configuration: configuration).register(on: api)
    InvoiceRoutes(store: store, configuration: configuration).register(on: api)
    WebhookRoutes(store: store, configuration: configuration).register(on: api)
    HealthRoutes(store: store, configuration: configuration).register(on: api)
    return router
}

/// The whole HTTP application on an open store. `hourmeter serve` runs it with graceful
/// shutdown on SIGTERM/SIGINT: the server stops accepting, finishes in-flight requests, and
/// only then does the caller close the store.
public func buildApplication(store: Store, configuration: ServerConfiguration, logger: Logger) -> some ApplicationProtocol {
    let router = buildRouter(store: store, configuration: configuration, metrics: MetricsRegistry())
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "hourmeter"),
        logger: logger)
}
