import Testing
@testable import HourmeterCore

private func path(_ text: String) throws -> JSONPath { try JSONPath(parsing: text) }

private func value(_ pathText: String, in json: String) throws -> JSONValue {
    try path(pathText).evaluate(in: Array(json.utf8))
}

@Suite struct JSONPathTests {
    @Test func parsesSingularPaths() throws {
        #expect(try path("$").segments == [])
        #expect(try path("$.a.b").segments == [.key("a"), .key("b")])
        #expect(try path("$.duration_ms").segments == [.key("duration_ms")])
        #expect(try path("$['a-b']").segments == [.key("a-b")])
        #expect(try path(#"$["a b"]"#).segments == [.key("a b")])
        #expect(try path("$.a[0]").segments == [.key("a"), .index(0)])
        #expect(try path("$.a[0].b").segments == [.key("a"), .index(0), .key("b")])
        #expect(try path("$.a[12][3]").segments == [.key("a"), .index(12), .index(3)])
        #expect(try path("$[ 'x' ]").segments == [.key("x")])
        #expect(try path("$.größe").segments == [.key("größe")])
        #expect(try path("$._a1").segments == [.key("_a1")])
    }

    @Test func quotedNamesDecodeEscapes() throws {
        #expect(try path(#"$['it\'s']"#).segments == [.key("it's")])
        #expect(try path(#"$["say \"hi\""]"#).segments == [.key(#"say "hi""#)])
        #expect(try path(#"$['a\\b']"#).segments == [.key(#"a\b"#)])
        #expect(try path(#"$['caf\u00e9']"#).segments == [.key("café")])
        #expect(try path(#"$['\ud83d\ude00']"#).segments == [.key("😀")])
        #expect(try path(#"$['tab\there']"#).segments == [.key("tab\there")])
        #expect(try path(#"$["it's"]"#).segments == [.key("it's")])
        #expect(try path("$['a.b']").segments == [.key("a.b")])
    }

    @Test(arguments: [
        "", "a.b", ".a", "$.", "$..a", "$.*", "$[*]", "$[-1]", "$[?(@.a)]", "$[0:2]", "$[1,2]", "$['a','b']",
        "$.a[", "$.a[0", "$['a'", "$['a]", "$.1a", "$.a-b", "$ .a", "$.a.", "$[01]", "$['\\x']", "$['\\ud83d']",
        "$[99999999999999999999999]", "$a", "$['a\u{01}']",
    ])
    func rejectsEverythingElse(text: String) {
        #expect(throws: JSONPathError.self) { try JSONPath(parsing: text) }
    }

    @Test func errorsExplainWhy() {
        func reason(_ text: String) -> String {
            do { _ = try JSONPath(parsing: text); return "" } catch { return error.reason }
        }
        #expect(reason("").contains("empty"))
        #expect(reason("$[*]").contains("wildcard"))
        #expect(reason("$.*").contains("wildcard"))
        #expect(reason("$[?(@.a)]").contains("filter"))
        #expect(reason("$[-1]").contains("negative"))
        #expect(reason("$..a").contains("recursive descent"))
        #expect(reason("x").contains("must start with $"))
    }

    @Test func textAndEquality() throws {
        let a = try path("$.a[0]")
        #expect(a.text == "$.a[0]" && a.description == "$.a[0]")
        #expect(a == (try path("$.a[0]")))
        #expect(Set([a, try path("$.a[0]"), try path("$.b")]).count == 2)
    }

    @Test func evaluatesScalars() throws {
        let json = #"{"n":1.50,"big":1e3,"neg":-0.25,"s":"text","t":true,"f":false,"z":null,"o":{},"a":[]}"#
        #expect(try value("$.n", in: json) == .number(ExactDecimal("1.5")!))
        #expect(try value("$.big", in: json) == .number(ExactDecimal(1000)))
        #expect(try value("$.neg", in: json) == .number(ExactDecimal("-0.25")!))
        #expect(try value("$.s", in: json) == .string("text"))
        #expect(try value("$.t", in: json) == .bool(true))
        #expect(try value("$.f", in: json) == .bool(false))
        #expect(try value("$.z", in: json) == .null)
        #expect(try value("$.o", in: json) == .object)
        #expect(try value("$.a", in: json) == .array)
        #expect(try value("$", in: json) == .object)
        #expect(try value("$.nope", in: json) == .missing)
    }

