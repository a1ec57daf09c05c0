import Crypto
import Foundation

/// How a webhook receiver knows a delivery came from Hourmeter and was not replayed: the
/// `Hourmeter-Signature` header is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
/// The receiver recomputes it with its endpoint secret and refuses old timestamps.
public enum WebhookSignature {
    public static func header(secret: String, timestampSeconds: Int64, body: [UInt8]) -> String {
        "t=\(timestampSeconds),v1=\(mac(secret: secret, timestampSeconds: timestampSeconds, body: body))"
    }

    public static func mac(secret: String, timestampSeconds: Int64, body: [UInt8]) -> String {
        var message = Array("\(timestampSeconds).".utf8)
        message.append(contentsOf: body)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))).hexString
    }

    /// Whether `header` signs `body` with `secret`, within `toleranceSeconds` of `nowSeconds`.
    public static func verify(header: String, secret: String, body: [UInt8], nowSeconds: Int64, toleranceSeconds: Int64 = 300) -> Bool {
        var timestamp: Int64?, signature: String?
        for part in header.split(separator: ",") {
            if part.hasPrefix("t=") { timestamp = Int64(part.dropFirst(2)) }
            if part.hasPrefix("v1=") { signature = String(part.dropFirst(3)) }
        }
        guard let timestamp, let signature, abs(nowSeconds - timestamp) <= toleranceSeconds else { return false }
        return APIKeyMaterial.constantTimeEquals(signature, mac(secret: secret, timestampSeconds: timestamp, body: body))
    }

    /// The wait before attempt `attempt + 1` (1-based `attempt` made): base × 2^(attempt − 1), at most an hour.
    public static func backoffSeconds(afterAttempt attempt: Int, baseSeconds: Int64) -> Int64 {
        min(3_600, baseSeconds << min(20, max(0, attempt - 1)))
    }
}
