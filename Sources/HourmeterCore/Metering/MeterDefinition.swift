/// How a meter folds the values of its events into one number per window.
/// The names and semantics are OpenMeter's, so an existing meter definition ports unchanged.
public enum MeterAggregation: String, Sendable, Codable, CaseIterable {
    case sum = "SUM"
    case count = "COUNT"
    case uniqueCount = "UNIQUE_COUNT"
    case avg = "AVG"
    case min = "MIN"
    case max = "MAX"
    case latest = "LATEST"

    /// COUNT counts events; every other aggregation reads a value from `data`.
    public var needsValue: Bool { self != .count }
    /// UNIQUE_COUNT accepts any scalar (string, number, bool); the others need a number.
    public var needsNumber: Bool { needsValue && self != .uniqueCount }
}

/// One problem with a meter definition, named by its field so a client can point at it.
public struct MeterDefinitionIssue: Sendable, Equatable, Codable {
    public var field: String
    public var reason: String
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
}

public struct MeterDefinitionError: Error, Sendable, Equatable {
    public var issues: [MeterDefinitionIssue]
}

/// A validated meter: which events it reads, which value, how it aggregates, how it groups.
/// Validation happens once here, so the ingest path only runs compiled paths.
public struct MeterDefinition: Sendable, Equatable {
    public static let maxSlugLength = 64
    public static let maxGroupBy = 16
    public static let maxEventTypeLength = 256

    public var slug: String
    public var name: String?
    public var description: String?
    public var eventType: String
    public var aggregation: MeterAggregation
    public var valueProperty: JSONPath?
    /// Group name → path, kept sorted by name so group keys are canonical.
    public var groupBy: [(name: String, path: JSONPath)]

    public static func == (a: MeterDefinition, b: MeterDefinition) -> Bool {
        a.slug == b.slug && a.name == b.name && a.description == b.description && a.eventType == b.eventType
            && a.aggregation == b.aggregation && a.valueProperty == b.valueProperty
            && a.groupBy.map(\.name) == b.groupBy.map(\.name) && a.groupBy.map(\.path) == b.groupBy.map(\.path)
    }

    /// Builds a definition from its raw fields, collecting every problem rather than stopping at the first.
    public init(
        slug: String?, name: String? = nil, description: String? = nil, eventType: String?,
        aggregation: String?, valueProperty: String?, groupBy: [String: String]?
    ) throws(MeterDefinitionError) {
        var issues: [MeterDefinitionIssue] = []
        let slug = slug ?? ""
        if slug.isEmpty {
            issues.append(.init(field: "slug", reason: "required"))
        } else if !MeterDefinition.isValidSlug(slug) {
            issues.append(.init(field: "slug", reason: "must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be at most \(Self.maxSlugLength) characters"))
        }
        let eventType = eventType ?? ""
        if eventType.isEmpty {
            issues.append(.init(field: "eventType", reason: "required"))
        } else if eventType.utf8.count > Self.maxEventTypeLength {
            issues.append(.init(field: "eventType", reason: "at most \(Self.maxEventTypeLength) bytes"))
        }
        var parsedAggregation: MeterAggregation?
        if let aggregation {
            parsedAggregation = MeterAggregation(rawValue: aggregation)
            if parsedAggregation == nil {
                issues.append(.init(field: "aggregation", reason: "must be one of \(MeterAggregation.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        } else {
            issues.append(.init(field: "aggregation", reason: "required"))
        }
        var parsedValue: JSONPath?
        if let valueProperty, !valueProperty.isEmpty {
            do { parsedValue = try JSONPath(parsing: valueProperty) } catch {
                issues.append(.init(field: "valueProperty", reason: error.reason))
            }
            if parsedAggregation == .count {
                issues.append(.init(field: "valueProperty", reason: "must be absent for COUNT"))
            }
        } else if let parsedAggregation, parsedAggregation.needsValue {
            issues.append(.init(field: "valueProperty", reason: "required for \(parsedAggregation.rawValue)"))
        }
        var groups: [(name: String, path: JSONPath)] = []
        let groupBy = groupBy ?? [:]
        if groupBy.count > Self.maxGroupBy {
            issues.append(.init(field: "groupBy", reason: "at most \(Self.maxGroupBy) groups"))
        }
        for name in groupBy.keys.sorted() {
            if name.isEmpty || name.utf8.count > Self.maxSlugLength || name == "subject" {
                issues.append(.init(field: "groupBy.\(name)", reason: "a group name must be 1–\(Self.maxSlugLength) bytes and not \"subject\""))
                continue
            }
            do { groups.append((name, try JSONPath(parsing: groupBy[name]!))) } catch {
                issues.append(.init(field: "groupBy.\(name)", reason: error.reason))
            }
        }
        if !issues.isEmpty { throw MeterDefinitionError(issues: issues) }
        self.slug = slug
        self.name = name
        self.description = description
        self.eventType = eventType
        self.aggregation = parsedAggregation!
        self.valueProperty = parsedValue
        self.groupBy = groups
    }

    public static func isValidSlug(_ slug: String) -> Bool {
        let bytes = Array(slug.utf8)
        guard !bytes.isEmpty, bytes.count <= maxSlugLength else { return false }
        var previousUnderscore = true  // a slug may not start with '_'
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                previousUnderscore = false
            case UInt8(ascii: "_"):
                if previousUnderscore { return false }
                previousUnderscore = true
            default:
                return false
            }
        }
        return !previousUnderscore
    }
}
