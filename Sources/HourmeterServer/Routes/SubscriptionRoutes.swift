import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Subscriptions and the contracts they produce. Creating a subscription writes its contract
/// (canonical JSON, SHA-256); it bills only once maker and customer have both signed that hash.
struct SubscriptionRoutes {
    let store: Store
    let configuration: ServerConfiguration

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("subscriptions") { request, context -> Response in
            let caller = try context.requireWriter("create subscriptions")
            let body = try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes)
            let (subscription, contract) = try await create(body, tenantID: caller.tenantID)
            try await store.subscriptions.createSubscription(tenantID: caller.tenantID, subscription, contract: contract)
            var answer = Self.subscriptionObject(subscription)
            answer["contract"] = Self.contractObject(contract)
            return try HTTPHelpers.json(object: answer, status: .created)
        }
        group.get("subscriptions") { request, context -> Response in
            let caller = try context.requireCaller()
            let limit = try HTTPHelpers.listLimit(request, maximum: configuration.limits.maxListLimit)
            let list = try await store.subscriptions.subscriptions(tenantID: caller.tenantID, limit: limit, after: try HTTPHelpers.query(request, "after"))
            return try HTTPHelpers.json(object: list.map(Self.subscriptionObject))
        }
        group.get("subscriptions/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            let subscription = try await subscription(context, caller)
            var answer = Self.subscriptionObject(subscription)
            if let contract = try await store.subscriptions.contract(tenantID: caller.tenantID, id: subscription.contractID) {
                answer["contract"] = Self.contractObject(contract)
            }
            return try HTTPHelpers.json(object: answer)
        }
        group.post("subscriptions/{id}/cancel") { request, context -> Response in
            let caller = try context.requireWriter("cancel subscriptions")
            var subscription = try await subscription(context, caller)
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["at", "at_period_end"])
            let now = configuration.nowMicros()
            var end = try fields.instant("at") ?? now
            if fields.values["at_period_end"] as? Bool == true {
                guard let plan = try await store.plans.version(tenantID: caller.tenantID, planKey: subscription.planKey, number: subscription.planVersion),
                      let zone = TimeZone(identifier: subscription.timeZone) else { throw APIError.unavailable("the subscription's plan is missing") }
                end = BillingCalendar(interval: plan.version.interval, anchorMicros: subscription.anchorMicros, timeZone: zone)
                    .period(containing: max(now, subscription.startMicros)).endMicros
            }
            // At once or later: invoices already drafted or finalized for the past stay as they are.
            guard end >= max(now, subscription.startMicros) else { throw FieldReader.invalid("at", "is in the past; cancel at once (no at) or later") }
            _ = try await store.subscriptions.endSubscription(tenantID: caller.tenantID, id: subscription.id, atMicros: end)
            subscription.endsAtMicros = end
            return try HTTPHelpers.json(object: Self.subscriptionObject(subscription))
        }
        // An upgrade or downgrade from `at` (default now): an amendment contract that links the
        // one it replaces; it takes effect once both parties sign it. Fees are prorated by the
        // day and usage is rated per part of the period, each under its own plan version.
        group.post("subscriptions/{id}/change-plan") { request, context -> Response in
            let caller = try context.requireWriter("change subscriptions")
            let subscription = try await subscription(context, caller)
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["plan_key", "plan_version", "at"])
            let now = configuration.nowMicros()
            let at = try fields.instant("at") ?? now
            guard at >= max(now, subscription.startMicros) else { throw FieldReader.invalid("at", "is in the past; a change applies from now or later") }
            if let end = subscription.endsAtMicros, at >= end { throw FieldReader.invalid("at", "is after the subscription ends") }
            let planKey = try fields.requiredString("plan_key", max: 64)
            let number = try fields.integer("plan_version", range: 1...1_000_000)
            guard let published = try await store.plans.version(tenantID: caller.tenantID, planKey: planKey, number: number) else {
                throw FieldReader.invalid(number == nil ? "plan_key" : "plan_version", "no such published plan version")
            }
            guard let current = try await store.plans.version(tenantID: caller.tenantID, planKey: subscription.planKey, number: subscription.planVersion),
                  let customer = try await store.customers.customer(tenantID: caller.tenantID, id: subscription.customerID) else {
                throw APIError.unavailable("the subscription's plan or customer is missing")
            }
            guard published.version.currency == current.version.currency, published.version.interval == current.version.interval else {
                throw FieldReader.invalid("plan_key", "a change keeps the currency (\(current.version.currency.code)) and the interval (\(current.version.interval.rawValue))")
            }
            if let tier = subscription.slaTier, !published.version.slaTiers.contains(where: { $0.name == tier }) {
                throw FieldReader.invalid("plan_key", "the new plan has no SLA tier \"\(tier)\", which the subscription uses")
            }
            // The amendment replaces the latest contract (the last change, or the original).
            let phases = try await store.subscriptions.phases(tenantID: caller.tenantID)[subscription.id] ?? []
            let replacedID = phases.last?.contractID ?? subscription.contractID
            guard let replaced = try await store.subscriptions.contract(tenantID: caller.tenantID, id: replacedID) else {
                throw APIError.unavailable("the subscription's contract is missing")
            }
            let terms = ContractTerms(tenantID: caller.tenantID, customerID: customer.id, customerName: customer.name, customerTaxID: customer.taxID,
                                      subscriptionID: subscription.id, planKey: planKey, planVersion: published.number, plan: published.version,
                                      slaTier: subscription.slaTier, devices: subscription.devices, startMicros: at,
                                      anchorMicros: subscription.anchorMicros, timeZone: subscription.timeZone, trialDays: 0,
                                      dataUse: Self.dataUse(of: replaced), replaces: replaced.sha256)
            let bytes = terms.canonicalJSON()
            let amendment = Contract(id: APIKeyMaterial.identifier("ctr"), subscriptionID: subscription.id, sha256: ContractSignature.sha256(bytes),
                                     document: String(decoding: bytes, as: UTF8.self), replaces: replaced.sha256, createdAtMicros: now, signatures: [:])
            let phase = try await store.subscriptions.addPhase(tenantID: caller.tenantID, subscriptionID: subscription.id, planKey: planKey,
                                                               planVersion: published.number, startsAtMicros: at, contract: amendment, nowMicros: now)
            return try HTTPHelpers.json(object: ["subscription": subscription.id, "phase": phase.sequence, "plan_key": planKey,
                                                 "plan_version": published.number, "starts_at": HTTPHelpers.timestamp(at),
                                                 "contract": Self.contractObject(amendment)], status: .created)
        }
        group.get("contracts/{id}") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(object: Self.contractObject(try await contract(context, caller)))
        }
        group.post("contracts/{id}/signatures") { request, context -> Response in
            let caller = try context.requireCaller()
            guard caller.role != .partner else { throw APIError.forbidden("a partner key cannot sign contracts") }
            let contract = try await contract(context, caller)
            let fields = try FieldReader(try await HTTPHelpers.jsonObject(from: request, limit: configuration.limits.maxBodyBytes),
                                         allowed: ["public_key", "signature"])
            let publicKey = try fields.requiredString("public_key", max: 100)
            guard let key = try await store.customers.signingKey(tenantID: caller.tenantID, publicKey: publicKey),
                  let verifier = ContractSignature.publicKey(base64: publicKey) else {
                throw FieldReader.invalid("public_key", "is not a signing key registered for this tenant or its customers")
            }
            if key.owner == "customer" {
                let subscription = try await store.subscriptions.subscription(tenantID: caller.tenantID, id: contract.subscriptionID)
                guard key.customerID == subscription?.customerID else {
                    throw FieldReader.invalid("public_key", "belongs to another customer than this contract's")
                }
            }
            let signature = try fields.requiredString("signature", max: 200)
            guard ContractSignature.verify(signatureBase64: signature, hash: contract.sha256, publicKey: verifier) else {
                throw FieldReader.invalid("signature", "does not verify: sign the contract's sha256 (64 hex characters, ASCII) with the key's Ed25519 private key")
            }
            try await store.subscriptions.addSignature(tenantID: caller.tenantID, contractID: contract.id, signer: key.owner, keyID: key.id,
                                                       signature: signature, atMicros: configuration.nowMicros())
            guard let signed = try await store.subscriptions.contract(tenantID: caller.tenantID, id: contract.id) else { throw APIError.notFound("no contract") }
            return try HTTPHelpers.json(object: Self.contractObject(signed), status: .created)
        }
    }

    func subscription(_ context: AppRequestContext, _ caller: Caller) async throws -> Subscription {
        let id = context.parameters.get("id") ?? ""
        guard let subscription = try await store.subscriptions.subscription(tenantID: caller.tenantID, id: id) else {
            throw APIError.notFound("no subscription \(id)")
        }
        return subscription
    }

    func contract(_ context: AppRequestContext, _ caller: Caller) async throws -> Contract {
        let id = context.parameters.get("id") ?? ""
        guard let contract = try await store.subscriptions.contract(tenantID: caller.tenantID, id: id) else { throw APIError.notFound("no contract \(id)") }
        return contract
    }

    /// Validates a new subscription and writes its contract.
    func create(_ body: [String: Any], tenantID: String) async throws -> (Subscription, Contract) {
        let fields = try FieldReader(body, allowed: ["customer", "plan_key", "plan_version", "devices", "start", "billing_anchor", "time_zone",
                                                    "trial_days", "sla_tier", "data_use"])
        let customerID = try fields.requiredString("customer", max: 64)
        guard let customer = try await store.customers.customer(tenantID: tenantID, id: customerID) else {
            throw FieldReader.invalid("customer", "no such customer")
        }
        let planKey = try fields.requiredString("plan_key", max: 64)
        let number = try fields.integer("plan_version", range: 1...1_000_000)
        guard let published = try await store.plans.version(tenantID: tenantID, planKey: planKey, number: number) else {
            throw FieldReader.invalid(number == nil ? "plan_key" : "plan_version", "no such published plan version")
        }
        guard published.version.currency == customer.currency else {
            throw FieldReader.invalid("plan_key", "the plan bills in \(published.version.currency.code); the customer pays in \(customer.currency.code)")
        }
        var serials: [String] = []
        for (index, deviceID) in (try fields.strings("devices", maxCount: 10_000) ?? []).enumerated() {
            guard let device = try await store.customers.device(tenantID: tenantID, id: deviceID) else {
                throw FieldReader.invalid("devices[\(index)]", "no such device")
            }
            // A device is billed to the customer it is assigned to, and only to it.
            guard device.customerID == customer.id else {
                throw FieldReader.invalid("devices[\(index)]", device.customerID == nil ? "is not assigned to this customer" : "belongs to another customer")
            }
            serials.append(device.serial)
        }
        let now = configuration.nowMicros()
        let start = try fields.instant("start") ?? now
        // Periods close at local midnight: the default anchor is the start's local day.
        let anchor = try fields.instant("billing_anchor") ?? Self.localMidnight(start, timeZone: try fields.timeZone("time_zone", required: false) ?? customer.timeZone)
        let timeZone = try fields.timeZone("time_zone", required: false) ?? customer.timeZone
        let trialDays = try fields.integer("trial_days", range: 0...365) ?? 0
        let slaTier = try fields.string("sla_tier", max: 64)
        if let slaTier, !published.version.slaTiers.contains(where: { $0.name == slaTier }) {
            throw FieldReader.invalid("sla_tier", "the plan version has no SLA tier \"\(slaTier)\"")
        }
        var dataUse = DataUseTerms()
        if fields.has("data_use") {
            guard let object = fields.values["data_use"] as? [String: Any] else { throw FieldReader.invalid("data_use", "must be an object") }
            let terms = try FieldReader(object, allowed: ["purposes", "retention_days", "partner_sharing"])
            dataUse.purposes = try terms.strings("purposes", maxCount: 20) ?? dataUse.purposes
            dataUse.retentionDays = try terms.integer("retention_days", range: 1...36_500) ?? dataUse.retentionDays
            if terms.has("partner_sharing") {
                guard let sharing = terms.values["partner_sharing"], DocumentValues.isBoolean(sharing), let flag = sharing as? Bool else {
                    throw FieldReader.invalid("data_use.partner_sharing", "must be true or false")
                }
                dataUse.partnerSharing = flag
            }
        }
        let subscriptionID = APIKeyMaterial.identifier("sub")
        let terms = ContractTerms(tenantID: tenantID, customerID: customer.id, customerName: customer.name, customerTaxID: customer.taxID,
                                  subscriptionID: subscriptionID, planKey: planKey, planVersion: published.number, plan: published.version,
                                  slaTier: slaTier, devices: serials, startMicros: start, anchorMicros: anchor, timeZone: timeZone,
                                  trialDays: trialDays, dataUse: dataUse, replaces: nil)
        let bytes = terms.canonicalJSON()
        let contract = Contract(id: APIKeyMaterial.identifier("ctr"), subscriptionID: subscriptionID, sha256: ContractSignature.sha256(bytes),
                                document: String(decoding: bytes, as: UTF8.self), replaces: nil, createdAtMicros: now, signatures: [:])
        let subscription = Subscription(id: subscriptionID, customerID: customer.id, planKey: planKey, planVersion: published.number,
                                        devices: serials, startMicros: start, anchorMicros: anchor, timeZone: timeZone, trialDays: trialDays,
                                        slaTier: slaTier, endsAtMicros: nil, contractID: contract.id, createdAtMicros: now)
        return (subscription, contract)
    }

    /// The data-use terms a contract carries, so an amendment keeps them.
    static func dataUse(of contract: Contract) -> DataUseTerms {
        guard let document = try? JSONSerialization.jsonObject(with: Data(contract.document.utf8)) as? [String: Any],
              let terms = document["data_use"] as? [String: Any] else { return DataUseTerms() }
        return DataUseTerms(purposes: terms["purposes"] as? [String] ?? DataUseTerms().purposes,
                            retentionDays: terms["retention_days"] as? Int ?? DataUseTerms().retentionDays,
                            partnerSharing: terms["partner_sharing"] as? Bool ?? false)
    }

    static func localMidnight(_ micros: Int64, timeZone name: String) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: name) ?? TimeZone(identifier: "UTC")!
        let day = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        return Int64((day.timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func subscriptionObject(_ subscription: Subscription) -> [String: Any] {
        var object: [String: Any] = [
            "id": subscription.id, "customer": subscription.customerID, "plan_key": subscription.planKey, "plan_version": subscription.planVersion,
            "devices": subscription.devices, "start": HTTPHelpers.timestamp(subscription.startMicros),
            "billing_anchor": HTTPHelpers.timestamp(subscription.anchorMicros), "time_zone": subscription.timeZone,
            "trial_days": subscription.trialDays, "contract_id": subscription.contractID,
            "created_at": HTTPHelpers.timestamp(subscription.createdAtMicros),
        ]
        object["sla_tier"] = subscription.slaTier
        object["ends_at"] = subscription.endsAtMicros.map(HTTPHelpers.timestamp)
        return object
    }

    static func contractObject(_ contract: Contract) -> [String: Any] {
        var object: [String: Any] = [
            "id": contract.id, "subscription": contract.subscriptionID, "sha256": contract.sha256,
            "status": contract.isActive ? "active" : "awaiting_signatures",
            "document": (try? JSONSerialization.jsonObject(with: Data(contract.document.utf8))) ?? contract.document,
            "signatures": contract.signatures.mapValues { ["key_id": $0.keyID, "signature": $0.signature, "signed_at": HTTPHelpers.timestamp($0.signedAtMicros)] },
            "created_at": HTTPHelpers.timestamp(contract.createdAtMicros),
        ]
        object["replaces"] = contract.replaces
        return object
    }
}
