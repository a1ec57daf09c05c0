import Foundation

/// Writing JSON text by hand where the hot path cannot afford an encoder
/// (group keys, event listings). One escaper, used everywhere.
public enum JSONText {
    /// `text` as a JSON string literal, quotes included.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        appendEscaped(text, to: &out)
        out.append("\"")
        return out
    }

    public static func appendEscaped(_ text: String, to out: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    /// `value` (what `JSONSerialization` accepts: dictionaries with string keys, arrays,
    /// strings, integers, booleans, `NSNull`) as compact JSON with sorted keys — the same text
    /// `JSONSerialization` writes with `.sortedKeys`, without bridging every value through
    /// Foundation's classes, which costs about a millisecond per invoice on Linux.
    public static func serialize(_ value: Any) -> String {
        var out = ""
        append(value, to: &out)
        return out
    }

    static func append(_ value: Any, to out: inout String) {
        switch value {
        case let text as String:
            out.append("\"")
            appendEscaped(text, to: &out)
            out.append("\"")
        case let object as [String: Any]:
            out.append("{")
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { out.append(",") }
                out.append("\"")
                appendEscaped(key, to: &out)
                out.append("\":")
                append(object[key]!, to: &out)
            }
            out.append("}")
        case let array as [Any]:
            out.append("[")
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(",") }
                append(element, to: &out)
            }
            out.append("]")
        case let flag as Bool where DocumentObject.isBoolean(value):
            out.append(flag ? "true" : "false")
        case let integer as Int:
            out.append(String(integer))
        case let integer as Int64:
            out.append(String(integer))
        case let integer as Int32:
            out.append(String(integer))
        case let integer as UInt:
            out.append(String(integer))
        case let number as Double where number.isFinite:
            out.append(number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)")
        case is NSNull:
            out.append("null")
        default:
            // Nothing Hourmeter writes lands here (JSONSerialization would refuse it too): a
            // debug build stops, a release build writes null rather than fail a billing run.
            assertionFailure("JSONText.serialize cannot write \(type(of: value))")
            out.append("null")
        }
    }
}
