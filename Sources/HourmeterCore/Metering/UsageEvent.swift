import Crypto
import Foundation

/// A CloudEvent as Hourmeter keeps it: the envelope decoded, `data` as the bytes it arrived in.
public struct UsageEvent: Sendable, Equatable {
    public var id: String
    public var source: String
    public var type: String
    public var subject: String
    /// Event time in µs since the epoch: the `time` attribute, or the receipt time when absent.
    public var timeMicros: Int64
    /// False when `time` was absent and the receipt time stands in for it; a retry then
    /// carries a different receipt time, which must not count as a different event.
    public var timeGiven: Bool
    public var dataContentType: String?
    public var data: [UInt8]?

    public init(id: String, source: String, type: String, subject: String, timeMicros: Int64, timeGiven: Bool, dataContentType: String?, data: [UInt8]?) {
        self.id = id; self.source = source; self.type = type; self.subject = subject
        self.timeMicros = timeMicros; self.timeGiven = timeGiven
        self.dataContentType = dataContentType; self.data = data
    }

    public init(_ parsed: ParsedEvent, receivedMicros: Int64) {
        self.init(id: parsed.id, source: parsed.source, type: parsed.type, subject: parsed.subject,
                  timeMicros: parsed.timeMicros ?? receivedMicros, timeGiven: parsed.timeMicros != nil,
                  dataContentType: parsed.dataContentType, data: parsed.data)
    }

    public var metered: MeteredEvent { MeteredEvent(type: type, subject: subject, timeMicros: timeMicros, data: data) }

    /// The 64-bit identity key of (tenant, source, id): the first 8 bytes of a SHA-256, so keys
    /// spread evenly and cannot be steered into collisions cheaply; a hit is always confirmed
    /// by comparing the identities themselves.
    public static func identityKey(tenantID: String, source: String, id: String) -> Int64 {
        var hasher = SHA256()
        hasher.update(data: Array(tenantID.utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(source.utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(id.utf8))
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { raw in
            var value: UInt64 = 0
            for index in 0..<8 { value = (value << 8) | UInt64(raw[index]) }
            return Int64(bitPattern: value)
        }
    }

    public func sameIdentity(as other: UsageEvent) -> Bool { id == other.id && source == other.source }

    /// The first attribute in which `other` (a retry of the same identity) differs, or nil when
    /// it is the same event. `data` compares as JSON (member order and number spelling aside).
    public func firstDifference(from other: UsageEvent) -> String? {
        if type != other.type { return "type" }
        if subject != other.subject { return "subject" }
        if timeGiven && other.timeGiven && timeMicros != other.timeMicros { return "time" }
        if (dataContentType ?? "application/json") != (other.dataContentType ?? "application/json") { return "datacontenttype" }
        if data != other.data {
            guard let mine = data, let theirs = other.data, Self.sameJSON(mine, theirs) else { return "data" }
        }
        return nil
    }

    static func sameJSON(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard let left = (try? JSONSerialization.jsonObject(with: Data(a))) as? [String: Any],
              let right = (try? JSONSerialization.jsonObject(with: Data(b))) as? [String: Any] else { return false }
        return NSDictionary(dictionary: left).isEqual(to: right)
    }
}
