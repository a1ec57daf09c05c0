import Foundation
import HourmeterCore
import Hummingbird

enum HTTPHelpers {
    /// Reads the whole body, refusing more than `limit` bytes (named `maxBodyBytes`).
    static func body(of request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.limitExceeded(limit: "maxBodyBytes", value: limit, detail: "the body is \(length) bytes; the limit maxBodyBytes is \(limit)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw APIError.limitExceeded(limit: "maxBodyBytes", value: limit, detail: "the body exceeds the limit maxBodyBytes (\(limit) bytes)")
        }
    }

    /// Decodes a JSON request body; any decoding problem is a 400 naming the field.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        let buffer = try await body(of: request, limit: limit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIError.validation("the request body is missing a field", [.init(field: key.stringValue, reason: "required")])
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError.validation("a field has the wrong type", [.init(field: field, reason: context.debugDescription)])
        } catch {
            throw APIError.validation("the request body is not valid JSON", [])
        }
    }

    /// Reads a JSON object body as `JSONSerialization` values, for documents that are
    /// validated field by field with paths (plan versions, pricing previews).
    static func jsonObject(from request: Request, limit: Int) async throws -> [String: Any] {
        let buffer = try await body(of: request, limit: limit)
        // No body reads as an empty object: `POST /billing/run` without one runs now, and a
        // route that needs fields names the first one missing.
        if buffer.readableBytes == 0 { return [:] }
        guard let value = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) else {
            throw APIError.validation("the request body is not valid JSON", [])
        }
        guard let object = value as? [String: Any] else {
            throw APIError.validation("the request body must be a JSON object", [])
        }
        return object
    }

    /// A response from `JSONSerialization` values (sorted keys, as every other answer).
    static func json(object: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        json(text: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), status: status)
    }

    /// A query parameter as text, refused (400 naming it) when it holds control characters:
    /// PostgreSQL cannot bind a NUL, and no identifier or cursor contains one.
    static func query(_ request: Request, _ name: String) throws -> String? {
        guard let value = request.uri.queryParameters.get(name) else { return nil }
        guard value.utf8.count <= 200, !DocumentValues.hasControlCharacters(value) else {
            throw APIError.validation("invalid query parameter", [.init(field: name, reason: "at most 200 bytes, without control characters")])
        }
        return value
    }

    /// The `limit` of a listing: 1…`maximum` (limit `maxListLimit`), `defaultValue` when absent.
    static func listLimit(_ request: Request, maximum: Int, defaultValue: Int = 100) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return min(defaultValue, maximum) }
        guard let value = Int(text), value >= 1, value <= maximum else {
            throw APIError.validation("invalid listing parameters", [.init(field: "limit", reason: "an integer from 1 to \(maximum) (limit maxListLimit)")])
        }
        return value
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return json(text: data, status: status)
    }

    static func json(text data: Data, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func text(_ text: String, contentType: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func timestamp(_ micros: Int64) -> String { RFC3339.format(microseconds: micros) }

    /// The media type of a request without parameters, lowercased.
    static func mediaType(_ request: Request) -> String? {
        guard let value = request.headers[.contentType] else { return nil }
        return value.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }
}
