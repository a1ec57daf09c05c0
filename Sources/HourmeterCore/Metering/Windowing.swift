import Foundation

/// Window sizes of a meter query, as OpenMeter names them.
public enum WindowSize: String, Sendable, Codable, CaseIterable {
    case minute = "MINUTE"
    case hour = "HOUR"
    case day = "DAY"
    case month = "MONTH"
}

public struct WindowingError: Error, Sendable, Equatable {
    public var field: String
    public var reason: String
}

/// The windows of a query: half-open `[start, end)` in seconds since the epoch, ascending,
/// clipped to the query range. Day and month windows follow the wall clock of the time zone,
/// so a day across a DST change is 23 or 25 hours long.
public struct WindowPlan: Sendable, Equatable {
    public var boundaries: [Int64]  // n+1 boundaries for n windows

    public var count: Int { max(0, boundaries.count - 1) }
    public func window(_ index: Int) -> (start: Int64, end: Int64) { (boundaries[index], boundaries[index + 1]) }

    /// The window holding `instant`, by binary search; nil outside the range.
    public func index(of instant: Int64) -> Int? {
        guard let first = boundaries.first, let last = boundaries.last, instant >= first, instant < last else { return nil }
        var low = 0, high = boundaries.count - 1  // boundaries[low] <= instant < boundaries[high]
        while high - low > 1 {
            let mid = (low + high) / 2
            if boundaries[mid] <= instant { low = mid } else { high = mid }
        }
        return low
    }

    /// True when every boundary falls on a UTC hour, so hour rollups answer the query exactly.
    public var isHourAligned: Bool { boundaries.allSatisfy { $0 % 3600 == 0 } }

    /// - Parameters:
    ///   - from, to: range in seconds, `from < to`.
    ///   - size: nil for one window over the whole range.
    ///   - maxWindows: the query's window limit; more is an error naming it.
    public init(from: Int64, to: Int64, size: WindowSize?, timeZone: TimeZone, maxWindows: Int) throws(WindowingError) {
        guard from < to else { throw WindowingError(field: "to", reason: "must be after from") }
        guard let size else {
            boundaries = [from, to]
            return
        }
        var cuts: [Int64] = [from]
        switch size {
        case .minute:
            let count = (to - from + 59) / 60
            guard count <= maxWindows else { throw Self.tooMany(maxWindows) }
            var next = (floorDiv(from, 60) + 1) * 60
            while next < to { cuts.append(next); next += 60 }
        case .hour where Self.hasWholeHourOffsets(timeZone, from: from, to: to):
            // Local hours are UTC hours: plain arithmetic (Calendar costs ~0.1 ms a step here).
            let count = (to - from + 3599) / 3600
            guard count <= maxWindows else { throw Self.tooMany(maxWindows) }
            var next = (floorDiv(from, 3600) + 1) * 3600
            while next < to { cuts.append(next); next += 3600 }
        case .hour, .day, .month:
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            let component: Calendar.Component = size == .hour ? .hour : size == .day ? .day : .month
            let start = Date(timeIntervalSince1970: TimeInterval(from))
            guard let first = calendar.dateInterval(of: component, for: start) else {
                throw WindowingError(field: "windowTimeZone", reason: "cannot compute windows in this time zone")
            }
            var nextDate = first.end
            while Int64(nextDate.timeIntervalSince1970) < to {
                cuts.append(Int64(nextDate.timeIntervalSince1970))
                guard cuts.count <= maxWindows else { throw Self.tooMany(maxWindows) }
                // Step from the start of the window, not by adding to the end: DST-safe.
                guard let interval = calendar.dateInterval(of: component, for: nextDate) else { break }
                nextDate = interval.end
            }
        }
        cuts.append(to)
        guard cuts.count - 1 <= maxWindows else { throw Self.tooMany(maxWindows) }
        boundaries = cuts
    }

    /// True when the zone's offset from UTC is a whole number of hours throughout `[from, to)`.
    static func hasWholeHourOffsets(_ zone: TimeZone, from: Int64, to: Int64) -> Bool {
        var instant = Date(timeIntervalSince1970: TimeInterval(from))
        let end = Date(timeIntervalSince1970: TimeInterval(to))
        for _ in 0..<1000 {
            guard zone.secondsFromGMT(for: instant) % 3600 == 0 else { return false }
            guard let next = zone.nextDaylightSavingTimeTransition(after: instant), next < end else { return true }
            instant = next
        }
        return false
    }

    static func tooMany(_ limit: Int) -> WindowingError {
        WindowingError(field: "windowSize", reason: "the query would return more than \(limit) windows (limit maxQueryWindows); use a larger window or a shorter range")
    }
}
