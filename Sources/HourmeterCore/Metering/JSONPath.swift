/// Why a JSONPath expression was rejected; `reason` is a sentence for the API client.
public struct JSONPathError: Error, Sendable, Equatable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// The value found at a path, shallow: containers are reported by kind, not decoded, because
/// meters only ever read scalars and decoding a sub-tree would cost an allocation per member.
public enum JSONValue: Sendable, Equatable {
    case missing, null, bool(Bool), number(ExactDecimal), string(String), object, array
}

/// A singular JSONPath (the subset of RFC 9535 that names exactly one value), as meters use
/// for `valueProperty` and `groupBy`: `$`, `$.a.b`, `$['a-b']`, `$["a b"]`, `$.a[0]`, `$.a[0].b`.
///
/// Wildcards, filters, slices, recursive descent and negative indexes are rejected when the
/// meter is defined, so evaluation on the ingest path never meets them.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    /// The path as written; equality and hashing follow it.
    public let text: String
    public let segments: [Segment]

    public var description: String { text }

    public init(parsing text: String) throws(JSONPathError) {
        var parser = PathParser(bytes: Array(text.utf8))
        self.segments = try parser.parse()
        self.text = text
    }
}

/// Parses path text into segments. Offsets in errors are byte offsets into the path.
private struct PathParser {
    let bytes: [UInt8]
    var index = 0

    func fail(_ reason: String) -> JSONPathError { JSONPathError(reason: reason) }

    var current: UInt8 { index < bytes.count ? bytes[index] : 0 }

    mutating func parse() throws(JSONPathError) -> [JSONPath.Segment] {
        guard !bytes.isEmpty else { throw fail("empty path; a path starts with $, e.g. $.duration_ms") }
        guard bytes[0] == 0x24 else { throw fail("a path must start with $, e.g. $.duration_ms") }  // '$'
        index = 1
        var segments: [JSONPath.Segment] = []
        while index < bytes.count {
            switch bytes[index] {
            case 0x2E:  // '.'
                index += 1
                segments.append(.key(try dotName()))
            case 0x5B:  // '['
                index += 1
                segments.append(try bracketSelector())
            default:
                throw fail("unexpected character at offset \(index); expected '.' or '['")
            }
        }
        return segments
    }

    /// `.name`: the RFC 9535 shorthand (letters, digits, `_`, non-ASCII; not starting with a digit).
    mutating func dotName() throws(JSONPathError) -> String {
        switch current {
        case 0: throw fail("the path ends after '.'; expected a member name")
        case 0x2E: throw fail("recursive descent (..) is not supported")
        case 0x2A: throw fail("wildcards (*) are not supported; a path must name one value")
        default: break
        }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            let isNameChar = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte >= 0x80
                || (index > start && byte >= 0x30 && byte <= 0x39)
            if !isNameChar { break }
            index += 1
        }
        guard index > start else {
            throw fail("invalid member name at offset \(start); use bracket notation for other names, e.g. $['a-b']")
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func skipBlanks() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D {
            index += 1
        }
    }

    /// `['name']`, `["name"]` or `[index]`.
    mutating func bracketSelector() throws(JSONPathError) -> JSONPath.Segment {
        skipBlanks()
        let segment: JSONPath.Segment
        switch current {
        case 0x27, 0x22:  // ' or "
            segment = .key(try quotedName())
        case 0x30...0x39:
            segment = .index(try arrayIndex())
        case 0x2D: throw fail("negative array indexes are not supported")
        case 0x2A: throw fail("wildcards (*) are not supported; a path must name one value")
        case 0x3F: throw fail("filters (?) are not supported; a path must name one value")
        case 0x3A: throw fail("slices (:) are not supported; a path must name one value")
        case 0: throw fail("the path ends inside '['")
        default: throw fail("unexpected character at offset \(index) inside '[...]'")
        }
        skipBlanks()
        switch current {
        case 0x5D:
            index += 1
            return segment
        case 0x3A: throw fail("slices (:) are not supported; a path must name one value")
        case 0x2C: throw fail("unions (,) are not supported; a path must name one value")
        case 0: throw fail("missing ']' at the end of the path")
        default: throw fail("expected ']' at offset \(index)")
        }
    }

