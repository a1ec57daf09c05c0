/// A CloudEvent with its envelope decoded and `data` kept as the exact bytes it arrived in.
///
/// Decoding `data` into generic values costs ~7× more than the envelope; meters read the
/// few properties they need from the raw bytes with `JSONPath` instead.
public struct ParsedEvent: Sendable, Equatable {
    public var id: String
    public var source: String
    public var specversion: String
    public var type: String
    public var subject: String
    /// nil when `time` is absent (the caller fills in the receipt time).
    public var timeMicros: Int64?
    public var dataContentType: String?
    /// Exact raw bytes of the `data` member's value (an object); nil when absent or JSON null.
    public var data: [UInt8]?

    public init(
        id: String, source: String, specversion: String = "1.0", type: String, subject: String,
        timeMicros: Int64? = nil, dataContentType: String? = nil, data: [UInt8]? = nil
    ) {
        self.id = id
        self.source = source
        self.specversion = specversion
        self.type = type
        self.subject = subject
        self.timeMicros = timeMicros
        self.dataContentType = dataContentType
        self.data = data
    }
}

/// One problem with a batch, addressed so a client can fix exactly that item.
public struct EventIssue: Sendable, Equatable, Codable {
    /// Position of the event in the batch (0-based); nil for whole-body problems.
    public var index: Int?
    /// Attribute name, e.g. "time", "data", "specversion"; nil when not about one attribute.
    public var field: String?
    /// A human sentence, e.g. "required attribute is missing".
    public var reason: String

    public init(index: Int?, field: String?, reason: String) {
        self.index = index
        self.field = field
        self.reason = reason
    }
}

/// The batch was rejected as a whole; `issues` lists every problem found (up to
/// `EventBatchParser.maxIssues`), so a client can fix them all in one round trip.
public struct EventBatchParseError: Error, Sendable {
    public var issues: [EventIssue]
    public init(issues: [EventIssue]) { self.issues = issues }
}

/// Parses CloudEvents 1.0 in the structured JSON format (one event or a batch array) on the
/// ingest hot path: validates the whole body strictly, decodes only the envelope, and keeps
/// `data` as raw bytes.
///
/// A batch is all-or-nothing: any issue rejects it, because a partially accepted batch
/// would leave the client unsure what to retry.
public enum EventBatchParser {
    /// Issues reported at most; a body of a million broken events gets a bounded answer.
    public static let maxIssues = 100

    /// `body` is one event object or an array of event objects.
    /// Returns the events in order and whether the body was an array.
    ///
    /// - Throws: every semantic issue of every event (index and field set); or a single
    ///   issue for a syntax error (reason includes the byte offset), for a body that is
    ///   not an object or array, or for more than `maxEvents` events (detected as soon as
    ///   element `maxEvents` begins, before it is parsed).
    public static func parse(
        _ body: UnsafeRawBufferPointer, maxEvents: Int, maxAttributeBytes: Int = 1024
    ) throws(EventBatchParseError) -> (events: [ParsedEvent], isArray: Bool) {
        var parser = BatchParser(body: body, maxEvents: maxEvents, maxAttributeBytes: maxAttributeBytes)
        let outcome: BatchParser.Outcome
        do throws(JSONSyntaxError) {
            outcome = try parser.parseBody()
        } catch {
            throw EventBatchParseError(issues: [EventIssue(index: parser.currentIndex, field: nil, reason: error.reason)])
        }
        switch outcome {
        case .accepted(let events, let isArray): return (events, isArray)
        case .rejected(let issues): throw EventBatchParseError(issues: issues)
        }
    }
}

/// The CloudEvents attributes the envelope decodes; everything else is an extension.
private enum Attribute: Int {
    case id, source, specversion, type, subject, time, datacontenttype, data, dataBase64, `extension`

    var name: String {
        switch self {
        case .id: return "id"
        case .source: return "source"
        case .specversion: return "specversion"
        case .type: return "type"
        case .subject: return "subject"
        case .time: return "time"
        case .datacontenttype: return "datacontenttype"
        case .data: return "data"
        case .dataBase64: return "data_base64"
        case .extension: return "extension"
        }
    }

    /// Matches a member name by length first, then bytes, without building a String.
    static func classify(_ name: UnsafeRawBufferPointer) -> Attribute {
        @inline(__always) func equals(_ literal: StaticString) -> Bool {
            guard name.count == literal.utf8CodeUnitCount else { return false }
            let expected = literal.utf8Start
            for index in 0..<name.count where name[index] != expected[index] { return false }
            return true
        }
        switch name.count {
        case 2: return equals("id") ? .id : .extension
        case 4:
            if equals("type") { return .type }
            if equals("time") { return .time }
            if equals("data") { return .data }
            return .extension
        case 6: return equals("source") ? .source : .extension
        case 7: return equals("subject") ? .subject : .extension
        case 11:
            if equals("specversion") { return .specversion }
            if equals("data_base64") { return .dataBase64 }
            return .extension
        case 15: return equals("datacontenttype") ? .datacontenttype : .extension
        default: return .extension
        }
    }
}

