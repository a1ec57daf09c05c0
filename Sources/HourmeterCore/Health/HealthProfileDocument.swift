import Foundation

/// A device model's `health_profile` as JSON, e.g.
/// `{"iso_group": 1, "foundation": "flexible", "temperature_normal_c": 70, "temperature_limit_c": 95, "alarm_index_below": 40}`
/// or with the maker's own boundaries `{"zone_boundaries_mm_s": {"ab": 2.0, "bc": 4.0, "cd": 6.5}}`.
/// Every field is optional; what is left out comes from `HealthProfile.standard`.
public struct HealthProfileError: Error, Sendable, Equatable {
    public var field: String
    public var reason: String
}

extension HealthProfile {
    static let documentFields: Set<String> = ["iso_group", "foundation", "zone_boundaries_mm_s", "temperature_normal_c", "temperature_limit_c", "alarm_index_below"]

    public init(document: [String: Any], path: String = "health_profile") throws(HealthProfileError) {
        func field(_ key: String) -> String { "\(path).\(key)" }
        func number(_ key: String, in object: [String: Any], at prefix: String, range: ClosedRange<Double>) throws(HealthProfileError) -> Double? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber, !DocumentValues.isBoolean(value), range.contains(number.doubleValue) else {
                throw HealthProfileError(field: "\(prefix).\(key)", reason: "must be a number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number.doubleValue
        }
        if let unknown = document.keys.sorted().first(where: { !Self.documentFields.contains($0) }) {
            throw HealthProfileError(field: field(unknown), reason: "is not a known field; expected one of \(Self.documentFields.sorted().joined(separator: ", "))")
        }
        var profile = HealthProfile.standard
        let group = try number("iso_group", in: document, at: path, range: 1...2)
        let foundationName = document["foundation"].flatMap { $0 is NSNull ? nil : $0 }
        if group != nil || foundationName != nil {
            // A foundation alone means group 2; a group alone means rigid.
            let chosen = group ?? 2
            guard chosen == 1 || chosen == 2 else { throw HealthProfileError(field: field("iso_group"), reason: "must be 1 or 2") }
            guard let name = (foundationName ?? "rigid") as? String, let foundation = ZoneBoundaries.Foundation(rawValue: name) else {
                throw HealthProfileError(field: field("foundation"), reason: "must be \"rigid\" or \"flexible\"")
            }
            profile.boundaries = ZoneBoundaries.iso10816(group: Int(chosen), foundation: foundation)!
        }
        if let custom = document["zone_boundaries_mm_s"], !(custom is NSNull) {
            let prefix = field("zone_boundaries_mm_s")
            guard group == nil, foundationName == nil else { throw HealthProfileError(field: prefix, reason: "give either iso_group/foundation or zone_boundaries_mm_s, not both") }
            guard let object = custom as? [String: Any] else { throw HealthProfileError(field: prefix, reason: "must be an object {ab, bc, cd}") }
            if let unknown = object.keys.sorted().first(where: { !["ab", "bc", "cd"].contains($0) }) {
                throw HealthProfileError(field: "\(prefix).\(unknown)", reason: "is not a known field; expected ab, bc, cd")
            }
            var values: [Double] = []
            for key in ["ab", "bc", "cd"] {
                guard let value = try number(key, in: object, at: prefix, range: 0.01...1000) else {
                    throw HealthProfileError(field: "\(prefix).\(key)", reason: "is required")
                }
                values.append(value)
            }
            guard values[0] < values[1], values[1] < values[2] else { throw HealthProfileError(field: prefix, reason: "must increase: ab < bc < cd") }
            profile.boundaries = ZoneBoundaries(ab: values[0], bc: values[1], cd: values[2])
        }
        if let value = try number("temperature_normal_c", in: document, at: path, range: -50...300) { profile.normalTemperature = value }
        if let value = try number("temperature_limit_c", in: document, at: path, range: -50...400) { profile.maximumTemperature = value }
        guard profile.maximumTemperature > profile.normalTemperature else {
            throw HealthProfileError(field: field("temperature_limit_c"), reason: "must be above temperature_normal_c (\(profile.normalTemperature))")
        }
        if let value = try number("alarm_index_below", in: document, at: path, range: 0...90) { profile.alarmIndexBelow = value }
        self = profile
    }

    /// The full profile as JSON (boundaries spelled out), as stored and shown.
    public var document: [String: Any] {
        ["zone_boundaries_mm_s": ["ab": boundaries.ab, "bc": boundaries.bc, "cd": boundaries.cd],
         "temperature_normal_c": normalTemperature, "temperature_limit_c": maximumTemperature, "alarm_index_below": alarmIndexBelow]
    }
}
