/// RFC 3339 timestamps ⇄ microseconds since the Unix epoch (UTC).
///
/// Every event carries one, so this is on the ingest hot path: the civil-date arithmetic is
/// done here on bytes instead of through a `DateFormatter` (slow, locale- and
/// allocation-heavy). Microseconds in an `Int64` cover years 0000–9999 with room to spare.
public enum RFC3339 {
    static let microsecondsPerSecond: Int64 = 1_000_000
    static let microsecondsPerDay: Int64 = 86_400 * 1_000_000

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    ///
    /// `T`/`t` and `Z`/`z` in either case; the offset is required (a time without one is not
    /// an instant); the fraction has 1–9 digits and is truncated to microseconds. Rejects
    /// impossible dates (2026-02-30), hours > 23, minutes > 59, seconds > 59 (leap seconds
    /// cannot be represented in Unix time), offsets beyond 23:59, and any extra byte.
    public static func parseMicroseconds(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let count = bytes.count
        guard count >= 20 else { return nil }  // shortest: 2026-11-25T10:00:00Z

        @inline(__always) func digit(_ offset: Int) -> Int? {
            let value = bytes[offset] &- 0x30
            return value < 10 ? Int(value) : nil
        }
        @inline(__always) func twoDigits(_ offset: Int) -> Int? {
            guard let tens = digit(offset), let units = digit(offset + 1) else { return nil }
            return tens * 10 + units
        }

        guard let y0 = twoDigits(0), let y1 = twoDigits(2), bytes[4] == 0x2D,  // '-'
              let month = twoDigits(5), bytes[7] == 0x2D,
              let day = twoDigits(8), bytes[10] == 0x54 || bytes[10] == 0x74,  // 'T' / 't'
              let hour = twoDigits(11), bytes[13] == 0x3A,  // ':'
              let minute = twoDigits(14), bytes[16] == 0x3A,
              let second = twoDigits(17)
        else { return nil }
        let year = y0 * 100 + y1

        var index = 19
        var fractionMicros: Int64 = 0
        if bytes[index] == 0x2E {  // '.'
            index += 1
            let start = index
            while index < count, let value = digit(index) {
                if index - start < 6 { fractionMicros = fractionMicros * 10 + Int64(value) }
                index += 1
            }
            let digits = index - start
            guard digits >= 1, digits <= 9 else { return nil }
            for _ in Swift.min(digits, 6)..<6 { fractionMicros *= 10 }
        }

        guard index < count else { return nil }
        var offsetSeconds = 0
        switch bytes[index] {
        case 0x5A, 0x7A:  // 'Z' / 'z'
            index += 1
        case 0x2B, 0x2D:  // '+' / '-'
            guard index + 6 == count, let offsetHour = twoDigits(index + 1), bytes[index + 3] == 0x3A,
                  let offsetMinute = twoDigits(index + 4), offsetHour <= 23, offsetMinute <= 59
            else { return nil }
            offsetSeconds = (offsetHour * 60 + offsetMinute) * 60
            if bytes[index] == 0x2D { offsetSeconds = -offsetSeconds }
            index += 6
        default:
            return nil
        }
        guard index == count else { return nil }

        guard month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }

        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return seconds * microsecondsPerSecond + fractionMicros
    }

    public static func parseMicroseconds(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseMicroseconds(UnsafeRawBufferPointer($0)) }
    }

    /// UTC with `Z`. The fraction appears only when non-zero: 3 digits when the instant is a
    /// whole millisecond, otherwise 6 (`2026-11-25T10:00:00Z`, `…:00.120Z`, `…:00.123456Z`).
    /// Years outside 0000–9999 (beyond what RFC 3339 can express) print with as many digits
    /// as they need and a leading `-` when negative.
    public static func format(microseconds: Int64) -> String {
        var (days, micros) = microseconds.quotientAndRemainder(dividingBy: microsecondsPerDay)
        if micros < 0 {
            days -= 1
            micros += microsecondsPerDay
        }
        let (year, month, day) = civilFromDays(Int(days))
        let secondOfDay = Int(micros / microsecondsPerSecond)
        let fraction = Int(micros % microsecondsPerSecond)
        let hour = secondOfDay / 3600, minute = secondOfDay / 60 % 60, second = secondOfDay % 60

        guard year >= 0, year <= 9999 else {
            var text = String(year)
            text += formatted(month: month, day: day, hour: hour, minute: minute, second: second, fraction: fraction).dropFirst(4)
            return text
        }
        return formatted(year: year, month: month, day: day, hour: hour, minute: minute, second: second, fraction: fraction)
    }

    private static func formatted(year: Int = 0, month: Int, day: Int, hour: Int, minute: Int, second: Int, fraction: Int) -> String {
        let fractionDigits = fraction == 0 ? 0 : (fraction % 1000 == 0 ? 3 : 6)
        let length = 20 + (fractionDigits == 0 ? 0 : fractionDigits + 1)
        return String(unsafeUninitializedCapacity: length) { buffer in
            var index = 0
            @inline(__always) func put(_ byte: UInt8) {
                buffer[index] = byte
                index += 1
            }
            @inline(__always) func putDigits(_ value: Int, _ width: Int) {
                var divisor = 1
                for _ in 1..<width { divisor *= 10 }
                while divisor > 0 {
                    put(UInt8(truncatingIfNeeded: 0x30 + value / divisor % 10))
                    divisor /= 10
                }
            }
            putDigits(year, 4); put(0x2D); putDigits(month, 2); put(0x2D); putDigits(day, 2)
            put(0x54); putDigits(hour, 2); put(0x3A); putDigits(minute, 2); put(0x3A); putDigits(second, 2)
            if fractionDigits == 3 {
                put(0x2E); putDigits(fraction / 1000, 3)
            } else if fractionDigits == 6 {
                put(0x2E); putDigits(fraction, 6)
            }
            put(0x5A)
            return index
        }
    }

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date. Counts in 400-year eras that
    /// start on March 1st, so the leap day is the last day of its year and needs no branch.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400                                   // 0...399
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1  // 0...365, from March 1st
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear  // 0...146096
        return era * 146_097 + dayOfEra - 719_468  // 719468 = days from 0000-03-01 to 1970-01-01
    }

    /// The inverse of `daysFromCivil`.
    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153  // 0 = March
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