private struct BatchParser {
    enum Outcome {
        case accepted([ParsedEvent], isArray: Bool)
        case rejected([EventIssue])
    }

    var scanner: JSONScanner
    let maxEvents: Int
    let maxAttributeBytes: Int
    var issues: [EventIssue] = []
    /// Issues found, including those beyond `maxIssues` that were not kept.
    var issuesFound = 0
    /// The event being parsed, for addressing syntax errors; nil outside any event.
    var currentIndex: Int?
    /// Extension member names of the current event, to detect duplicates; reused across events.
    var extensionNames: [JSONStringToken] = []
    /// Decoded extension names once an event has many: keeps duplicate detection linear
    /// (pairwise comparison of a hostile event's 100k members would be quadratic).
    var extensionNameSet: Set<String>?
    /// Containers around the current event's member values.
    var memberDepth = 0
    var scratch: [UInt8] = []
    /// The last decoded value of each attribute and where its bytes were. Batches repeat
    /// `source`, `type`, `subject` and `datacontenttype` from event to event; reusing a
    /// long String costs a retain instead of an allocation and a UTF-8 validation.
    var lastValues = Array(repeating: (token: JSONStringToken(start: 0, end: 0, hasEscapes: true), text: ""), count: 10)

    init(body: UnsafeRawBufferPointer, maxEvents: Int, maxAttributeBytes: Int) {
        self.scanner = JSONScanner(body)
        self.maxEvents = maxEvents
        self.maxAttributeBytes = maxAttributeBytes
    }

    static let shapeReason = "body must be a JSON object (one event) or an array of JSON objects (a batch)"

    var tooManyEvents: EventIssue {
        EventIssue(index: nil, field: nil, reason: "the batch has more than \(maxEvents) events; at most \(maxEvents) events per batch (maxEvents)")
    }

    mutating func parseBody() throws(JSONSyntaxError) -> Outcome {
        scanner.skipWhitespace()
        var events: [ParsedEvent] = []
        let isArray: Bool
        switch scanner.current {
        case 0x7B:  // '{'
            isArray = false
            guard maxEvents >= 1 else { return .rejected([tooManyEvents]) }
            currentIndex = 0
            if let event = try parseEvent(index: 0, depth: 0) { events.append(event) }
            currentIndex = nil
        case 0x5B:  // '['
            isArray = true
            scanner.position += 1
            scanner.skipWhitespace()
            if scanner.current == 0x5D {
                scanner.position += 1
                break
            }
            var index = 0
            elements: while true {
                scanner.skipWhitespace()
                guard index < maxEvents else { return .rejected([tooManyEvents]) }
                currentIndex = index
                if scanner.current == 0x7B {
                    if let event = try parseEvent(index: index, depth: 1), issuesFound == 0 { events.append(event) }
                } else {
                    try scanner.skipValue(depth: 1)
                    issue(index, nil, "event must be a JSON object")
                }
                if issuesFound > issues.count {
                    // Stop here: the client has plenty to fix, and the rest is not worth parsing.
                    return .rejected(issues + [Self.truncationNote])
                }
                index += 1
                scanner.skipWhitespace()
                switch scanner.current {
                case 0x2C: scanner.position += 1
                case 0x5D:
                    scanner.position += 1
                    break elements
                default: throw scanner.unexpected("',' or ']'")
                }
            }
            currentIndex = nil
        default:
            if scanner.isAtEnd { return .rejected([EventIssue(index: nil, field: nil, reason: "body is empty; " + Self.shapeReason)]) }
            try scanner.skipValue(depth: 0)  // a syntax error takes precedence over the shape
            try expectEnd()
            return .rejected([EventIssue(index: nil, field: nil, reason: Self.shapeReason)])
        }
        try expectEnd()
        if issuesFound > issues.count { issues.append(Self.truncationNote) }
        return issues.isEmpty ? .accepted(events, isArray: isArray) : .rejected(issues)
    }

    mutating func expectEnd() throws(JSONSyntaxError) {
        scanner.skipWhitespace()
        guard scanner.isAtEnd else { throw scanner.error("unexpected data after the JSON value") }
    }

    mutating func issue(_ index: Int, _ field: String?, _ reason: String) {
        issuesFound += 1
        if issues.count < EventBatchParser.maxIssues {
            issues.append(EventIssue(index: index, field: field, reason: reason))
        }
    }

