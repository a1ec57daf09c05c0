import Crypto

/// A freshly minted API key. The plain `secret` is shown once and never stored; only its
/// SHA-256 (`hash`) is kept, so a leaked database does not leak usable keys.
public struct APIKeyMaterial: Sendable {
    public static let prefix = "hm_"
    public let secret: String
    public let hash: String

    /// 192 random bits from the system's cryptographic generator, hex-encoded behind `hm_`.
    public static func generate() -> APIKeyMaterial {
        let secret = prefix + randomHex(words: 3)
        return APIKeyMaterial(secret: secret, hash: hash(of: secret))
    }

    /// `words` × 64 random bits from the system's cryptographic generator, as hex: what keys,
    /// identifiers and the console's session ids and CSRF tokens are made of.
    public static func randomHex(words: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        for _ in 0..<words { withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) } }
        return hex(bytes)
    }

    public static func hash(of secret: String) -> String {
        hex(Array(SHA256.hash(data: Array(secret.utf8))))
    }

    /// Compares two hashes in time independent of where they differ.
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<x.count { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    /// A random identifier with a readable type prefix (`ten_…`, `key_…`, `mtr_…`).
    public static func identifier(_ kind: String) -> String { kind + "_" + randomHex(words: 2) }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.hexString }
}
