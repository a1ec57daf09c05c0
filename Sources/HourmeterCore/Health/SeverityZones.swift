/// Vibration severity zones after ISO 10816-3: broadband RMS velocity (mm/s) against the A/B,
/// B/C and C/D boundaries of the machine's group and foundation. A: newly commissioned;
/// B: unrestricted long-term operation; C: restricted, plan maintenance; D: damage likely.
public enum SeverityZone: String, Sendable, Comparable, CaseIterable {
    case a = "A", b = "B", c = "C", d = "D"

    public static func < (x: SeverityZone, y: SeverityZone) -> Bool { x.rawValue < y.rawValue }
}

public struct ZoneBoundaries: Sendable, Equatable {
    public var ab: Double
    public var bc: Double
    public var cd: Double

    public init(ab: Double, bc: Double, cd: Double) {
        self.ab = ab
        self.bc = bc
        self.cd = cd
    }

    public enum Foundation: String, Sendable { case rigid, flexible }

    /// The standard's table: group 1 (large machines, 300 kW–50 MW) and group 2 (medium,
    /// 15–300 kW), each on a rigid or flexible foundation. Device models may override it.
    public static func iso10816(group: Int, foundation: Foundation) -> ZoneBoundaries? {
        switch (group, foundation) {
        case (1, .rigid): ZoneBoundaries(ab: 2.3, bc: 4.5, cd: 7.1)
        case (1, .flexible): ZoneBoundaries(ab: 3.5, bc: 7.1, cd: 11.0)
        case (2, .rigid): ZoneBoundaries(ab: 1.4, bc: 2.8, cd: 4.5)
        case (2, .flexible): ZoneBoundaries(ab: 2.3, bc: 4.5, cd: 7.1)
        default: nil
        }
    }

    /// The zone of an RMS velocity. A boundary value belongs to the worse zone: the standard's
    /// limits are where a zone ends, so exactly 4.5 mm/s on group 1 rigid is zone C.
    public func zone(ofVelocityRMS velocity: Double) -> SeverityZone {
        if velocity >= cd { return .d }
        if velocity >= bc { return .c }
        if velocity >= ab { return .b }
        return .a
    }
}

/// A health index from 0 (failed) to 100 (as new), fusing three normalized scores with fixed,
/// documented weights: vibration velocity against the zone boundaries (0.6), impulsiveness by
/// kurtosis (0.25; bearing damage raises it above a sine's or noise's 3), and temperature
/// against its limits (0.15). Each score is 1 when healthy and falls linearly to 0.
public enum HealthIndex {
    public static let velocityWeight = 0.6, kurtosisWeight = 0.25, temperatureWeight = 0.15

    public static func compute(velocityRMS: Double, kurtosis: Double, temperature: Double, boundaries: ZoneBoundaries,
                               normalTemperature: Double, maximumTemperature: Double) -> Double {
        // Velocity: 1 up to the A/B boundary, 0 at the C/D boundary.
        let velocityScore = clamp(1 - (velocityRMS - boundaries.ab) / (boundaries.cd - boundaries.ab))
        // Kurtosis: 1 up to 3.5, 0 at 8 (strongly impulsive).
        let kurtosisScore = clamp(1 - (kurtosis - 3.5) / (8 - 3.5))
        let temperatureScore = maximumTemperature > normalTemperature
            ? clamp(1 - (temperature - normalTemperature) / (maximumTemperature - normalTemperature)) : 1
        let index = 100 * (velocityWeight * velocityScore + kurtosisWeight * kurtosisScore + temperatureWeight * temperatureScore)
        return (index * 10).rounded() / 10
    }

    static func clamp(_ value: Double) -> Double { min(1, max(0, value)) }
}
