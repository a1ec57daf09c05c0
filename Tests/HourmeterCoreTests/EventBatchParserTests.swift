import Foundation
import Testing
@testable import HourmeterCore

private func parse(_ body: String, maxEvents: Int = 1000, maxAttributeBytes: Int = 1024) -> Result<(events: [ParsedEvent], isArray: Bool), EventBatchParseError> {
    let bytes = Array(body.utf8)
    return bytes.withUnsafeBytes { raw in
        Result { () throws(EventBatchParseError) in try EventBatchParser.parse(raw, maxEvents: maxEvents, maxAttributeBytes: maxAttributeBytes) }
    }
}

private func issues(_ body: String, maxEvents: Int = 1000, maxAttributeBytes: Int = 1024) -> [EventIssue] {
    switch parse(body, maxEvents: maxEvents, maxAttributeBytes: maxAttributeBytes) {
    case .success: return []
    case .failure(let error): return error.issues
    }
}

private func event(_ id: String = "e1", extra: String = "") -> String {
    #"{"specversion":"1.0","id":"\#(id)","source":"press-7","type":"run_hours","subject":"machine-42","time":"2026-11-25T10:00:00Z"\#(extra)}"#
}

@Suite struct EventBatchParserTests {
    @Test func singleEvent() throws {
        let body = #"{"specversion":"1.0","id":"e1","source":"press-7","type":"run_hours","subject":"machine-42","time":"2026-11-25T10:00:00.5+01:00","datacontenttype":"application/json","data":{"hours":1.5}}"#
        let result = try parse(body).get()
        #expect(!result.isArray)
        #expect(result.events == [ParsedEvent(
            id: "e1", source: "press-7", specversion: "1.0", type: "run_hours", subject: "machine-42",
            timeMicros: 1_795_597_200_500_000, dataContentType: "application/json", data: Array(#"{"hours":1.5}"#.utf8)
        )])
    }

    @Test func arrayOfEventsInOrder() throws {
        let body = " [ \(event("a")) ,\n\(event("b")),\(event("c"))\t]\r\n"
        let result = try parse(body).get()
        #expect(result.isArray)
        #expect(result.events.map(\.id) == ["a", "b", "c"])
        #expect(result.events.allSatisfy { $0.timeMicros == 1_795_600_800_000_000 && $0.data == nil })
    }

    @Test func emptyArrayIsValid() throws {
        let result = try parse("[]").get()
        #expect(result.isArray && result.events.isEmpty)
        #expect(try parse(" [ \n ] ").get().events.isEmpty)
    }

    @Test func optionalAttributesMayBeAbsentOrNull() throws {
        let body = #"{"specversion":"1.0","id":"e","source":"s","type":"t","subject":"m","time":null,"datacontenttype":null,"data":null}"#
        let parsed = try parse(body).get().events[0]
        #expect(parsed.timeMicros == nil && parsed.dataContentType == nil && parsed.data == nil)
        let bare = try parse(#"{"specversion":"1.0","id":"e","source":"s","type":"t","subject":"m"}"#).get().events[0]
        #expect(bare.timeMicros == nil && bare.data == nil)
    }

    @Test func dataIsKeptByteExact() throws {
        let data = #"{ "b" : [1, 2.50, -3e2, {"x": "\u00e9\n"}] ,"a":null,"deep":{"n":{"m":true}} }"#
        let body = #"{"specversion":"1.0","id":"e","source":"s","type":"t","subject":"m","data":"# + data + "  }"
        let parsed = try parse(body).get().events[0]
        #expect(parsed.data == Array(data.utf8))
    }

    @Test func escapesAreDecoded() throws {
        let body = #"{"specversion":"1.0","id":"line\nbreak \"quoted\" \\ \/","source":"caf\u00e9","type":"emoji \ud83d\ude00","subject":"tab\there","datacontenttype":"\u0041"}"#
        let parsed = try parse(body).get().events[0]
        #expect(parsed.id == "line\nbreak \"quoted\" \\ /")
        #expect(parsed.source == "café")
        #expect(parsed.type == "emoji 😀")
        #expect(parsed.subject == "tab\there")
        #expect(parsed.dataContentType == "A")
        // Escaped member names are recognised too.
        let escapedNames = #"{"spec\u0076ersion":"1.0","\u0069d":"e","source":"s","type":"t","subject":"m"}"#
        #expect(try parse(escapedNames).get().events[0].id == "e")
    }

    @Test func rawUnicodeIsKept() throws {
        let parsed = try parse(#"{"specversion":"1.0","id":"機械-7","source":"s","type":"t","subject":"Größe"}"#).get().events[0]
        #expect(parsed.id == "機械-7" && parsed.subject == "Größe")
    }

    @Test func extensionAttributesAreValidatedAndIgnored() throws {
        let parsed = try parse(event(extra: #","traceparent":"00-abc","partitionkey":{"a":[1,2]},"seq":12,"flag":false"#)).get()
        #expect(parsed.events.count == 1)
        let broken = issues(event(extra: #","seq":012"#))
        #expect(broken.count == 1 && broken[0].reason.contains("leading zeros"))
    }

    @Test func allIssuesOfAnEventAreListed() {
        let body = #"[{"specversion":"1.0","id":"ok","source":"s","type":"t","subject":"m"},{"specversion":"0.3","id":"","source":7,"time":"2026-02-30T00:00:00Z","data":[1,2]}]"#
        let found = issues(body)
        #expect(found == [
            EventIssue(index: 1, field: "specversion", reason: "must be \"1.0\""),
            EventIssue(index: 1, field: "id", reason: "must not be empty"),
            EventIssue(index: 1, field: "source", reason: "must be a string"),
            EventIssue(index: 1, field: "time", reason: "not an RFC 3339 timestamp (e.g. 2026-11-25T10:00:00Z)"),
            EventIssue(index: 1, field: "data", reason: "must be a JSON object"),
            EventIssue(index: 1, field: "type", reason: "required attribute is missing"),
            EventIssue(index: 1, field: "subject", reason: "required attribute is missing"),
        ])
    }

    @Test func issuesOfSeveralEventsAreAddressed() {
        let body = "[\(event("a")),{\"id\":\"x\"},\(event("c")),42]"
        let found = issues(body)
        #expect(found.map(\.index) == [1, 1, 1, 1, 3])
        #expect(found.prefix(4).map(\.field) == ["source", "specversion", "type", "subject"])
        #expect(found[4] == EventIssue(index: 3, field: nil, reason: "event must be a JSON object"))
    }

    @Test func requiredAttributesMustBeStringsWithinLimits() {
        let long = String(repeating: "x", count: 1025)
        let found = issues(#"{"specversion":"1.0","id":"\#(long)","source":null,"type":["t"],"subject":"m"}"#)
        #expect(found == [
            EventIssue(index: 0, field: "id", reason: "must be at most 1024 bytes"),
            EventIssue(index: 0, field: "source", reason: "must be a string"),
            EventIssue(index: 0, field: "type", reason: "must be a string"),
        ])
        // The limit counts decoded UTF-8 bytes: é is two bytes.
        #expect(issues(#"{"specversion":"1.0","id":"\u00e9\u00e9","source":"s","type":"t","subject":"m"}"#, maxAttributeBytes: 3).map(\.field) == ["id"])
        #expect(issues(#"{"specversion":"1.0","id":"\u00e9","source":"s","type":"t","subject":"m"}"#, maxAttributeBytes: 2).isEmpty)
        #expect(issues(#"{"specversion":1.0,"id":"e","source":"s","type":"t","subject":"m"}"#) == [
            EventIssue(index: 0, field: "specversion", reason: "must be \"1.0\""),
        ])
    }

    @Test func duplicateMembersAreIssues() {
        let found = issues(#"{"specversion":"1.0","id":"a","source":"s","type":"t","subject":"m","id":"b","ext":1,"ext":2,"\u0065xt":3}"#)
        #expect(found == [
            EventIssue(index: 0, field: "id", reason: "duplicate member name"),
            EventIssue(index: 0, field: "ext", reason: "duplicate member name"),
            EventIssue(index: 0, field: "ext", reason: "duplicate member name"),
        ])
        // Many extension members switch duplicate detection to a set; it must still find them.
        let many = (0..<40).map { #","x\#($0)":\#($0)"# }.joined()
        #expect(issues(event(extra: many + #","x7":0"#)) == [EventIssue(index: 0, field: "x7", reason: "duplicate member name")])
        #expect(issues(event(extra: many)).isEmpty)
    }

    @Test func binaryDataIsRejectedExplicitly() {
        #expect(issues(event(extra: #","data_base64":"AAEC""#)).map(\.field) == ["data_base64"])
    }

    @Test func maxEventsIsEnforcedEarly() {
        let three = "[\(event("a")),\(event("b")),\(event("c"))]"
        #expect((try? parse(three, maxEvents: 3).get())?.events.count == 3)
        let found = issues(three, maxEvents: 2)
        #expect(found.count == 1)
        #expect(found[0].index == nil && found[0].field == nil)
        #expect(found[0].reason.contains("events per batch (maxEvents)"))
        // Detected before the rest is read: the garbage after the third element is never seen.
        let truncated = "[\(event("a")),\(event("b")),\(event("c")), this is not JSON"
        #expect(issues(truncated, maxEvents: 2)[0].reason.contains("maxEvents"))
        #expect(issues(event(), maxEvents: 0)[0].reason.contains("maxEvents"))
    }

    @Test func bodyMustBeObjectOrArray() {
        for body in ["42", "\"event\"", "null", "true", "", "   "] {
            let found = issues(body)
            #expect(found.count == 1 && found[0].index == nil && found[0].field == nil, "\(body)")
        }
    }

    @Test(arguments: [
        (#"{"specversion":"1.0","id":"e",}"#, 0),                // trailing comma in object
        ("[\(event("a")),]", 1),                                 // trailing comma in array
        (#"{"id":"a\qb"}"#, 0),                                 // bad escape
        (#"{"id":"a\u12"}"#, 0),                                // short \u escape
        ("{\"id\":\"a\u{01}b\"}", 0),                            // unescaped control character
        ("{\"id\":\"a\nb\"}", 0),                                // raw newline in a string
        (#"{"id":"a","data":{"n":01}}"#, 0),                    // leading zero
        (#"{"id":"a","data":{"n":1.}}"#, 0),                    // digit required after '.'
        (#"{"id":"a","data":{"n":-}}"#, 0),
        (#"{"id":"a","data":{"n":NaN}}"#, 0),
        (#"{"id":"a","data":{"n":tru}}"#, 0),
        (#"{"id":"a" "source":"s"}"#, 0),                        // missing comma
        (#"{"id" "a"}"#, 0),                                     // missing colon
        (#"{id:"a"}"#, 0),                                       // unquoted name
        (#"{"id":'a'}"#, 0),                                     // single quotes
        (#"{"id":"\ud83d"}"#, 0),                                // lone surrogate in an envelope string
        (#"{"id":"a""#, 0),                                     // unterminated
        ("[\(event("a")),\(event("b"))", 1),                     // unterminated array
    ])
    func syntaxErrorsAreOneIssueWithOffset(body: String, index: Int) {
        let found = issues(body)
        #expect(found.count == 1, "\(body)")
        #expect(found.first?.index == index, "\(body)")
        #expect(found.first?.reason.contains("byte offset") == true, "\(body)")
    }

    @Test func syntaxErrorOffsetPointsAtTheProblem() {
        let found = issues(#"{"id":"a",}"#)
        #expect(found == [EventIssue(index: 0, field: nil, reason: "invalid JSON at byte offset 10: expected a member name string, found '}'")])
        let trailing = issues("\(event()) x")
        #expect(trailing.count == 1 && trailing[0].index == nil && trailing[0].reason.contains("after the JSON value"))
    }

    @Test func syntaxErrorReplacesEarlierIssues() {
        let found = issues("[{\"id\":\"\"},{\"id\":1,}]")
        #expect(found.count == 1 && found[0].index == 1)
    }

    /// Strings are scanned eight bytes at a time: put escapes and control characters at every
    /// position relative to the word boundary and check each is found exactly.
    @Test func specialBytesAtEveryOffset() throws {
        for length in 0..<24 {
            for position in 0...length {
                let plain = String(repeating: "x", count: length)
                let prefixText = String(plain.prefix(position)), suffixText = String(plain.dropFirst(position))
                let body = #"{"specversion":"1.0","id":"\#(prefixText)\"é\\\#(suffixText)","source":"s","type":"t","subject":"m"}"#
                #expect(try parse(body).get().events[0].id == prefixText + "\"é\\" + suffixText)
                let control = #"{"id":"\#(prefixText)"# + "\u{1F}" + #"\#(suffixText)"}"#
                let offset = 7 + position
                #expect(issues(control).first?.reason.hasPrefix("invalid JSON at byte offset \(offset): unescaped control") == true)
            }
        }
    }

    @Test func depthLimit() {
        func nested(_ levels: Int) -> String {
            String(repeating: "[", count: levels) + String(repeating: "]", count: levels)
        }
        // The event object is level 1 and `data` level 2, so data may hold 62 more levels.
        let fits = event(extra: #","data":{"a":"# + nested(62) + "}")
        #expect(issues(fits).isEmpty)
        let tooDeep = event(extra: #","data":{"a":"# + nested(63) + "}")
        let found = issues(tooDeep)
        #expect(found.count == 1 && found[0].reason.contains("deeper than 64"))
        // Inside a batch array, everything is one level deeper.
        #expect(!issues("[" + fits + "]").isEmpty)
        // Deep nesting in an extension attribute is caught as well.
        #expect(issues(event(extra: #","ext":"# + nested(10_000))).first?.reason.contains("deeper than 64") == true)
    }

    @Test func tooManyIssuesAreCapped() {
        let bad = Array(repeating: "{}", count: 1000).joined(separator: ",")
        let found = issues("[" + bad + "]")
        #expect(found.count == EventBatchParser.maxIssues + 1)
        #expect(found.last?.index == nil && found.last?.reason.contains("too many issues") == true)
    }

    @Test func issuesEncodeAsJSON() throws {
        let issue = EventIssue(index: 3, field: "time", reason: "not an RFC 3339 timestamp")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let encoded = String(decoding: try encoder.encode(issue), as: UTF8.self)
        #expect(encoded.contains("\"index\":3") && encoded.contains("\"field\":\"time\""))
    }

    @Test func bulkParseIsLinearAndCorrect() throws {
        let body = "[" + (0..<5000).map { event("id-\($0)", extra: #","data":{"duration_ms":\#($0),"region":"eu"}"#) }.joined(separator: ",") + "]"
        let result = try parse(body, maxEvents: 5000).get()
        #expect(result.events.count == 5000)
        #expect(result.events[4999].id == "id-4999")
        #expect(result.events[4999].data == Array(#"{"duration_ms":4999,"region":"eu"}"#.utf8))
    }
}

