import Testing
@testable import HourmeterCore

@Suite struct RFC3339Tests {
    @Test(arguments: [
        ("2026-11-25T10:00:00Z", Int64(1_795_600_800_000_000)),
        ("2026-11-25t10:00:00z", 1_795_600_800_000_000),
        ("2026-11-25T15:30:00+05:30", 1_795_600_800_000_000),
        ("2026-11-25T00:00:00-08:00", 1_795_593_600_000_000),
        ("2026-11-25T10:00:00-00:00", 1_795_600_800_000_000),
        ("2026-11-25T10:00:00.123456Z", 1_795_600_800_123_456),
        ("2026-11-25T10:00:00.123456789Z", 1_795_600_800_123_456),  // truncated, not rounded
        ("2026-11-25T10:00:00.1Z", 1_795_600_800_100_000),
        ("2024-02-29T23:59:59.999999Z", 1_709_251_199_999_999),
        ("2000-02-29T12:00:00Z", 951_825_600_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.5Z", -500_000),
        ("1900-03-01T00:00:00Z", -2_203_891_200_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000_000),
        ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
    ])
    func parses(text: String, micros: Int64) {
        #expect(RFC3339.parseMicroseconds(text) == micros)
    }

    @Test(arguments: [
        "", "2026-11-25", "2026-11-25T10:00:00", "2026-11-25T10:00Z", "2026-11-25 10:00:00Z",
        "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z",
        "2026-11-25T24:00:00Z", "2026-11-25T23:60:00Z", "2026-11-25T23:59:60Z",
        "2026-11-25T10:00:00.Z", "2026-11-25T10:00:00.1234567890Z", "2026-11-25T10:00:00+0530",
        "2026-11-25T10:00:00+24:00", "2026-11-25T10:00:00+05:60", "2026-11-25T10:00:00ZZ", "2026-11-25T10:00:00Z ",
        " 2026-11-25T10:00:00Z", "2026/11/25T10:00:00Z", "26-11-25T10:00:00Z", "2026-1-25T10:00:00Z",
        "+2026-11-25T10:00:00Z", "2026-11-25T10:00:00+05:30:00", "2026-11-25T10:00:00UTC",
    ])
    func rejects(text: String) {
        #expect(RFC3339.parseMicroseconds(text) == nil)
    }

    @Test func formats() {
        #expect(RFC3339.format(microseconds: 1_795_600_800_000_000) == "2026-11-25T10:00:00Z")
        #expect(RFC3339.format(microseconds: 1_795_600_800_123_456) == "2026-11-25T10:00:00.123456Z")
        #expect(RFC3339.format(microseconds: 1_795_600_800_120_000) == "2026-11-25T10:00:00.120Z")
        #expect(RFC3339.format(microseconds: 1_795_600_800_000_100) == "2026-11-25T10:00:00.000100Z")
        #expect(RFC3339.format(microseconds: 0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(microseconds: -500_000) == "1969-12-31T23:59:59.500Z")
        #expect(RFC3339.format(microseconds: -1) == "1969-12-31T23:59:59.999999Z")
        #expect(RFC3339.format(microseconds: 1_709_251_199_999_999) == "2024-02-29T23:59:59.999999Z")
        #expect(RFC3339.format(microseconds: -62_135_596_800_000_000) == "0001-01-01T00:00:00Z")
    }

    @Test func extremeInstantsFormatWithoutTrapping() {
        #expect(RFC3339.format(microseconds: .max).hasSuffix("Z"))
        #expect(RFC3339.format(microseconds: .min).hasPrefix("-"))
    }

    @Test func roundTripsAcrossCenturiesAndLeapDays() {
        // A step of about 28 days plus an odd number of µs across 1600–2400: every month, odd fractions.
        var micros: Int64 = -11_676_096_000_000_000  // 1600-01-01
        let end: Int64 = 13_569_465_600_000_000      // 2400-01-01
        var checked = 0
        while micros < end {
            let text = RFC3339.format(microseconds: micros)
            #expect(RFC3339.parseMicroseconds(text) == micros, "\(text)")
            micros += 25_200_000_013 * 97
            checked += 1
        }
        #expect(checked > 10_000)
    }

    @Test func civilArithmeticAgreesDayByDay() {
        var days = RFC3339.daysFromCivil(year: 1999, month: 1, day: 1)
        for year in 1999...2101 {
            for month in 1...12 {
                for day in 1...RFC3339.daysInMonth(year: year, month: month) {
                    #expect(RFC3339.daysFromCivil(year: year, month: month, day: day) == days)
                    let civil = RFC3339.civilFromDays(days)
                    #expect(civil.year == year && civil.month == month && civil.day == day)
                    days += 1
                }
            }
        }
        #expect(RFC3339.daysInMonth(year: 2000, month: 2) == 29)
        #expect(RFC3339.daysInMonth(year: 2100, month: 2) == 28)
        #expect(RFC3339.daysInMonth(year: 2028, month: 2) == 29)
    }

    @Test func parsesFromBytes() {
        let bytes = Array("2026-11-25T10:00:00Z".utf8)
        #expect(bytes.withUnsafeBytes { RFC3339.parseMicroseconds($0) } == 1_795_600_800_000_000)
    }
}
