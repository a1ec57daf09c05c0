import AsyncHTTPClient
import Foundation
import HTTPTypes
import HourmeterCore
import HourmeterServer
import HourmeterStore
import SQLKit
import NIOCore
import NIOHTTP1
import Testing

/// The real binary: `hourmeter keys create` and `hourmeter serve` with a SIGTERM in the middle
/// of ingestion. `swift test` builds the executable beside the test bundle.
@Suite(.serialized) struct CommandLineTests {
    static var binary: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("hourmeter").path
        if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/hourmeter").path
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func startServer(dataDir: String, port: Int) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--data-dir", dataDir]
        var environment = ProcessInfo.processInfo.environment
        environment["HOURMETER_PORT"] = String(port)  // the environment variable form of --port
        environment["HOURMETER_LOG_LEVEL"] = "warning"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// AsyncHTTPClient keeps retrying a refused connection until the deadline, so calls that
    /// may meet a stopped server pass a short `timeoutSeconds`.
    static func send(_ method: HTTPMethod, _ url: String, key: String?, body: String? = nil, timeoutSeconds: Int64 = 30) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return (response.status.code, String(buffer: buffer))
    }

    /// The real binary serving a new SQLite folder on a random port, with an operator key made
    /// by `keys create`, and a tenant with a maker key.
    static func freshServer(tenant: String = "Acme") async throws -> (dataDir: String, port: Int, base: String, process: Process, maker: String) {
        let dataDir = temporaryDirectory()
        let key = try #require(try run(["keys", "create", "--role", "operator", "--data-dir", dataDir]).output.split(separator: "\n").last.map(String.init))
        let port = Int.random(in: 20_000..<40_000)
        let process = try startServer(dataDir: dataDir, port: port)
        let base = "http://127.0.0.1:\(port)"
        try await waitUntilUp(base)
        return (dataDir, port, base, process, try await tenantMakerKey(base, operatorKey: key, name: tenant))
    }

    /// A new tenant on the server at `base` and a maker key for it, made with the operator key.
    static func tenantMakerKey(_ base: String, operatorKey: String, name: String = "Acme") async throws -> String {
        let tenant = try JSONSerialization.jsonObject(with: Data(try await send(.POST, base + "/api/v1/tenants", key: operatorKey, body: #"{"name":"\#(name)"}"#).body.utf8)) as! [String: Any]
        let makerBody = try await send(.POST, base + "/api/v1/api-keys", key: operatorKey, body: #"{"tenant":"\#(tenant["id"] as! String)","role":"maker"}"#).body
        return (try JSONSerialization.jsonObject(with: Data(makerBody.utf8)) as! [String: Any])["key"] as! String
    }

    static func waitUntilUp(_ base: String) async throws {
        for _ in 0..<300 {
            if let response = try? await send(.GET, base + "/readyz", key: nil, timeoutSeconds: 1), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("server at \(base) did not start")
    }

    @Test func keysCreatePrintsTheKeyOnTheLastLine() async throws {
        let dataDir = temporaryDirectory()
        let result = try Self.run(["keys", "create", "--role", "operator", "--data-dir", dataDir])
        #expect(result.status == 0)
        let key = try #require(result.output.split(separator: "\n").last.map(String.init))
        #expect(key.hasPrefix("hm_") && key.count == 51)
        let port = Int.random(in: 20_000..<40_000)
        let server = try Self.startServer(dataDir: dataDir, port: port)
        defer { if server.isRunning { server.terminate() } }
        let base = "http://127.0.0.1:\(port)"
        try await Self.waitUntilUp(base)
        let tenant = try await Self.send(.POST, base + "/api/v1/tenants", key: key, body: #"{"name":"Acme"}"#)
        #expect(tenant.status == 201)
        #expect(try await Self.send(.GET, base + "/api/v1/tenants", key: "hm_" + String(key.dropFirst(3).reversed())).status == 401)
        // Keys can be made while the server runs; a second server on the same folder is refused.
        let tenantID = (try JSONSerialization.jsonObject(with: Data(tenant.body.utf8)) as! [String: Any])["id"] as! String
        let maker = try Self.run(["keys", "create", "--role", "maker", "--tenant", tenantID, "--data-dir", dataDir])
        #expect(maker.status == 0)
        let makerKey = try #require(maker.output.split(separator: "\n").last.map(String.init))
        #expect(try await Self.send(.GET, base + "/api/v1/meters", key: makerKey).status == 200)
        let second = try Self.startServer(dataDir: dataDir, port: port + 1)
        second.waitUntilExit()
        #expect(second.terminationStatus != 0)
        // A role that needs a tenant says so and fails.
        #expect(try Self.run(["keys", "create", "--role", "maker", "--data-dir", dataDir]).status != 0)
    }

    /// `hourmeter ledger verify` on a SQLite folder with one finalized invoice: exit 0, then
    /// exit 1 naming the invoice once its stored total is changed behind the application's back.
    @Test func ledgerVerifyExitsNonZeroAtTheFirstDiscrepancy() async throws {
        let dataDir = temporaryDirectory()
        let start: Int64 = 1_790_000_000_000_000  // 2026-09-21, a full month before the run below
        let invoiceID = try await Store.withStore(.sqlite(directory: dataDir), logger: testLogger, nowMicros: start) { store in
            let tenant = try await store.tenants.createTenant(name: "verify", nowMicros: start)
            let plan = try PlanVersion.parse(json: Data(#"{"currency":"USD","interval":"month","recurring_fees":[{"key":"base","amount":"99.50"}]}"#.utf8))
            _ = try await store.plans.createPlan(tenantID: tenant.id, key: "p", name: "p", description: nil, currency: plan.currency,
                                                 interval: plan.interval, firstVersion: plan, nowMicros: start)
            try await store.customers.createCustomer(tenantID: tenant.id, Customer(id: "cus_1", name: "C", currency: plan.currency, timeZone: "UTC",
                                                                                     billingEmail: nil, taxID: nil, address: nil, createdAtMicros: start))
            let terms = ContractTerms(tenantID: tenant.id, customerID: "cus_1", customerName: "C", customerTaxID: nil, subscriptionID: "sub_1",
                                      planKey: "p", planVersion: 1, plan: plan, slaTier: nil, devices: [], startMicros: start, anchorMicros: start,
                                      timeZone: "UTC", trialDays: 0, dataUse: DataUseTerms(), replaces: nil)
            let bytes = terms.canonicalJSON()
            let contract = Contract(id: "ctr_1", subscriptionID: "sub_1", sha256: ContractSignature.sha256(bytes),
                                    document: String(decoding: bytes, as: UTF8.self), replaces: nil, createdAtMicros: start, signatures: [:])
            try await store.subscriptions.createSubscription(tenantID: tenant.id, Subscription(
                id: "sub_1", customerID: "cus_1", planKey: "p", planVersion: 1, devices: [], startMicros: start, anchorMicros: start,
                timeZone: "UTC", trialDays: 0, slaTier: nil, endsAtMicros: nil, contractID: "ctr_1", createdAtMicros: start), contract: contract)
            for signer in ["maker", "customer"] {
                try await store.subscriptions.addSignature(tenantID: tenant.id, contractID: "ctr_1", signer: signer, keyID: signer, signature: "-", atMicros: start)
            }
            let result = try await BillingRun(store: store, graceSeconds: 0).run(tenantID: tenant.id, atMicros: start + 40 * 86_400_000_000)
            #expect(result.finalized == 1)
            return try #require(try await store.billing.invoices(tenantID: tenant.id, subscriptionID: nil, limit: 10, after: nil).first?.id)
        }
        let ok = try Self.run(["ledger", "verify", "--data-dir", dataDir])
        #expect(ok.status == 0 && ok.output.contains("OK"), "\(ok.output)")
        try await Store.withStore(.sqlite(directory: dataDir), logger: testLogger, nowMicros: start, mode: .administration) { store in
            try await store.backend.transaction { db in
                try await db.raw("UPDATE invoices SET total = '9.50' WHERE id = \(bind: invoiceID)").run()
            }
        }
        let failed = try Self.run(["ledger", "verify", "--data-dir", dataDir])
        #expect(failed.status == 1 && failed.output.contains("INV-000001") && failed.output.contains("FAILED"), "\(failed.output)")
    }

    /// SIGTERM (graceful) or SIGKILL (a crash) while clients are sending: every batch answered
    /// 204 is there after a restart, counted once, and no batch is there in part. After a
    /// crash the restart folds what the rollups had not yet seen.
    @Test(arguments: [SIGTERM, SIGKILL])
    func stopLosesNothingAcknowledged(signal: Int32) async throws {
        let started = try await Self.freshServer()
        let (dataDir, port, base, maker) = (started.dataDir, started.port, started.base, started.maker)
        var server = started.process
        #expect(try await Self.send(.POST, base + "/api/v1/meters", key: maker, body: #"{"slug":"c","eventType":"machine.usage","aggregation":"COUNT"}"#).status == 201)

        let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<4 {
                group.addTask {
                    var acked: [String] = []
                    for batch in 0..<400 {
                        let subject = "c\(client)-b\(batch)"  // one subject per batch
                        let events = (0..<50).map { cloudEvent("\(subject)-\($0)", subject: subject) }
                        guard let response = try? await Self.send(.POST, base + "/api/v1/events", key: maker, body: "[" + events.joined(separator: ",") + "]", timeoutSeconds: 3) else { break }
                        if response.status == 204 { acked.append(subject) } else { break }
                    }
                    return acked
                }
            }
            try await Task.sleep(for: .milliseconds(700))
            kill(server.processIdentifier, signal)
            var all: [String] = []
            for try await acked in group { all += acked }
            return all
        }
        server.waitUntilExit()
        if signal == SIGTERM { #expect(server.terminationStatus == 0) }
        #expect(!acknowledged.isEmpty)

        server = try Self.startServer(dataDir: dataDir, port: port)
        defer { server.terminate() }
        try await Self.waitUntilUp(base)
        let usage = try await Self.send(.GET, base + "/api/v1/meters/c/query?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z&groupBy=subject", key: maker)
        let rows = (try JSONSerialization.jsonObject(with: Data(usage.body.utf8)) as! [String: Any])["data"] as! [[String: Any]]
        var counts: [String: Int] = [:]
        for row in rows { counts[row["subject"] as! String] = (row["value"] as! NSNumber).intValue }
        for subject in acknowledged { #expect(counts[subject] == 50, "acknowledged batch \(subject) is missing or partial") }
        #expect(counts.values.allSatisfy { $0 == 50 }, "a batch was stored in part")
    }

    /// `hourmeter demo` replaces only a folder it made: a file, a project folder or any other
    /// non-empty folder is refused before anything is touched.
    @Test func theDemoRefusesFoldersThatAreNotItsOwn() throws {
        let files = FileManager.default
        let file = temporaryDirectory() + ".txt"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: file))
        let project = temporaryDirectory()
        try files.createDirectory(atPath: project + "/.git", withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: project + "/README.md"))
        let other = temporaryDirectory()
        try files.createDirectory(atPath: other, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: other + "/notes.txt"))
        for path in [file, project, other] {
            let result = try Self.run(["demo", "--data-dir", path, "--port", "1", "--seed-only"])
            #expect(result.status != 0, "\(path)")
        }
        #expect(files.fileExists(atPath: file) && files.fileExists(atPath: project + "/README.md") && files.fileExists(atPath: other + "/notes.txt"))
    }
}

