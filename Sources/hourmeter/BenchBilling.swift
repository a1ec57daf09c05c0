import ArgumentParser
import Crypto
import Foundation
import HourmeterCore
import HourmeterServer
import HourmeterStore

/// `hourmeter bench billing`: N subscriptions, each one device under a plan with a base fee and
/// 5 metered charges, a month of usage; then one billing run that drafts and finalizes every
/// invoice (grace over), timed. Prints invoices/s.
struct BenchBilling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing",
        abstract: "Bill N subscriptions × 5 metered charges for a month of usage in one billing run; prints invoices/s.")

    @Option(help: "Subscriptions (one device each).") var subscriptions = 10_000
    @Option(help: "Events per device and meter over the month.") var eventsPerMeter = 10
    @OptionGroup var database: DatabaseOptions

    static let plan = """
        {"currency":"CNY","interval":"month",
         "recurring_fees":[{"key":"base_rental","amount":"3000"}],
         "charges":[
          {"key":"run_hours","meter":"run_hours","model":"graduated","state_multipliers":{"idle":"0.5","running":"1","peak":"1.5"},
           "properties":{"graduated_ranges":[{"from_value":0,"to_value":100,"per_unit_amount":"10"},{"from_value":100,"to_value":null,"per_unit_amount":"8"}]}},
          {"key":"energy","meter":"energy_kwh","model":"volume",
           "properties":{"volume_ranges":[{"from_value":0,"to_value":1000,"per_unit_amount":"0.9"},{"from_value":1000,"to_value":null,"per_unit_amount":"0.7"}]}},
          {"key":"diagnoses","meter":"diagnoses","model":"standard","properties":{"amount":"25.5"}},
          {"key":"api_calls","meter":"api_calls","model":"package","properties":{"amount":"10","package_size":1000,"free_units":500}},
          {"key":"reports","meter":"reports","model":"standard","properties":{"amount":"4"}}],
         "minimum_commitment":"3500"}
        """

    func run() async throws {
        guard subscriptions > 0, eventsPerMeter > 0 else { throw ValidationError("--subscriptions and --events-per-meter must be positive") }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hourmeter-bench-billing-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let count = subscriptions, perMeter = eventsPerMeter
        let now = ServerConfiguration.systemClock()
        // Last month in UTC, and a run after its grace day.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let thisMonth = calendar.dateInterval(of: .month, for: Date(timeIntervalSince1970: Double(now) / 1e6))!.start
        let lastMonth = calendar.date(byAdding: .month, value: -1, to: thisMonth)!
        let monthStart = Int64(lastMonth.timeIntervalSince1970) * 1_000_000, monthEnd = Int64(thisMonth.timeIntervalSince1970) * 1_000_000
        let runAt = max(now, monthEnd + 86_400_000_000)
        try await Store.withStore(try database.benchLocation(scratch: scratch), logger: makeLogger("bench"), nowMicros: now) { store in
            let tenant = try await store.tenants.createTenant(name: "bench billing", nowMicros: now)
            let meters: [(String, String, String)] = [("run_hours", "SUM", "$.hours"), ("energy_kwh", "SUM", "$.kwh"), ("diagnoses", "COUNT", ""),
                                                      ("api_calls", "SUM", "$.calls"), ("reports", "SUM", "$.reports")]
            for (slug, aggregation, path) in meters {
                _ = try await store.meters.createMeter(tenantID: tenant.id, definition: try MeterDefinition(
                    slug: slug, name: nil, description: nil, eventType: "machine.\(slug)", aggregation: aggregation,
                    valueProperty: path.isEmpty ? nil : path, groupBy: slug == "run_hours" ? ["state": "$.state"] : [:]), nowMicros: now)
            }
            let plan = try PlanVersion.parse(json: Data(Self.plan.utf8))
            _ = try await store.plans.createPlan(tenantID: tenant.id, key: "rental", name: "rental", description: nil, currency: plan.currency,
                                                 interval: plan.interval, firstVersion: plan, nowMicros: now)
            let customer = Customer(id: "cus_bench", name: "Bench Builders", currency: plan.currency, timeZone: "UTC", billingEmail: nil,
                                    taxID: nil, address: nil, createdAtMicros: now)
            try await store.customers.createCustomer(tenantID: tenant.id, customer)
            let maker = Curve25519.Signing.PrivateKey(), buyer = Curve25519.Signing.PrivateKey()
            say("setting up \(count) signed subscriptions…")
            let setupStart = ContinuousClock.now
            for index in 0..<count {
                let id = "sub_\(index)"
                let terms = ContractTerms(tenantID: tenant.id, customerID: customer.id, customerName: customer.name, customerTaxID: nil,
                                          subscriptionID: id, planKey: "rental", planVersion: 1, plan: plan, slaTier: nil, devices: ["EX-\(index)"],
                                          startMicros: monthStart, anchorMicros: monthStart, timeZone: "UTC", trialDays: 0,
                                          dataUse: DataUseTerms(), replaces: nil)
                let bytes = terms.canonicalJSON()
                let hash = ContractSignature.sha256(bytes)
                let contract = Contract(id: "ctr_\(index)", subscriptionID: id, sha256: hash, document: String(decoding: bytes, as: UTF8.self),
                                        replaces: nil, createdAtMicros: now, signatures: [:])
                try await store.subscriptions.createSubscription(tenantID: tenant.id, Subscription(
                    id: id, customerID: customer.id, planKey: "rental", planVersion: 1, devices: ["EX-\(index)"], startMicros: monthStart,
                    anchorMicros: monthStart, timeZone: "UTC", trialDays: 0, slaTier: nil, endsAtMicros: nil, contractID: contract.id,
                    createdAtMicros: now), contract: contract)
                for (signer, key) in [("maker", maker), ("customer", buyer)] {
                    let signature = try key.signature(for: Data(hash.utf8)).base64EncodedString()
                    try await store.subscriptions.addSignature(tenantID: tenant.id, contractID: contract.id, signer: signer, keyID: "bench-\(signer)",
                                                               signature: signature, atMicros: now)
                }
            }
            say(String(format: "subscriptions and contracts in %.1f s; loading %d events…", Self.seconds(ContinuousClock.now - setupStart), count * perMeter * meters.count))
            let loadStart = ContinuousClock.now
            let span = monthEnd - monthStart
            var batch: [UsageEvent] = []
            var sequence = 0
            for device in 0..<count {
                for (slug, _, _) in meters {
                    for step in 0..<perMeter {
                        sequence += 1
                        let time = monthStart + span / Int64(perMeter + 1) * Int64(step + 1) + Int64(device % 3_600) * 1_000_000
                        let data: String = switch slug {
                        case "run_hours": #"{"hours":\#(1 + step % 4),"state":"\#(["idle", "running", "peak"][step % 3])"}"#
                        case "energy_kwh": #"{"kwh":\#(40 + device % 50)}"#
                        case "api_calls": #"{"calls":\#(100 * (1 + step))}"#
                        case "reports": #"{"reports":1}"#
                        default: "{}"
                        }
                        batch.append(UsageEvent(id: "e\(sequence)", source: "bench", type: "machine.\(slug)", subject: "EX-\(device)",
                                                timeMicros: time, timeGiven: true, dataContentType: nil, data: Array(data.utf8)))
                        if batch.count == 10_000 {
                            _ = try await store.events.ingest(tenantID: tenant.id, events: batch, receivedMicros: now)
                            batch.removeAll(keepingCapacity: true)
                        }
                    }
                }
            }
            _ = try await store.events.ingest(tenantID: tenant.id, events: batch, receivedMicros: now)
            _ = try await store.meters.meters(tenantID: tenant.id)  // fold what the load left pending, outside the timing
            say(String(format: "loaded in %.1f s", Self.seconds(ContinuousClock.now - loadStart)))

            let run = BillingRun(store: store, graceSeconds: 86_400)
            let start = ContinuousClock.now
            let result = try await run.run(tenantID: tenant.id, atMicros: runAt)
            let seconds = Self.seconds(ContinuousClock.now - start)
            say(String(format: "billing run: %d drafted, %d finalized (%d failed) in %.2f s: %.0f invoices/s", result.drafted, result.finalized,
                       result.failed, seconds, Double(result.finalized) / seconds))
            let verifyStart = ContinuousClock.now
            let report = try await LedgerVerification(store: store).run(tenants: [tenant.id])
            say(String(format: "ledger verify: %@ (%d entries, %d invoices) in %.2f s", report.discrepancy ?? "OK", report.entries, report.invoices,
                       Self.seconds(ContinuousClock.now - verifyStart)))
            say("target: 10,000 invoices in ≤ 10 s on the SQLite default: \(count >= 10_000 && seconds <= 10 && result.finalized >= 10_000 ? "met" : count < 10_000 ? "not measured (fewer subscriptions)" : "NOT met")")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
