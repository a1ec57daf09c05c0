import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Plans and their immutable versions. Plan documents use the snake_case names of the common
/// billing systems (`graduated_ranges`, `per_unit_amount`), so a plan is portable; the answers
/// here use the same style. Makers and operators publish; every key of the tenant may read.
struct PlanRoutes {
    let store: Store
    let configuration: ServerConfiguration

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("plans") { request, context -> Response in
            let caller = try context.requireWriter("create plans")
            let body = try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes)
            let input = try Self.createInput(body)
            if let version = input.version { try await requireMeters(of: version, tenantID: caller.tenantID, prefix: "version") }
            let (plan, version) = try await store.plans.createPlan(
                tenantID: caller.tenantID, key: input.key, name: input.name, description: input.description, currency: input.currency,
                interval: input.interval, firstVersion: input.version, nowMicros: configuration.nowMicros())
            var answer = Self.planObject(plan)
            answer["version"] = version.map(Self.versionObject)
            return try HTTPHelpers.json(object: answer, status: .created)
        }
        group.get("plans") { request, context -> Response in
            let caller = try context.requireCaller()
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let plans = try await store.plans.plans(tenantID: caller.tenantID, limit: limit, after: try HTTPHelpers.query(request, "after"))
            return try HTTPHelpers.json(object: plans.map(Self.planObject))
        }
        group.get("plans/{key}") { _, context -> Response in
            let caller = try context.requireCaller()
            let plan = try await plan(context, caller)
            var answer = Self.planObject(plan)
            if plan.latestVersion != nil,
               let latest = try await store.plans.version(tenantID: caller.tenantID, planKey: plan.key, number: nil) {
                answer["version"] = Self.versionObject(latest)
            }
            return try HTTPHelpers.json(object: answer)
        }
        group.get("plans/{key}/versions") { _, context -> Response in
            let caller = try context.requireCaller()
            let plan = try await plan(context, caller)
            let versions = try await store.plans.versions(tenantID: caller.tenantID, planKey: plan.key)
            return try HTTPHelpers.json(object: versions.map(Self.versionObject))
        }
        group.post("plans/{key}/versions") { request, context -> Response in
            let caller = try context.requireWriter("publish plans")
            let plan = try await plan(context, caller)
            var body = try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes)
            // An optional "version" names the number the client means to publish, so a stale
            // editor that tries to publish over an existing number is told it is immutable.
            var expected: Int?
            if let number = body.removeValue(forKey: "version"), !(number is NSNull) {
                guard let value = number as? Int, !DocumentValues.isBoolean(number), value >= 1 else {
                    throw APIError.validation("invalid version", [.init(field: "version", reason: "a version number ≥ 1")])
                }
                expected = value
            }
            let version = try PlanVersion.parse(body)
            try Self.requireSameTerms(version, currency: plan.currency, interval: plan.interval, prefix: "")
            try await requireMeters(of: version, tenantID: caller.tenantID, prefix: "")
            let published = try await store.plans.publishVersion(tenantID: caller.tenantID, planKey: plan.key, version: version,
                                                                  expectedNumber: expected, nowMicros: configuration.nowMicros())
            return try HTTPHelpers.json(object: Self.versionObject(published), status: .created)
        }
        group.get("plans/{key}/versions/{version}") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(object: Self.versionObject(try await version(context, caller)))
        }
        // A published version never changes: publish the next one instead.
        for method in [HTTPRequest.Method.put, .patch, .delete] {
            group.on("plans/{key}/versions/{version}", method: method) { _, context -> Response in
                let caller = try context.requireWriter("change plans")
                let existing = try await version(context, caller)
                throw PlanStoreError.versionPublished(plan: existing.planKey, number: existing.number)
            }
        }
    }

    func plan(_ context: AppRequestContext, _ caller: Caller) async throws -> Plan {
        let key = context.parameters.get("key") ?? ""
        guard let plan = try await store.plans.plan(tenantID: caller.tenantID, key: key) else { throw APIError.notFound("no plan \(key)") }
        return plan
    }

    func version(_ context: AppRequestContext, _ caller: Caller) async throws -> PublishedPlanVersion {
        let key = context.parameters.get("key") ?? ""
        let text = context.parameters.get("version") ?? ""
        guard let number = Int(text), number >= 1 else { throw APIError.notFound("no version \(text) of plan \(key)") }
        guard let version = try await store.plans.version(tenantID: caller.tenantID, planKey: key, number: number) else {
            throw APIError.notFound("no version \(number) of plan \(key)")
        }
        return version
    }

    /// Every charge's meter must exist in the tenant: a plan that prices a meter nobody
    /// records would bill zero forever without saying why.
    func requireMeters(of version: PlanVersion, tenantID: String, prefix: String) async throws {
        let slugs = try await store.meters.meterSlugs(tenantID: tenantID)
        for (index, charge) in version.charges.enumerated() where !slugs.contains(charge.meter) {
            let path = prefix.isEmpty ? "charges[\(index)].meter" : "\(prefix).charges[\(index)].meter"
            throw PricingError(field: path, reason: "no meter \"\(charge.meter)\" in this tenant; create it first")
        }
    }

    /// A version bills in its plan's currency and interval.
    static func requireSameTerms(_ version: PlanVersion, currency: Currency, interval: BillingInterval, prefix: String) throws {
        let path = prefix.isEmpty ? "" : "\(prefix)."
        guard version.currency == currency else {
            throw PricingError(field: "\(path)currency", reason: "must be the plan's currency \(currency.code)")
        }
        guard version.interval == interval else {
            throw PricingError(field: "\(path)interval", reason: "must be the plan's interval \(interval.rawValue)")
        }
    }

    struct CreateInput {
        var key: String, name: String, description: String?
        var currency: Currency, interval: BillingInterval
        var version: PlanVersion?
    }

    /// `{"key", "name", "description"?, "currency"?, "interval"?, "version"?: {document}}`:
    /// currency and interval may be left to the first version's document.
    static func createInput(_ body: [String: Any]) throws -> CreateInput {
        let allowed: Set<String> = ["key", "name", "description", "currency", "interval", "version"]
        if let unknown = body.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw PricingError(field: unknown, reason: "is not a known field; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
        func text(_ field: String, required: Bool, max: Int) throws -> String? {
            guard let value = body[field], !(value is NSNull) else {
                if required { throw PricingError(field: field, reason: "is required") }
                return nil
            }
            guard let string = value as? String, !string.isEmpty, string.utf8.count <= max, !DocumentValues.hasControlCharacters(string) else {
                throw PricingError(field: field, reason: "must be a string of 1–\(max) bytes without control characters")
            }
            return string
        }
        let key = try text("key", required: true, max: 64)!
        guard DocumentValues.isKey(key) else {
            throw PricingError(field: "key", reason: "\"\(key)\" must be 1–64 characters of a–z, 0–9, _, - and .")
        }
        let name = try text("name", required: false, max: 200) ?? key
        let description = try text("description", required: false, max: 2_000)
        var version: PlanVersion?
        if let document = body["version"], !(document is NSNull) {
            do { version = try PlanVersion.parse(document) } catch {
                throw PricingError(field: error.field.isEmpty ? "version" : "version.\(error.field)", reason: error.reason)
            }
        }
        var currency = version?.currency
        if let code = try text("currency", required: version == nil, max: 3) {
            guard let parsed = Currency(code: code) else { throw PricingError(field: "currency", reason: "\"\(code)\" is not a known ISO 4217 currency") }
            currency = parsed
        }
        var interval = version?.interval
        if let name = try text("interval", required: version == nil, max: 10) {
            guard let parsed = BillingInterval(rawValue: name) else { throw PricingError(field: "interval", reason: "\"\(name)\" is not month, quarter or year") }
            interval = parsed
        }
        guard let currency, let interval else { throw PricingError(field: "currency", reason: "is required") }
        if let version { try requireSameTerms(version, currency: currency, interval: interval, prefix: "version") }
        return CreateInput(key: key, name: name, description: description, currency: currency, interval: interval, version: version)
    }

    static func planObject(_ plan: Plan) -> [String: Any] {
        var object: [String: Any] = [
            "key": plan.key, "name": plan.name, "currency": plan.currency.code, "interval": plan.interval.rawValue,
            "created_at": HTTPHelpers.timestamp(plan.createdAtMicros), "latest_version": plan.latestVersion.map { $0 as Any } ?? NSNull(),
        ]
        object["description"] = plan.description
        return object
    }

    static func versionObject(_ version: PublishedPlanVersion) -> [String: Any] {
        ["plan_key": version.planKey, "version": version.number, "sha256": version.sha256,
         "published_at": HTTPHelpers.timestamp(version.publishedAtMicros), "document": version.version.document]
    }
}
