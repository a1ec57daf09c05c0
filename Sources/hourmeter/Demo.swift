import ArgumentParser
import AsyncHTTPClient
import Foundation
import HourmeterCore
import HourmeterServer
import HourmeterStore
import Hummingbird
import NIOCore
import Logging

/// `hourmeter demo`: a fresh data folder, a believable fleet seeded through the real API, and
/// the console served — one command for someone who has never seen Hourmeter.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seed a demo fleet (a maker, three customers, 26 machines, 60 days of telemetry, invoices) into a fresh folder and serve the console.")

    @Option(help: "Folder for the demo's data; made afresh (a previous demo there is replaced).") var dataDir = "./.hourmeter-demo"
    @Option(help: "Seed of everything simulated: the same seed gives the same fleet.") var seed: UInt64 = 42
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Flag(help: "Seed, print the keys and stop instead of serving.") var seedOnly = false

    static let marker = ".hourmeter-demo"

    func run() async throws {
        try Self.prepare(dataDir)
        let logger = makeLogger("demo")
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        // The demo closes billing periods at once rather than after a day's grace.
        configuration.billingGraceSeconds = 0
        configuration.limits.maxEventsPerBatch = 10_000
        let serverConfiguration = configuration
        let started = ContinuousClock.now
        try await Store.withStore(.sqlite(directory: dataDir), logger: logger, nowMicros: configuration.nowMicros()) { store in
            let operatorTenant = try await store.tenants.createTenant(name: "Platform operator", nowMicros: serverConfiguration.nowMicros())
            let material = APIKeyMaterial.generate()
            _ = try await store.tenants.createAPIKey(tenantID: operatorTenant.id, role: .operator_, name: "demo operator", keyHash: material.hash,
                                                    nowMicros: serverConfiguration.nowMicros())
            let quiet = Environment.string("HOURMETER_LOG_LEVEL") == nil ? Logger(label: "demo", factory: { _ in SwiftLogNoOpLogHandler() }) : logger
            let app = buildApplication(store: store, configuration: serverConfiguration, logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.runService() }
                let base = "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)"
                let seeder = DemoSeeder(base: base, operatorKey: material.secret, seed: seed, nowMicros: serverConfiguration.nowMicros(), store: store)
                try await seeder.waitUntilUp()
                let keys = try await seeder.seed()
                let seconds = Percentiles.seconds(ContinuousClock.now - started)
                say(String(format: "demo: seeded in %.1f s", seconds))
                say("")
                say("Console: \(base)/console   (API: \(base)/api/v1, OpenAPI: \(base)/openapi.yaml)")
                say("Sign in with one of these keys:")
                for (role, key) in keys { say("  \(role.padding(toLength: 40, withPad: " ", startingAt: 0)) \(key)") }
                if seedOnly {
                    group.cancelAll()
                    return
                }
                say("")
                say("Serving until Ctrl-C. Data in \(dataDir).")
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// A fresh folder: a previous demo's is replaced; any other non-empty folder is refused.
    static func prepare(_ path: String) throws {
        let files = FileManager.default
        if files.fileExists(atPath: path) {
            let contents = (try? files.contentsOfDirectory(atPath: path)) ?? []
            guard contents.isEmpty || contents.contains(marker) else {
                throw ValidationError("\(path) exists and is not a demo folder; choose another --data-dir")
            }
            try files.removeItem(atPath: path)
        }
        try files.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data("made by hourmeter demo; replaced by the next one\n".utf8).write(to: URL(fileURLWithPath: path).appendingPathComponent(marker))
    }
}