    static let truncationNote = EventIssue(
        index: nil, field: nil, reason: "too many issues; only the first \(EventBatchParser.maxIssues) are listed"
    )

    /// Parses the event object at the cursor, recording its issues. Returns nil when it has any.
    mutating func parseEvent(index: Int, depth: Int) throws(JSONSyntaxError) -> ParsedEvent? {
        let objectDepth = depth + 1
        memberDepth = objectDepth
        let issuesBefore = issuesFound
        var id: String?, source: String?, type: String?, subject: String?
        var specversionSeen = false
        var timeMicros: Int64?
        var dataContentType: String?
        var data: [UInt8]?
        var seen: UInt16 = 0
        extensionNames.removeAll(keepingCapacity: true)
        extensionNameSet = nil

        scanner.position += 1  // '{'
        scanner.skipWhitespace()
        if scanner.current == 0x7D {
            scanner.position += 1
        } else {
            members: while true {
                scanner.skipWhitespace()
                guard scanner.current == 0x22 else { throw scanner.unexpected("a member name string") }
                let nameToken = try scanner.scanString()
                scanner.skipWhitespace()
                try scanner.expect(0x3A, "':' after a member name")
                scanner.skipWhitespace()

                let attribute: Attribute
                if nameToken.hasEscapes {
                    try scanner.decodeEscapedString(nameToken, into: &scratch)
                    attribute = scratch.withUnsafeBytes { Attribute.classify($0) }
                } else {
                    attribute = Attribute.classify(scanner.rawBytes(nameToken))
                }

                var duplicate = false
                if attribute == .extension {
                    duplicate = try isDuplicateExtension(nameToken)
                    if duplicate { issue(index, try scanner.decodeString(nameToken), "duplicate member name") }
                } else {
                    let bit: UInt16 = 1 << attribute.rawValue
                    duplicate = seen & bit != 0
                    seen |= bit
                    if duplicate { issue(index, attribute.name, "duplicate member name") }
                }

                if duplicate {
                    try scanner.skipValue(depth: objectDepth)
                } else {
                    switch attribute {
                    case .id: id = try requiredString(.id, index: index)
                    case .source: source = try requiredString(.source, index: index)
                    case .type: type = try requiredString(.type, index: index)
                    case .subject: subject = try requiredString(.subject, index: index)
                    case .specversion:
                        specversionSeen = true
                        try readSpecversion(index: index)
                    case .time: timeMicros = try readTime(index: index)
                    case .datacontenttype: dataContentType = try optionalString(.datacontenttype, index: index)
                    case .data: data = try readData(index: index, depth: objectDepth)
                    case .dataBase64:
                        try scanner.skipValue(depth: objectDepth)
                        issue(index, "data_base64", "binary data is not supported; send data as a JSON object")
                    case .extension:
                        try scanner.skipValue(depth: objectDepth)
                    }
                }

                scanner.skipWhitespace()
                switch scanner.current {
                case 0x2C: scanner.position += 1
                case 0x7D:
                    scanner.position += 1
                    break members
                default: throw scanner.unexpected("',' or '}'")
                }
            }
        }

        // Missing required attributes, in a fixed order. A present-but-invalid attribute has
        // already been reported, so it is not reported missing as well.
        let missing = "required attribute is missing"
        for attribute in [Attribute.id, .source, .specversion, .type, .subject] where seen & (1 << attribute.rawValue) == 0 {
            issue(index, attribute.name, missing)
        }
        guard issuesFound == issuesBefore, let id, let source, let type, let subject, specversionSeen else { return nil }
        return ParsedEvent(
            id: id, source: source, specversion: "1.0", type: type, subject: subject,
            timeMicros: timeMicros, dataContentType: dataContentType, data: data
        )
    }

    /// Records an extension member name; true when the event already had it.
    mutating func isDuplicateExtension(_ name: JSONStringToken) throws(JSONSyntaxError) -> Bool {
        if extensionNameSet != nil {
            return try !extensionNameSet!.insert(scanner.decodeString(name)).inserted
        }
        if extensionNames.contains(where: { sameName($0, name) }) { return true }
        extensionNames.append(name)
        if extensionNames.count >= 16 {
            var names = Set<String>()
            for token in extensionNames { names.insert(try scanner.decodeString(token)) }
            extensionNameSet = names
        }
        return false
    }

    /// Compares two member names of the same object as decoded text.
    func sameName(_ a: JSONStringToken, _ b: JSONStringToken) -> Bool {
        if !a.hasEscapes { return scanner.string(b, equals: scanner.rawBytes(a)) }
        if !b.hasEscapes { return scanner.string(a, equals: scanner.rawBytes(b)) }
        guard let left = try? scanner.decodeString(a), let right = try? scanner.decodeString(b) else { return false }
        return left == right
    }

