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

    /// Written into a demo's folder; a folder is replaced only when it holds this file with
    /// this content (and nothing that looks like a project or a home).
    static let marker = "HOURMETER-DEMO-FOLDER"
    static let markerText = "made by hourmeter demo; the next demo here replaces this folder\n"

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
            try await withThrowingTaskGroup(of: Bool.self) { group in
                // The server and the seeding run side by side: a server that cannot start (the
                // port is taken) ends the demo with its error instead of a seeding timeout.
                group.addTask {
                    try await app.runService()
                    return false
                }
                // The product's own background work (billing cycle, webhooks, health backlog).
                for loop in backgroundLoops(store: store, configuration: serverConfiguration, logger: logger) {
                    group.addTask {
                        await loop()
                        return false
                    }
                }
                let host = self.host.contains(":") ? "[\(self.host)]" : self.host
                let base = "http://\(host == "0.0.0.0" || host == "[::]" ? "127.0.0.1" : host):\(port)"
                let seed = self.seed, dataDir = self.dataDir
                group.addTask {
                    let seeder = DemoSeeder(base: base, operatorKey: material.secret, seed: seed, nowMicros: serverConfiguration.nowMicros(), store: store)
                    try await waitForServer(base)
                    let keys = try await seeder.seed()
                    say(String(format: "demo: seeded in %.1f s", Percentiles.seconds(ContinuousClock.now - started)))
                    say("")
                    say("Console: \(base)/console   (API: \(base)/api/v1, OpenAPI: \(base)/openapi.yaml)")
                    say("Sign in with one of these keys:")
                    for (role, key) in keys { say("  \(role.padding(toLength: 40, withPad: " ", startingAt: 0)) \(key)") }
                    say("")
                    say("Serving until Ctrl-C. Data in \(dataDir).")
                    return true
                }
                while let seeded = try await group.next() {
                    // The seeding finished: serve on, or stop when asked only to seed.
                    if !seeded || seedOnly { break }
                }
                group.cancelAll()
            }
        }
    }

    /// A fresh folder: a previous demo's is replaced; anything else that exists is refused
    /// (a file, another non-empty folder, a folder holding `.git`, the current or home folder).
    static func prepare(_ path: String) throws {
        let files = FileManager.default
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ValidationError("\(path) is a file; choose another --data-dir") }
            let contents = try files.contentsOfDirectory(atPath: url.path)
            if !contents.isEmpty {
                let here = URL(fileURLWithPath: files.currentDirectoryPath).standardizedFileURL.path
                let home = files.homeDirectoryForCurrentUser.standardizedFileURL.path
                let found = try? String(contentsOf: url.appendingPathComponent(marker), encoding: .utf8)
                guard found == markerText, !contents.contains(".git"), url.path != here, url.path != home, url.path != "/" else {
                    throw ValidationError("\(path) exists and is not a demo folder; choose another --data-dir")
                }
            }
            try files.removeItem(at: url)
        }
        try files.createDirectory(at: url, withIntermediateDirectories: true)
        try Data(markerText.utf8).write(to: url.appendingPathComponent(marker))
    }
}
