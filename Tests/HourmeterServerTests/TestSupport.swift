import AsyncHTTPClient
import Foundation
import HTTPTypes
import HourmeterCore
import HourmeterServer
import HourmeterStore
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

let testLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return logger
}()

func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("hourmeter-test-\(UUID().uuidString)").path
}

/// A live server on a loopback port over a real database, with an operator key.
struct LiveFixture: Sendable {
    let client: any TestClientProtocol
    let store: Store
    let operatorKey: String

    /// Sends a request; `key` nil sends no Authorization header.
    @discardableResult
    func request(_ method: HTTPRequest.Method, _ uri: String, key: String?, json: String? = nil,
                 contentType: String = "application/json", headers extra: [HTTPField.Name: String] = [:]) async throws -> TestResponse {
        var headers = HTTPFields()
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil { headers[.contentType] = contentType }
        for (name, value) in extra { headers[name] = value }
        return try await client.execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// A new tenant and a key of `role` in it, made through the API with the operator key.
    func tenantWithKey(_ name: String, role: String = "maker") async throws -> (tenant: String, key: String) {
        let tenant = try await request(.post, "/api/v1/tenants", key: operatorKey, json: #"{"name":"\#(name)"}"#)
        #expect(tenant.status == .created)
        let tenantID = try tenant.json()["id"] as! String
        let key = try await request(.post, "/api/v1/api-keys", key: operatorKey, json: #"{"tenant":"\#(tenantID)","role":"\#(role)"}"#)
        #expect(key.status == .created)
        return (tenantID, try key.json()["key"] as! String)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    func json() throws -> [String: Any] { try #require(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) }
    func jsonArray() throws -> [[String: Any]] { try #require(try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [[String: Any]]) }
    /// Checks the response is problem+json of the given kind and returns it.
    func problem(_ status: HTTPResponse.Status, _ type: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(self.status == status, "\(text)", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let body = try json()
        #expect(body["type"] as? String == "urn:hourmeter:problem:\(type)", "\(text)", sourceLocation: sourceLocation)
        #expect(body["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
        #expect((body["detail"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
        return body
    }
}

/// Runs `body` against a live server on 127.0.0.1 (a random port) over a fresh SQLite folder
/// or the test PostgreSQL database.
func withLiveServer<T: Sendable>(
    postgres: Bool = false,
    configure: @Sendable (inout ServerConfiguration) -> Void = { _ in },
    _ body: @Sendable (LiveFixture) async throws -> T
) async throws -> T {
    let location: DatabaseLocation = postgres
        ? .postgres(url: ProcessInfo.processInfo.environment["HOURMETER_TEST_POSTGRES_URL"]!)
        : .sqlite(directory: temporaryDirectory())
    return try await Store.withStore(location, logger: testLogger, nowMicros: nowMicros()) { store in
        let operatorTenant = try await store.tenants.createTenant(name: "operator", nowMicros: nowMicros())
        let material = APIKeyMaterial.generate()
        _ = try await store.tenants.createAPIKey(tenantID: operatorTenant.id, role: .operator_, name: nil, keyHash: material.hash, nowMicros: nowMicros())
        var configuration = ServerConfiguration()
        configuration.port = 0
        configure(&configuration)
        let app = buildApplication(store: store, configuration: configuration, logger: testLogger)
        return try await app.test(.live) { client in
            try await body(LiveFixture(client: client, store: store, operatorKey: material.secret))
        }
    }
}

var postgresConfigured: Bool { ProcessInfo.processInfo.environment["HOURMETER_TEST_POSTGRES_URL"]?.isEmpty == false }

func cloudEvent(_ id: String, subject: String = "exc-1", type: String = "machine.usage", time: String = "2026-11-25T10:00:00Z", data: String = #"{"hours":1}"#, source: String = "test") -> String {
    #"{"specversion":"1.0","id":"\#(id)","source":"\#(source)","type":"\#(type)","subject":"\#(subject)","time":"\#(time)","data":\#(data)}"#
}
