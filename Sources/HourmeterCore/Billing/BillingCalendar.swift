import Foundation

/// A billing period: half-open `[start, end)` in microseconds since the epoch (UTC).
public struct BillingPeriod: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var startMicros: Int64
    public var endMicros: Int64

    public init(startMicros: Int64, endMicros: Int64) {
        self.startMicros = startMicros
        self.endMicros = endMicros
    }

    public static func < (a: BillingPeriod, b: BillingPeriod) -> Bool { a.startMicros < b.startMicros }

    public var description: String {
        "\(RFC3339.format(microseconds: startMicros))–\(RFC3339.format(microseconds: endMicros))"
    }
}

/// Where billing periods fall: every `interval` from the anchor, on the customer's wall clock,
/// so a monthly period starts at local midnight on the anchor's day whatever DST does, and an
/// anchor on the 31st bills from the last day of shorter months (always counted from the
/// anchor, so it never drifts to the 28th).
public struct BillingCalendar: Sendable {
    public let interval: BillingInterval
    public let anchorMicros: Int64
    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(interval: BillingInterval, anchorMicros: Int64, timeZone: TimeZone) {
        self.interval = interval
        self.anchorMicros = anchorMicros
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    private var months: Int {
        switch interval {
        case .month: 1
        case .quarter: 3
        case .year: 12
        }
    }

    /// The `index`-th boundary from the anchor (0 is the anchor; negative goes back).
    public func boundary(_ index: Int) -> Int64 {
        let anchor = Date(timeIntervalSince1970: Double(anchorMicros) / 1_000_000)
        guard let date = calendar.date(byAdding: .month, value: index * months, to: anchor) else { return anchorMicros }
        return Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// The full period holding `micros`.
    public func period(containing micros: Int64) -> BillingPeriod {
        // Estimate the index from an average month, then correct by stepping.
        let averageMonth: Int64 = 2_629_746_000_000
        var index = Int((micros - anchorMicros) / (averageMonth * Int64(months)))
        while boundary(index) > micros { index -= 1 }
        while boundary(index + 1) <= micros { index += 1 }
        return BillingPeriod(startMicros: boundary(index), endMicros: boundary(index + 1))
    }

    /// The periods a subscription running from `startMicros` has completed by `untilMicros`
    /// (their end ≤ `untilMicros`), the first cut to start at the subscription's start and the
    /// last to `endMicros` when the subscription ended.
    public func closedPeriods(startMicros: Int64, endMicros: Int64? = nil, untilMicros: Int64, limit: Int = 1_000) -> [BillingPeriod] {
        var periods: [BillingPeriod] = []
        var cursor = startMicros
        while periods.count < limit {
            if let endMicros, cursor >= endMicros { break }
            var period = self.period(containing: cursor)
            period.startMicros = cursor
            if let endMicros, endMicros < period.endMicros { period.endMicros = endMicros }
            guard period.endMicros <= untilMicros else { break }
            periods.append(period)
            cursor = period.endMicros
        }
        return periods
    }

    /// Local calendar days from `fromMicros` to `toMicros` (each end at its local day), for
    /// proration by the day: a period of March has 31 days even across the DST change.
    public func days(fromMicros: Int64, toMicros: Int64) -> Int {
        let from = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(fromMicros) / 1_000_000))
        let to = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(toMicros) / 1_000_000))
        var days = calendar.dateComponents([.day], from: from, to: to).day ?? 0
        // A period ending mid-day (rare: a cancellation at once) counts its last day too.
        if Int64((to.timeIntervalSince1970 * 1_000_000).rounded()) < toMicros { days += 1 }
        return max(0, days)
    }

    /// The share of its full period that `period` covers, by local days ("10/31").
    public func proration(of period: BillingPeriod) -> Proration {
        let full = self.period(containing: period.startMicros)
        let served = days(fromMicros: period.startMicros, toMicros: period.endMicros)
        let total = days(fromMicros: full.startMicros, toMicros: full.endMicros)
        guard total > 0, served < total else { return .full }
        return Proration(numerator: ExactDecimal(served), denominator: ExactDecimal(total)) ?? .full
    }
}
