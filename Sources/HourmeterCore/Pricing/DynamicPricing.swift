import Foundation

/// The device states a plan may price differently. A meter reports a machine's state in its
/// `state` group; a multiplier for a state outside this list is a typo in a plan, so it is
/// refused rather than never matching.
public enum DeviceState {
    public static let known: [String] = ["off", "standby", "idle", "running", "peak", "fault", "maintenance"]
}

/// A recurring time window with its own price multiplier, e.g. weekdays 08:00–20:00 at 1.2,
/// read in the subscription's time zone. Half-open: `from` is inside, `to` is not.
public struct TimeOfUseWindow: Sendable, Equatable {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    public var days: Set<Int>
    /// Minutes after local midnight: 0…1439 for `from`, 1…1440 for `to` ("24:00").
    public var fromMinute: Int
    public var toMinute: Int
    public var multiplier: ExactDecimal

    public init(days: Set<Int>, fromMinute: Int, toMinute: Int, multiplier: ExactDecimal) {
        self.days = days
        self.fromMinute = fromMinute
        self.toMinute = toMinute
        self.multiplier = multiplier
    }

    public static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    func contains(isoWeekday: Int, minuteOfDay: Int) -> Bool {
        days.contains(isoWeekday) && minuteOfDay >= fromMinute && minuteOfDay < toMinute
    }

    /// "mon–fri 08:00–20:00", for decompositions.
    public var label: String {
        let sorted = days.sorted()
        let names: String
        if sorted.count > 2, sorted.last! - sorted.first! == sorted.count - 1 {
            names = "\(Self.dayNames[sorted.first! - 1])–\(Self.dayNames[sorted.last! - 1])"
        } else {
            names = sorted.map { Self.dayNames[$0 - 1] }.joined(separator: ",")
        }
        return "\(names) \(Self.clock(fromMinute))–\(Self.clock(toMinute))"
    }

    static func clock(_ minute: Int) -> String {
        let hours = minute / 60, minutes = minute % 60
        return (hours < 10 ? "0" : "") + "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes)"
    }

    /// "08:00" → 480; "24:00" only as an end. Nil for anything else.
    static func minute(_ text: String, isEnd: Bool) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let hours = Int(parts[0]), let minutes = Int(parts[1]), minutes < 60 else { return nil }
        let total = hours * 60 + minutes
        return total < 1440 || (isEnd && total == 1440) ? total : nil
    }
}

/// A discount on the units past a cumulative volume within the period: units above
/// `fromValue` (up to the next discount's `fromValue`) cost `percent` % less. Marginal, like a
/// graduated tier, so crossing a threshold never lowers the bill for what came before.
public struct VolumeDiscount: Sendable, Equatable {
    public var fromValue: ExactDecimal
    public var percent: ExactDecimal

    public init(fromValue: ExactDecimal, percent: ExactDecimal) {
        self.fromValue = fromValue
        self.percent = percent
    }
}

/// A named extra charge on a line, such as a rush fee: a fixed amount, or a percentage of the
/// line after discounts. `always` ones apply every period; `on_request` ones only when the
/// usage names them (a rush order, a weekend call-out).
public struct Surcharge: Sendable, Equatable {
    public enum Price: Sendable, Equatable {
        case amount(ExactDecimal)
        case percent(ExactDecimal)
    }

    public enum Application: String, Sendable, Equatable {
        case always
        case onRequest = "on_request"
    }

    public var key: String
    public var name: String?
    public var price: Price
    public var application: Application

    public init(key: String, name: String? = nil, price: Price, application: Application) {
        self.key = key
        self.name = name
        self.price = price
        self.application = application
    }
}

/// What a charge adds to its model: multipliers on the quantity by device state and time of
/// day, volume discounts and surcharges on the amount. Empty for a plain charge.
public struct PriceAdjustments: Sendable, Equatable {
    public var stateMultipliers: [String: ExactDecimal]
    public var timeOfUse: [TimeOfUseWindow]
    public var volumeDiscounts: [VolumeDiscount]
    public var surcharges: [Surcharge]

    public init(stateMultipliers: [String: ExactDecimal] = [:], timeOfUse: [TimeOfUseWindow] = [],
                volumeDiscounts: [VolumeDiscount] = [], surcharges: [Surcharge] = []) {
        self.stateMultipliers = stateMultipliers
        self.timeOfUse = timeOfUse
        self.volumeDiscounts = volumeDiscounts
        self.surcharges = surcharges
    }

    /// Whether quantities are weighted before pricing.
    public var weighsQuantity: Bool { !stateMultipliers.isEmpty || !timeOfUse.isEmpty }

    /// The first time-of-use window holding `micros` in `timeZone`, by index.
    func timeOfUseWindow(atMicros micros: Int64, calendar: Calendar) -> Int? {
        guard !timeOfUse.isEmpty else { return nil }
        let date = Date(timeIntervalSince1970: Double(micros / 1_000_000))
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        // Calendar weekdays are 1 = Sunday … 7 = Saturday; ISO is 1 = Monday … 7 = Sunday.
        let isoWeekday = ((parts.weekday ?? 1) + 5) % 7 + 1
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return timeOfUse.firstIndex { $0.contains(isoWeekday: isoWeekday, minuteOfDay: minute) }
    }
}
