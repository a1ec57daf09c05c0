import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Pricing previews (rate usage under a plan without storing anything) and entitlement checks.
struct PricingRoutes {
    let store: Store
    let configuration: ServerConfiguration

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("pricing/preview") { request, context -> Response in
            let caller = try context.requireCaller()
            let body = try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes)
            let allowed: Set<String> = ["plan", "plan_key", "version", "usage", "proration", "sla_tier", "time_zone"]
            if let unknown = body.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw PricingError(field: unknown, reason: "is not a known field; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            let (version, source) = try await planVersion(body, tenantID: caller.tenantID)
            var request = RatingRequest(version: version, usage: [:])
            if let usage = body["usage"], !(usage is NSNull) {
                guard let charges = usage as? [String: Any] else { throw PricingError(field: "usage", reason: "must be an object keyed by charge key") }
                for key in charges.keys.sorted() {
                    let parsed = try ChargeUsage.parse(charges[key]!, path: "usage.\(key)")
                    request.usage[key] = parsed.usage
                    if !parsed.surcharges.isEmpty { request.requestedSurcharges[key] = parsed.surcharges }
                }
            }
            if let text = body["proration"], !(text is NSNull) {
                guard let value = text as? String, let proration = Proration(value) else {
                    throw PricingError(field: "proration", reason: "a fraction of the period from 0 to 1 as a string: \"10/30\" or \"0.5\"")
                }
                request.proration = proration
            }
            if let tier = body["sla_tier"], !(tier is NSNull) {
                guard let name = tier as? String else { throw PricingError(field: "sla_tier", reason: "must be an SLA tier name") }
                request.slaTier = name
            }
            if let zone = body["time_zone"], !(zone is NSNull) {
                guard let name = zone as? String, let timeZone = TimeZone(identifier: name) else {
                    throw PricingError(field: "time_zone", reason: "must be an IANA time zone such as Asia/Shanghai")
                }
                request.timeZone = timeZone
            }
            let statement = try Rating.rate(request)
            var answer = Self.statementObject(statement)
            for (key, value) in source { answer[key] = value }
            return try HTTPHelpers.json(object: answer)
        }
        group.get("entitlements/check") { request, context -> Response in
            let caller = try context.requireCaller()
            guard let planKey = try HTTPHelpers.query(request, "plan_key"), !planKey.isEmpty else {
                throw APIError.validation("invalid entitlement check", [.init(field: "plan_key", reason: "is required")])
            }
            guard let feature = try HTTPHelpers.query(request, "feature"), !feature.isEmpty else {
                throw APIError.validation("invalid entitlement check", [.init(field: "feature", reason: "is required")])
            }
            var number: Int?
            if let text = try HTTPHelpers.query(request, "version") {
                guard let value = Int(text), value >= 1 else {
                    throw APIError.validation("invalid entitlement check", [.init(field: "version", reason: "a version number ≥ 1")])
                }
                number = value
            }
            guard let published = try await store.plans.version(tenantID: caller.tenantID, planKey: planKey, number: number) else {
                throw APIError.notFound(number.map { "no version \($0) of plan \(planKey)" } ?? "no published plan \(planKey)")
            }
            let entitlement = published.version.entitlements[feature]
            var answer: [String: Any] = ["plan_key": planKey, "version": published.number, "feature": feature,
                                         "enabled": entitlement?.isEnabled ?? false, "limit": NSNull()]
            switch entitlement {
            case .limit(let limit): answer["limit"] = Int(exactly: limit.normalized.significand).map { $0 as Any } ?? limit.description
            case .flag: break
            case nil: answer["reason"] = "the plan version does not grant \(feature)"
            }
            return try HTTPHelpers.json(object: answer)
        }
    }

    /// The version to rate: inline (`plan`), or published (`plan_key`, optional `version`).
    /// Also returns what to echo about its source.
    func planVersion(_ body: [String: Any], tenantID: String) async throws -> (PlanVersion, [String: Any]) {
        switch (body["plan"], body["plan_key"]) {
        case (let inline?, nil):
            guard body["version"] == nil || body["version"] is NSNull else { throw PricingError(field: "version", reason: "goes with plan_key, not an inline plan") }
            do { return (try PlanVersion.parse(inline), [:]) } catch {
                throw PricingError(field: error.field.isEmpty ? "plan" : "plan.\(error.field)", reason: error.reason)
            }
        case (nil, let key?):
            guard let planKey = key as? String, !planKey.isEmpty else { throw PricingError(field: "plan_key", reason: "must be a plan key") }
            var number: Int?
            if let value = body["version"], !(value is NSNull) {
                guard let integer = value as? Int, !DocumentValues.isBoolean(value), integer >= 1 else {
                    throw PricingError(field: "version", reason: "a version number ≥ 1")
                }
                number = integer
            }
            guard let published = try await store.plans.version(tenantID: tenantID, planKey: planKey, number: number) else {
                throw PricingError(field: number == nil ? "plan_key" : "version",
                                   reason: number.map { "plan \(planKey) has no version \($0)" } ?? "no published plan \(planKey)")
            }
            return (published.version, ["plan_key": planKey, "version": published.number, "sha256": published.sha256])
        case (nil, nil):
            throw PricingError(field: "plan", reason: "give an inline plan version, or plan_key (and version)")
        default:
            throw PricingError(field: "plan_key", reason: "give either an inline plan or plan_key, not both")
        }
    }

    static func statementObject(_ statement: RatedStatement) -> [String: Any] {
        [
            "currency": statement.currency.code,
            "rounding": "half-even to \(statement.currency.minorUnits) decimal places, once per line",
            "lines": statement.lines.map { lineObject($0, currency: statement.currency) },
            "subtotal": statement.currency.format(statement.subtotal),
            "total": statement.currency.format(statement.total),
        ]
    }

    /// A line; its amount is printed with the currency's minor units, the steps at full precision.
    static func lineObject(_ line: RatedLine, currency: Currency) -> [String: Any] {
        var object: [String: Any] = [
            "kind": line.kind.rawValue, "charge": line.charge, "amount": currency.format(line.amount),
            "decomposition": line.decomposition.map(stepObject),
        ]
        object["meter"] = line.meter
        object["quantity"] = line.quantity?.description
        object["priced_quantity"] = line.pricedQuantity?.description
        return object
    }

    static func stepObject(_ step: DecompositionStep) -> [String: Any] {
        var object: [String: Any] = [
            "kind": step.kind, "description": step.description, "quantity": step.quantity.description,
            "rate": step.rate.description, "amount": step.amount.description,
        ]
        object["weighted_quantity"] = step.weightedQuantity?.description
        return object
    }
}