    /// A string of 1...maxAttributeBytes UTF-8 bytes; anything else is an issue.
    mutating func requiredString(_ attribute: Attribute, index: Int) throws(JSONSyntaxError) -> String? {
        guard scanner.current == 0x22 else {
            try scanner.skipValue(depth: memberDepth)
            issue(index, attribute.name, "must be a string")
            return nil
        }
        let token = try scanner.scanString()
        // Escapes only ever shrink text, so the raw length bounds the decoded one: an
        // over-long value is rejected before it is decoded.
        if !token.hasEscapes, token.byteCount > maxAttributeBytes {
            issue(index, attribute.name, "must be at most \(maxAttributeBytes) bytes")
            return nil
        }
        let text = try decodeRepeating(token, attribute)
        if text.isEmpty {
            issue(index, attribute.name, "must not be empty")
            return nil
        }
        if text.utf8.count > maxAttributeBytes {
            issue(index, attribute.name, "must be at most \(maxAttributeBytes) bytes")
            return nil
        }
        return text
    }

    /// Decodes a string token, reusing the previous event's String when the bytes are the same.
    mutating func decodeRepeating(_ token: JSONStringToken, _ attribute: Attribute) throws(JSONSyntaxError) -> String {
        // Up to 15 UTF-8 bytes a String is stored inline (no allocation): decoding is cheaper
        // than comparing. Ids are unique per event, so never worth caching.
        guard !token.hasEscapes, token.byteCount > 15, attribute != .id else { return try scanner.decodeString(token) }
        let last = lastValues[attribute.rawValue]
        if !last.token.hasEscapes, scanner.string(token, equals: scanner.rawBytes(last.token)) { return last.text }
        let text = try scanner.decodeString(token)
        lastValues[attribute.rawValue] = (token, text)
        return text
    }

    /// An optional string attribute: null means absent.
    mutating func optionalString(_ attribute: Attribute, index: Int) throws(JSONSyntaxError) -> String? {
        if scanner.current == 0x6E {  // null
            try scanner.scanLiteral("null")
            return nil
        }
        guard scanner.current == 0x22 else {
            try scanner.skipValue(depth: memberDepth)
            issue(index, attribute.name, "must be a string")
            return nil
        }
        let token = try scanner.scanString()
        let text = try decodeRepeating(token, attribute)
        if text.utf8.count > maxAttributeBytes {
            issue(index, attribute.name, "must be at most \(maxAttributeBytes) bytes")
            return nil
        }
        return text
    }

    /// `specversion` must be the string "1.0": the only structure this parser understands.
    mutating func readSpecversion(index: Int) throws(JSONSyntaxError) {
        let mustBe = "must be \"1.0\""
        guard scanner.current == 0x22 else {
            try scanner.skipValue(depth: memberDepth)
            issue(index, "specversion", mustBe)
            return
        }
        let token = try scanner.scanString()
        let ok: Bool = "1.0".utf8.withContiguousStorageIfAvailable { scanner.string(token, equals: UnsafeRawBufferPointer($0)) } ?? false
        if !ok { issue(index, "specversion", mustBe) }
    }

    /// `time`: an RFC 3339 string; null means absent.
    mutating func readTime(index: Int) throws(JSONSyntaxError) -> Int64? {
        if scanner.current == 0x6E {
            try scanner.scanLiteral("null")
            return nil
        }
        guard scanner.current == 0x22 else {
            try scanner.skipValue(depth: memberDepth)
            issue(index, "time", "must be a string")
            return nil
        }
        let token = try scanner.scanString()
        let micros: Int64?
        if token.hasEscapes {
            try scanner.decodeEscapedString(token, into: &scratch)
            micros = scratch.withUnsafeBytes { RFC3339.parseMicroseconds($0) }
        } else {
            micros = RFC3339.parseMicroseconds(scanner.rawBytes(token))
        }
        if micros == nil { issue(index, "time", "not an RFC 3339 timestamp (e.g. 2026-11-25T10:00:00Z)") }
        return micros
    }

    /// `data`: an object kept as its exact bytes; null means absent.
    mutating func readData(index: Int, depth: Int) throws(JSONSyntaxError) -> [UInt8]? {
        switch scanner.current {
        case 0x7B:
            let start = scanner.position
            try scanner.skipValue(depth: depth)
            return Array(UnsafeRawBufferPointer(rebasing: scanner.bytes[start..<scanner.position]))
        case 0x6E:
            try scanner.scanLiteral("null")
            return nil
        default:
            try scanner.skipValue(depth: depth)
            issue(index, "data", "must be a JSON object")
            return nil
        }
    }
}