    /// A non-negative decimal index without leading zeros.
    mutating func arrayIndex() throws(JSONPathError) -> Int {
        let start = index
        var value = 0
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(bytes[index] - 0x30))
            guard !overflow1, !overflow2 else { throw fail("array index at offset \(start) is too large") }
            value = sum
            index += 1
        }
        if index - start > 1, bytes[start] == 0x30 { throw fail("array index at offset \(start) has a leading zero") }
        return value
    }

    /// A quoted member name with RFC 9535 escapes (`\'`, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`,
    /// `\r`, `\t`, `\uXXXX` with surrogate pairs).
    mutating func quotedName() throws(JSONPathError) -> String {
        let quote = bytes[index]
        let start = index
        index += 1
        var utf8: [UInt8] = []
        while true {
            guard index < bytes.count else { throw fail("unterminated quoted name starting at offset \(start)") }
            let byte = bytes[index]
            if byte == quote {
                index += 1
                return String(decoding: utf8, as: UTF8.self)
            }
            if byte < 0x20 { throw fail("control character in quoted name at offset \(index); escape it") }
            guard byte == 0x5C else {
                utf8.append(byte)
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { throw fail("unterminated escape at offset \(index)") }
            let kind = bytes[index + 1]
            index += 2
            switch kind {
            case 0x27, 0x22, 0x5C, 0x2F: utf8.append(kind)
            case 0x62: utf8.append(0x08)
            case 0x66: utf8.append(0x0C)
            case 0x6E: utf8.append(0x0A)
            case 0x72: utf8.append(0x0D)
            case 0x74: utf8.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if scalar >= 0xD800, scalar <= 0xDBFF {
                    guard index + 1 < bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else {
                        throw fail("unpaired surrogate in \\u escape at offset \(index - 6)")
                    }
                    index += 2
                    let low = try hex4()
                    guard low >= 0xDC00, low <= 0xDFFF else { throw fail("unpaired surrogate in \\u escape at offset \(index - 12)") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar <= 0xDFFF {
                    throw fail("unpaired surrogate in \\u escape at offset \(index - 6)")
                }
                JSONScanner.appendUTF8(scalar, to: &utf8)
            default:
                throw fail("invalid escape at offset \(index - 2)")
            }
        }
    }

    mutating func hex4() throws(JSONPathError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("\\u must be followed by four hexadecimal digits") }
        var value: UInt32 = 0
        for offset in index..<(index + 4) {
            guard let digit = JSONScanner.hexValue(bytes[offset]) else {
                throw fail("\\u must be followed by four hexadecimal digits (offset \(offset))")
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }
}

extension JSONPath {
    /// Evaluates against already-validated raw JSON bytes (an event's `data`).
    ///
    /// Walks the bytes once, skipping unrelated members without allocating; only the final
    /// scalar is decoded. Malformed input gives `.missing`, never a crash. When a member name
    /// occurs twice, the first occurrence wins.
    ///
    /// A number is `.number` when `ExactDecimal` holds it exactly; otherwise (more than 38
    /// significant digits, or a huge exponent) it is `.string` with the literal text as
    /// written, so nothing is rounded silently and the caller can still see, count or
    /// report it.
    public func evaluate(in json: UnsafeRawBufferPointer) -> JSONValue {
        var scanner = JSONScanner(json)
        scanner.skipWhitespace()
        for segment in segments {
            let found: Bool?
            switch segment {
            case .key(let key):
                guard scanner.current == 0x7B else { return .missing }
                var key = key
                found = key.withUTF8 { name in try? scanner.seekMember(named: UnsafeRawBufferPointer(name)) }
            case .index(let position):
                guard scanner.current == 0x5B else { return .missing }
                found = try? scanner.seekElement(at: position)
            }
            guard found == true else { return .missing }
        }
        return (try? scanner.readShallowValue()) ?? .missing
    }

    public func evaluate(in json: [UInt8]) -> JSONValue {
        json.withUnsafeBytes { evaluate(in: $0) }
    }
}

extension JSONScanner {
    /// With the cursor on `{`: moves to the value of the first member called `name`
    /// (whitespace skipped) and returns true, or returns false when there is none.
    mutating func seekMember(named name: UnsafeRawBufferPointer) throws(JSONSyntaxError) -> Bool {
        position += 1
        skipWhitespace()
        if current == 0x7D { return false }
        while true {
            skipWhitespace()
            guard current == 0x22 else { throw unexpected("a member name string") }
            let token = try scanString()
            skipWhitespace()
            try expect(0x3A, "':' after a member name")
            skipWhitespace()
            if string(token, equals: name) { return true }
            try skipValue(depth: 0)
            skipWhitespace()
            switch current {
            case 0x2C: position += 1
            case 0x7D: return false
            default: throw unexpected("',' or '}'")
            }
        }
    }

    /// With the cursor on `[`: moves to element `target` (whitespace skipped) and returns true,
    /// or returns false when the array is shorter.
    mutating func seekElement(at target: Int) throws(JSONSyntaxError) -> Bool {
        position += 1
        skipWhitespace()
        if current == 0x5D { return false }
        var index = 0
        while true {
            skipWhitespace()
            if index == target { return true }
            try skipValue(depth: 0)
            skipWhitespace()
            switch current {
            case 0x2C: position += 1
            case 0x5D: return false
            default: throw unexpected("',' or ']'")
            }
            index += 1
        }
    }

    /// The value at the cursor, containers by kind only.
    mutating func readShallowValue() throws(JSONSyntaxError) -> JSONValue {
        switch current {
        case 0x22: return .string(try decodeString(try scanString()))
        case 0x7B: return .object
        case 0x5B: return .array
        case 0x74:
            try scanLiteral("true")
            return .bool(true)
        case 0x66:
            try scanLiteral("false")
            return .bool(false)
        case 0x6E:
            try scanLiteral("null")
            return .null
        case 0x2D, 0x30...0x39:
            let range = try scanNumber()
            let literal = UnsafeRawBufferPointer(rebasing: bytes[range])
            if let number = ExactDecimal.parse(literal) { return .number(number) }
            return .string(String(decoding: literal, as: UTF8.self))
        default:
            return .missing
        }
    }
}
