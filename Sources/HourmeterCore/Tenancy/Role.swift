/// What an API key may do. Operators run the instance; makers own a tenant's meters and
/// events; customers and partners read what their tenant shares with them.
public enum Role: String, Sendable, Codable, CaseIterable {
    case operator_ = "operator"
    case maker
    case customer
    case partner

    /// Roles that may send events and define meters.
    public var canWriteUsage: Bool { self == .maker || self == .operator_ }
    /// Roles a key of this role may create keys for (operators: any tenant; makers: their own).
    public func mayCreateKey(of role: Role) -> Bool {
        switch self {
        case .operator_: return true
        case .maker: return role != .operator_
        case .customer, .partner: return false
        }
    }
}
