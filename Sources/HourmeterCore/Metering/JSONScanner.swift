/// Where and why JSON text is malformed. `offset` is the 0-based byte offset of the problem.
struct JSONSyntaxError: Error, Sendable {
    var offset: Int
    var message: String

    /// The sentence clients see: it names the byte so a sender can find the problem.
    var reason: String { "invalid JSON at byte offset \(offset): \(message)" }
}

/// A string member as it sits in the input: the bytes between the quotes.
/// Most strings carry no escapes and are used in place, without copying.
struct JSONStringToken {
    var start: Int
    var end: Int
    var hasEscapes: Bool

    var byteCount: Int { end - start }
}

/// A strict (RFC 8259) cursor over raw JSON bytes.
///
/// It validates while it skips, so the ingest path can check an event's whole body yet decode
/// only the envelope: unrelated values (`data`, extensions) are walked in place and
/// never turned into Swift values. Rejects trailing commas, leading zeros, bad escapes,
/// unescaped control characters, and nesting deeper than `maxDepth`. It does not check that
/// the bytes are valid UTF-8 (decoded strings repair invalid sequences).
struct JSONScanner {
    /// Deep nesting is the cheap way to exhaust a recursive parser's stack; real events are shallow.
    static let maxDepth = 64

    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { position >= bytes.count }

