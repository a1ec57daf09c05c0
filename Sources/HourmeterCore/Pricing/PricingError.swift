/// Why a plan's pricing document was rejected, naming the offending field.
///
/// `field` is a path into the submitted document ("properties.graduated_ranges[1].from_value")
/// so the HTTP edge can report it as-is in a problem+json response; `reason` is for humans.
public struct PricingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