    @Test func evaluatesNestedObjectsAndArrays() throws {
        let json = #"""
        { "skip": {"deep": [1, {"x": "y"}, "}]"], "n": "\"\\"},
          "readings": [ {"v": 1}, {"v": 2.5, "unit": "kWh"}, [10, 20] ],
          "meta": {"site": {"id": "plant-3"}} }
        """#
        #expect(try value("$.readings[1].v", in: json) == .number(ExactDecimal("2.5")!))
        #expect(try value("$.readings[1].unit", in: json) == .string("kWh"))
        #expect(try value("$.readings[0]", in: json) == .object)
        #expect(try value("$.readings[2][1]", in: json) == .number(ExactDecimal(20)))
        #expect(try value("$.readings[3]", in: json) == .missing)
        #expect(try value("$.readings[2][2]", in: json) == .missing)
        #expect(try value("$.meta.site.id", in: json) == .string("plant-3"))
        #expect(try value("$['meta']['site']['id']", in: json) == .string("plant-3"))
        #expect(try value("$.skip.n", in: json) == .string("\"\\"))
        // Type mismatches are missing, not errors.
        #expect(try value("$.readings.v", in: json) == .missing)
        #expect(try value("$.meta[0]", in: json) == .missing)
        #expect(try value("$.meta.site.id.more", in: json) == .missing)
    }

    @Test func escapedKeysInDataAndInPaths() throws {
        let json = #"{"a-b":1,"a b":2,"caf\u00e9":3,"quo\"te":4,"line\nfeed":5,"😀":6}"#
        #expect(try value("$['a-b']", in: json) == .number(ExactDecimal(1)))
        #expect(try value(#"$["a b"]"#, in: json) == .number(ExactDecimal(2)))
        #expect(try value("$.café", in: json) == .number(ExactDecimal(3)))
        #expect(try value(#"$['caf\u00e9']"#, in: json) == .number(ExactDecimal(3)))
        #expect(try value(#"$['quo"te']"#, in: json) == .number(ExactDecimal(4)))
        #expect(try value(#"$['line\nfeed']"#, in: json) == .number(ExactDecimal(5)))
        #expect(try value("$.😀", in: json) == .number(ExactDecimal(6)))
        #expect(try value("$.cafe", in: json) == .missing)
    }

    @Test func stringValuesAreDecoded() throws {
        let json = #"{"s":"caf\u00e9 \ud83d\ude00 \t\/"}"#
        #expect(try value("$.s", in: json) == .string("café 😀 \t/"))
    }

    @Test func inexactNumbersComeBackAsTheirText() throws {
        let json = #"{"huge":1e400,"long":123456789012345678901234567890123456789012,"tiny":1e-50}"#
        #expect(try value("$.huge", in: json) == .string("1e400"))
        #expect(try value("$.long", in: json) == .string("123456789012345678901234567890123456789012"))
        #expect(try value("$.tiny", in: json) == .string("1e-50"))
    }

    @Test func firstDuplicateWins() throws {
        #expect(try value("$.a", in: #"{"a":1,"a":2}"#) == .number(ExactDecimal(1)))
    }

    @Test func malformedInputIsMissingNotACrash() throws {
        #expect(try value("$.a", in: "") == .missing)
        #expect(try value("$.a", in: "{") == .missing)
        #expect(try value("$.b", in: #"{"a":}"#) == .missing)
        #expect(try value("$.a", in: #"{"a":tru}"#) == .missing)
        #expect(try value("$[5]", in: "[1,2") == .missing)
        #expect(try value("$.a", in: #"{"a":"unterminated}"#) == .missing)
    }

    @Test func evaluatesOverRawBufferWithLeadingWhitespace() throws {
        let bytes = Array("  \n{\"v\": 7}".utf8)
        let result = try bytes.withUnsafeBytes { raw in try path("$.v").evaluate(in: raw) }
        #expect(result == .number(ExactDecimal(7)))
    }
}