    /// The byte at the cursor, or 0 at the end (0 can never start a valid token).
    @inline(__always)
    var current: UInt8 { position < bytes.count ? bytes[position] : 0 }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    func error(_ message: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? position, message: message)
    }

    /// An error describing what was found at the cursor instead of what was expected.
    func unexpected(_ expected: String) -> JSONSyntaxError {
        if isAtEnd { return error("unexpected end of input, expected \(expected)") }
        let byte = bytes[position]
        let found = byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return error("expected \(expected), found \(found)")
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8, _ description: String) throws(JSONSyntaxError) {
        guard current == byte else { throw unexpected(description) }
        position += 1
    }

    // MARK: Strings

    /// Scans a string whose opening quote is at the cursor, leaving the cursor after the
    /// closing quote. Escapes are checked for form here and decoded only on demand.
    mutating func scanString() throws(JSONSyntaxError) -> JSONStringToken {
        let start = position + 1
        var index = start
        var hasEscapes = false
        let count = bytes.count
        while index < count {
            // Eight bytes at a time up to the first quote, backslash or control character:
            // strings are most of an event's bytes.
            while index + 8 <= count {
                let special = Self.specialBytes(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                if special != 0 {
                    index += Self.firstFlaggedByte(special)
                    break
                }
                index += 8
            }
            guard index < count else { break }
            let byte = bytes[index]
            if byte == 0x22 {  // '"'
                position = index + 1
                return JSONStringToken(start: start, end: index, hasEscapes: hasEscapes)
            }
            if byte == 0x5C {  // '\'
                hasEscapes = true
                guard index + 1 < count else { break }
                switch bytes[index + 1] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74:  // " \ / b f n r t
                    index += 2
                case 0x75:  // u
                    guard index + 5 < count, Self.hexValue(bytes[index + 2]) != nil, Self.hexValue(bytes[index + 3]) != nil,
                          Self.hexValue(bytes[index + 4]) != nil, Self.hexValue(bytes[index + 5]) != nil
                    else { throw error("\\u must be followed by four hexadecimal digits", at: index) }
                    index += 6
                default:
                    throw error("invalid escape sequence in string", at: index)
                }
                continue
            }
            if byte < 0x20 { throw error("unescaped control character in string", at: index) }
            index += 1
        }
        throw error("unterminated string", at: start - 1)
    }

    /// Flags (high bit of the byte) the bytes of `word` that are `"`, `\` or below 0x20, using
    /// the classic "has a byte less than n" bit trick. Borrows can flag bytes *after* a true
    /// match, never before it, so the first flag is exact; zero means none.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let hasQuote = (quotes &- ones) & ~quotes
        let hasBackslash = (backslashes &- ones) & ~backslashes
        let hasControl = (word &- ones &* 0x20) & ~word
        return (hasQuote | hasBackslash | hasControl) & highs
    }

    /// Offset (0...7) of the first flagged byte in memory order.
    @inline(__always)
    static func firstFlaggedByte(_ flags: UInt64) -> Int {
        #if _endian(little)
        return flags.trailingZeroBitCount / 8
        #else
        return flags.leadingZeroBitCount / 8
        #endif
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case 0x30...0x39: return UInt32(byte - 0x30)
        case 0x41...0x46: return UInt32(byte - 0x41 + 10)
        case 0x61...0x66: return UInt32(byte - 0x61 + 10)
        default: return nil
        }
    }

    /// The bytes of a token as a buffer, for tokens without escapes.
    @inline(__always)
    func rawBytes(_ token: JSONStringToken) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[token.start..<token.end])
    }

    /// The Swift string a token denotes. Without escapes this is one UTF-8 copy.
    func decodeString(_ token: JSONStringToken) throws(JSONSyntaxError) -> String {
        if !token.hasEscapes { return String(decoding: rawBytes(token), as: UTF8.self) }
        var utf8: [UInt8] = []
        try decodeEscapedString(token, into: &utf8)
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Decodes a token that has escapes into UTF-8. `\u` surrogate pairs are combined; a lone
    /// surrogate is an error because it has no UTF-8 form and would silently become U+FFFD.
    func decodeEscapedString(_ token: JSONStringToken, into utf8: inout [UInt8]) throws(JSONSyntaxError) {
        utf8.removeAll(keepingCapacity: true)
        utf8.reserveCapacity(token.byteCount)
        var index = token.start
        while index < token.end {
            let byte = bytes[index]
            guard byte == 0x5C else {
                utf8.append(byte)
                index += 1
                continue
            }
            let kind = bytes[index + 1]
            switch kind {
            case 0x62: utf8.append(0x08)  // \b
            case 0x66: utf8.append(0x0C)  // \f
            case 0x6E: utf8.append(0x0A)  // \n
            case 0x72: utf8.append(0x0D)  // \r
            case 0x74: utf8.append(0x09)  // \t
            case 0x75:  // \uXXXX
                var scalar = hex4(at: index + 2)
                if scalar >= 0xD800, scalar <= 0xDBFF {
                    guard index + 11 < token.end, bytes[index + 6] == 0x5C, bytes[index + 7] == 0x75 else {
                        throw error("\\u escape is an unpaired surrogate", at: index)
                    }
                    let low = hex4(at: index + 8)
                    guard low >= 0xDC00, low <= 0xDFFF else { throw error("\\u escape is an unpaired surrogate", at: index) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                } else if scalar >= 0xDC00, scalar <= 0xDFFF {
                    throw error("\\u escape is an unpaired surrogate", at: index)
                }
                Self.appendUTF8(scalar, to: &utf8)
                index += 6
                continue
            default: utf8.append(kind)  // \" \\ \/
            }
            index += 2
        }
    }

    /// Four hex digits already validated by `scanString`.
    @inline(__always)
    private func hex4(at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for index in offset..<(offset + 4) { value = value << 4 | (Self.hexValue(bytes[index]) ?? 0) }
        return value
    }

    static func appendUTF8(_ scalar: UInt32, to utf8: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            utf8.append(UInt8(scalar))
        case 0x80..<0x800:
            utf8.append(UInt8(0xC0 | scalar >> 6))
            utf8.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            utf8.append(UInt8(0xE0 | scalar >> 12))
            utf8.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            utf8.append(UInt8(0x80 | scalar & 0x3F))
        default:
            utf8.append(UInt8(0xF0 | scalar >> 18))
            utf8.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            utf8.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            utf8.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Whether a string token denotes exactly the UTF-8 bytes `text`, decoding escapes on the
    /// fly so keys compare without allocating.
    func string(_ token: JSONStringToken, equals text: UnsafeRawBufferPointer) -> Bool {
        if !token.hasEscapes {
            guard token.byteCount == text.count else { return false }
            return Self.bytesEqual(rawBytes(token), text)
        }
        var decoded: [UInt8] = []
        guard (try? decodeEscapedString(token, into: &decoded)) != nil, decoded.count == text.count else { return false }
        for index in 0..<text.count where decoded[index] != text[index] { return false }
        return true
    }

    /// Byte equality of two equally long buffers, a word at a time.
    @inline(__always)
    static func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let count = a.count
        var index = 0
        while index + 8 <= count {
            if a.loadUnaligned(fromByteOffset: index, as: UInt64.self) != b.loadUnaligned(fromByteOffset: index, as: UInt64.self) {
                return false
            }
            index += 8
        }
        while index < count {
            if a[index] != b[index] { return false }
            index += 1
        }
        return true
    }

    // MARK: Numbers and literals

    /// Validates a number at the cursor against the JSON grammar and returns its byte range.
    mutating func scanNumber() throws(JSONSyntaxError) -> Range<Int> {
        let start = position
        let count = bytes.count
        var index = position
        @inline(__always) func isDigit(_ at: Int) -> Bool { at < count && bytes[at] &- 0x30 < 10 }

        if index < count, bytes[index] == 0x2D { index += 1 }  // '-'
        guard index < count else { throw error("expected a digit", at: index) }
        if bytes[index] == 0x30 {
            index += 1
            if isDigit(index) { throw error("numbers must not have leading zeros", at: start) }
        } else if isDigit(index) {
            while isDigit(index) { index += 1 }
        } else {
            throw error("expected a digit", at: index)
        }
        if index < count, bytes[index] == 0x2E {  // '.'
            index += 1
            guard isDigit(index) else { throw error("expected a digit after the decimal point", at: index) }
            while isDigit(index) { index += 1 }
        }
        if index < count, bytes[index] == 0x65 || bytes[index] == 0x45 {  // e / E
            index += 1
            if index < count, bytes[index] == 0x2B || bytes[index] == 0x2D { index += 1 }
            guard isDigit(index) else { throw error("expected a digit in the exponent", at: index) }
            while isDigit(index) { index += 1 }
        }
        position = index
        return start..<index
    }

    /// Consumes `true`, `false` or `null` at the cursor.
    mutating func scanLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let length = literal.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw error("invalid literal (expected \(literal))") }
        let expected = literal.utf8Start
        for index in 0..<length where bytes[position + index] != expected[index] {
            throw error("invalid literal (expected \(literal))")
        }
        position += length
    }

    // MARK: Skipping

    /// Validates and skips one value (leading whitespace included). `depth` is the number of
    /// containers around the value; entering a container deeper than `maxDepth` is an error.
    mutating func skipValue(depth: Int) throws(JSONSyntaxError) {
        skipWhitespace()
        switch current {
        case 0x22: _ = try scanString()
        case 0x7B: try skipObject(depth: depth + 1)
        case 0x5B: try skipArray(depth: depth + 1)
        case 0x74: try scanLiteral("true")
        case 0x66: try scanLiteral("false")
        case 0x6E: try scanLiteral("null")
        case 0x2D, 0x30...0x39: _ = try scanNumber()
        default: throw unexpected("a JSON value")
        }
    }

    /// Skips the object at the cursor; `depth` counts this object.
    mutating func skipObject(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.maxDepth else { throw error("nesting is deeper than \(Self.maxDepth) levels") }
        position += 1  // '{'
        skipWhitespace()
        if current == 0x7D {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard current == 0x22 else { throw unexpected("a member name string") }
            _ = try scanString()
            skipWhitespace()
            try expect(0x3A, "':' after a member name")
            try skipValue(depth: depth)
            skipWhitespace()
            switch current {
            case 0x2C: position += 1
            case 0x7D:
                position += 1
                return
            default: throw unexpected("',' or '}'")
            }
        }
    }

    /// Skips the array at the cursor; `depth` counts this array.
    mutating func skipArray(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.maxDepth else { throw error("nesting is deeper than \(Self.maxDepth) levels") }
        position += 1  // '['
        skipWhitespace()
        if current == 0x5D {
            position += 1
            return
        }
        while true {
            try skipValue(depth: depth)
            skipWhitespace()
            switch current {
            case 0x2C: position += 1
            case 0x5D:
                position += 1
                return
            default: throw unexpected("',' or ']'")
            }
        }
    }
}
