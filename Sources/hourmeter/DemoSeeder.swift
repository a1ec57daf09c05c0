import AsyncHTTPClient
import Crypto
import Foundation
import HourmeterCore
import HourmeterStore
import NIOCore
import NIOHTTP1

/// Seeds the demo through the public API, as a maker's own integration would: a maker, three
/// customers from the seed paper's examples (names invented), their machines, plans, signed
/// contracts, 60 days of telemetry from the edge simulator, last month billed, one invoice paid.
struct DemoSeeder {
    let base: String
    let operatorKey: String
    let seed: UInt64
    let nowMicros: Int64
    let store: Store

    static let day: Int64 = 86_400_000_000
    static let intervalSeconds = 3600

    struct Failure: Error, CustomStringConvertible { let description: String }

    // MARK: HTTP

    func call(_ method: HTTPMethod, _ path: String, key: String, body: String? = nil, contentType: String = "application/json") async throws -> Any? {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
        guard (200..<300).contains(response.status.code) else { throw Failure(description: "\(method) \(path) answered \(response.status.code): \(text.prefix(500))") }
        return text.isEmpty ? nil : try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    func post(_ path: String, key: String, _ body: Any) async throws -> [String: Any] {
        try await call(.POST, path, key: key, body: JSONText.serialize(body)) as? [String: Any] ?? [:]
    }

    // MARK: The fleet

    struct Machine {
        var serial: String
        var customer: Int
        var scenario: DeviceSimulator.Scenario
        var wearStart: Int64 = 0
        var wearDays = 30.0
    }

    /// Deterministic Ed25519 keys: the same seed signs the same contracts.
    func signingKey(_ party: String) -> Curve25519.Signing.PrivateKey {
        try! Curve25519.Signing.PrivateKey(rawRepresentation: Array(SHA256.hash(data: Array("hourmeter-demo|\(seed)|\(party)".utf8))))
    }

    func seed() async throws -> [(String, String)] {
        var stage = ContinuousClock.now
        func progress(_ step: Int, _ text: String) {
            let elapsed = Percentiles.seconds(ContinuousClock.now - stage)
            say(String(format: "demo: [%d/7] %@ (%.1f s)", step, text, elapsed))
            stage = ContinuousClock.now
        }
        // 1. The maker and its meters.
        let tenant = try await post("/api/v1/tenants", key: operatorKey, ["name": "Qilin Heavy Machinery (demo)"])["id"] as! String
        let maker = try await post("/api/v1/api-keys", key: operatorKey, ["tenant": tenant, "role": "maker", "name": "demo maker"])["key"] as! String
        for meter: [String: Any] in [
            ["slug": "run_hours", "name": "Run hours", "eventType": "device.usage", "aggregation": "SUM", "valueProperty": "$.run_hours", "groupBy": ["state": "$.state"]],
            ["slug": "energy_kwh", "name": "Energy", "eventType": "device.usage", "aggregation": "SUM", "valueProperty": "$.energy_kwh", "groupBy": ["state": "$.state"]],
            ["slug": "diagnoses", "name": "Diagnoses", "eventType": "scan.completed", "aggregation": "COUNT"],
        ] { _ = try await post("/api/v1/meters", key: maker, meter) }
        progress(1, "maker, keys and meters")

        // 2. Plans from the seed paper's three examples.
        let sla: [[String: Any]] = [["name": "emergency", "response_hours": 2, "amount": "3000.00"], ["name": "standard", "response_hours": 12, "amount": "800.00"]]
        let plans: [[String: Any]] = [
            ["key": "excavator-fleet", "name": "Excavator fleet by run hours", "version": [
                "currency": "CNY", "interval": "month",
                "recurring_fees": [["key": "efficiency_analysis", "name": "Efficiency analysis", "amount": "1200.00", "timing": "in_arrears"],
                                   ["key": "fault_warning", "name": "Fault warnings", "amount": "1800.00", "timing": "in_arrears"]],
                "charges": [["key": "run_hours", "name": "Run hours", "meter": "run_hours", "model": "standard", "properties": ["amount": "60.00"],
                             "state_multipliers": ["off": "0", "idle": "0.5", "running": "1", "peak": "1.5"]]],
                "entitlements": ["basic_positioning": true, "efficiency_analysis": true, "fault_warning": true],
                "sla_tiers": sla] as [String: Any]],
            ["key": "ct-per-diagnosis", "name": "CT scanners per diagnosis", "version": [
                "currency": "CNY", "interval": "month",
                "charges": [["key": "diagnoses", "name": "Diagnoses", "meter": "diagnoses", "model": "graduated", "properties": ["graduated_ranges": [
                    ["from_value": 0, "to_value": 500, "per_unit_amount": "120.00", "flat_amount": "0"],
                    ["from_value": 500, "to_value": 1500, "per_unit_amount": "95.00", "flat_amount": "0"],
                    ["from_value": 1500, "to_value": NSNull(), "per_unit_amount": "70.00", "flat_amount": "0"]]]]],
                "entitlements": ["image_quality_report": true],
                "sla_tiers": sla] as [String: Any]],
            ["key": "cnc-rental", "name": "CNC rental with spindle hours", "version": [
                "currency": "CNY", "interval": "month",
                "recurring_fees": [["key": "base_rental", "name": "Base rental", "amount": "8000.00", "timing": "in_advance"]],
                "charges": [["key": "spindle_hours", "name": "Spindle hours", "meter": "run_hours", "model": "standard", "properties": ["amount": "45.00"],
                             "state_multipliers": ["off": "0", "idle": "0", "running": "1", "peak": "1"],
                             "volume_discounts": [["from_value": 1000, "percent": "5"], ["from_value": 2000, "percent": "10"]]]],
                "entitlements": ["tool_wear_report": true],
                "sla_tiers": sla] as [String: Any]],
        ]
        for plan in plans { _ = try await post("/api/v1/plans", key: maker, plan) }
        progress(2, "plans: excavators by run hours, CT per diagnosis, CNC rental with spindle hours")

        // 3. Customers, models, machines, keys.
        let customers: [[String: Any]] = [
            ["name": "Huaxia Construction Group", "currency": "CNY", "time_zone": "Asia/Shanghai", "billing_email": "ap@huaxia-construction.example", "tax_id": "91110000HXCG0001"],
            ["name": "Eastern Harbour Hospital", "currency": "CNY", "time_zone": "Asia/Shanghai", "billing_email": "finance@eh-hospital.example", "tax_id": "12310000EHH0002"],
            ["name": "Precision Works Suzhou", "currency": "CNY", "time_zone": "Asia/Shanghai", "billing_email": "ap@precision-suzhou.example", "tax_id": "91320500PWS0003"],
        ]
        var customerIDs: [String] = []
        for customer in customers { customerIDs.append(try await post("/api/v1/customers", key: maker, customer)["id"] as! String) }
        let models = [
            try await post("/api/v1/device-models", key: maker, ["name": "QX-360 excavator", "category": "excavator", "machine_group": "class_iii",
                                                                  "health_profile": ["iso_group": 2, "foundation": "flexible"]])["id"] as! String,
            try await post("/api/v1/device-models", key: maker, ["name": "ScanPro 128 CT", "category": "ct_scanner", "machine_group": "class_ii",
                                                                  "health_profile": ["iso_group": 2, "foundation": "rigid", "temperature_limit_c": 80]])["id"] as! String,
            try await post("/api/v1/device-models", key: maker, ["name": "VMC-850 machining centre", "category": "cnc", "machine_group": "class_ii"])["id"] as! String,
        ]
        var machines: [Machine] = []
        for number in 1...12 {
            var machine = Machine(serial: String(format: "EX-%02d", number), customer: 0, scenario: [3, 11].contains(number) ? .overload : .healthy)
            if number == 7 {
                // One excavator's bearing wears out over the last weeks: zone D and an alarm.
                machine.scenario = .bearingWear
                machine.wearStart = nowMicros - 40 * Self.day
                machine.wearDays = 38
            }
            machines.append(machine)
        }
        for number in 1...4 { machines.append(Machine(serial: String(format: "CT-%02d", number), customer: 1, scenario: .healthy)) }
        for number in 1...10 { machines.append(Machine(serial: String(format: "CNC-%02d", number), customer: 2, scenario: number == 4 ? .overload : .healthy)) }
        var deviceIDs: [[String]] = [[], [], []]
        let commissioned = RFC3339.format(microseconds: nowMicros - 400 * Self.day)
        for machine in machines {
            let id = try await post("/api/v1/devices", key: maker, ["serial": machine.serial, "model": models[machine.customer],
                                                                     "customer": customerIDs[machine.customer], "commissioned_at": commissioned])["id"] as! String
            deviceIDs[machine.customer].append(id)
        }
        var customerKeys: [String] = []
        for (index, id) in customerIDs.enumerated() {
            customerKeys.append(try await post("/api/v1/api-keys", key: maker, ["role": "customer", "customer": id, "name": "demo \(customers[index]["name"]!)"])["key"] as! String)
        }
        progress(3, "3 customers, 26 machines, keys bound to each customer")

        // 4. Subscriptions from the first day of last month, contracts signed by both parties.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let today = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: Double(nowMicros) / 1e6))
        let lastMonth = calendar.date(from: DateComponents(year: today.year, month: today.month! - 1, day: 1))!
        let start = RFC3339.format(microseconds: Int64(lastMonth.timeIntervalSince1970) * 1_000_000)
        let makerSigner = signingKey("maker")
        _ = try await post("/api/v1/signing-keys", key: maker, ["owner": "maker", "public_key": makerSigner.publicKey.rawRepresentation.base64EncodedString()])
        let planKeys = ["excavator-fleet", "ct-per-diagnosis", "cnc-rental"], tiers = ["emergency", "standard", "emergency"]
        var subscriptionIDs: [String] = []
        for index in 0..<3 {
            let customerSigner = signingKey("customer-\(index)")
            _ = try await post("/api/v1/signing-keys", key: customerKeys[index],
                               ["owner": "customer", "customer": customerIDs[index], "public_key": customerSigner.publicKey.rawRepresentation.base64EncodedString()])
            let subscription = try await post("/api/v1/subscriptions", key: maker, [
                "customer": customerIDs[index], "plan_key": planKeys[index], "devices": deviceIDs[index], "start": start, "time_zone": "Asia/Shanghai",
                "sla_tier": tiers[index], "data_use": ["purposes": ["billing", "maintenance"], "retention_days": 365, "partner_sharing": false],
            ])
            subscriptionIDs.append(subscription["id"] as! String)
            let contract = subscription["contract"] as! [String: Any]
            let hash = contract["sha256"] as! String, contractID = contract["id"] as! String
            for (signer, key) in [(makerSigner, maker), (customerSigner, customerKeys[index])] {
                _ = try await post("/api/v1/contracts/\(contractID)/signatures", key: key, [
                    "public_key": signer.publicKey.rawRepresentation.base64EncodedString(),
                    "signature": try signer.signature(for: Data(hash.utf8)).base64EncodedString(),
                ])
            }
        }
        progress(4, "subscriptions from \(start), contracts signed with Ed25519 by maker and customer")

        // 5. Sixty days of telemetry from the edge simulator, and the hospital's diagnoses.
        let step = Int64(Self.intervalSeconds) * 1_000_000
        let to = nowMicros / step * step, from = to - 60 * Self.day
        let batches = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            let seed = self.seed
            for (index, machine) in machines.enumerated() {
                group.addTask {
                    let simulator = DeviceSimulator(scenario: machine.scenario, seed: seed &+ UInt64(index), serial: machine.serial,
                                                    intervalSeconds: Self.intervalSeconds, windowSeconds: 0.5, samplesPerSecond: 512,
                                                    wearStartMicros: machine.wearStart, wearDays: machine.wearDays)
                    let settings = EdgeSettings()
                    var state = settings.stateMachine()
                    var events: [String] = []
                    for at in simulator.intervalStarts(fromMicros: from, toMicros: to) {
                        events += EdgeEvents.build(simulator.interval(at: at), settings: settings, state: &state).map(\.json)
                    }
                    if machine.customer == 1 { events += Self.diagnoses(serial: machine.serial, seed: seed &+ UInt64(index), from: from, to: to) }
                    return (index, events)
                }
            }
            // In the machines' order, whichever finished first: the same seed uploads the same batches.
            var byMachine: [Int: [String]] = [:]
            for try await (index, events) in group { byMachine[index] = events }
            return byMachine.keys.sorted().flatMap { byMachine[$0]! }
        }
        progress(5, "60 days of telemetry simulated: \(batches.count) events from 26 machines (vibration cleaned, features, zones, states)")
        let chunks = stride(from: 0, to: batches.count, by: 5_000).map { Array(batches[$0..<min($0 + 5_000, batches.count)]) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            for _ in 0..<2 {
                guard next < chunks.count else { break }
                let chunk = chunks[next]; next += 1
                group.addTask { _ = try await call(.POST, "/api/v1/events", key: maker, body: "[" + chunk.joined(separator: ",") + "]", contentType: "application/cloudevents-batch+json") }
            }
            while try await group.next() != nil {
                guard next < chunks.count else { continue }
                let chunk = chunks[next]; next += 1
                group.addTask { _ = try await call(.POST, "/api/v1/events", key: maker, body: "[" + chunk.joined(separator: ",") + "]", contentType: "application/cloudevents-batch+json") }
            }
        }
        _ = try await store.health.project(limit: 50, rounds: .max)
        progress(6, "uploaded and projected into fleet health")

        // 7. Bill last month, pay the construction group's invoice.
        _ = try await post("/api/v1/billing/run", key: maker, ["at": RFC3339.format(microseconds: nowMicros)])
        let invoices = try await call(.GET, "/api/v1/invoices?limit=100", key: maker) as? [[String: Any]] ?? []
        if let invoice = invoices.first(where: { $0["subscription"] as? String == subscriptionIDs[0] && $0["status"] as? String == "finalized" }) {
            _ = try await post("/api/v1/invoices/\(invoice["id"] as! String)/payments", key: maker, ["amount": invoice["amount_due"] as! String, "currency": "CNY"])
        }
        progress(7, "last month billed and finalized (\(invoices.count) invoices), one paid")
        return [("maker (Qilin Heavy Machinery)", maker), ("operator", operatorKey)]
            + customers.enumerated().map { ("customer (\($0.element["name"]!))", customerKeys[$0.offset]) }
    }

    /// A CT scanner's diagnoses: 15–40 on a weekday, fewer at weekends, between 08:00 and 20:00 Shanghai time.
    static func diagnoses(serial: String, seed: UInt64, from: Int64, to: Int64) -> [String] {
        var events: [String] = []
        var dayStart = from / day * day - 8 * 3_600_000_000  // Shanghai midnight
        while dayStart < to {
            var random = SeededRandom(seed: seed, UInt64(bitPattern: dayStart / day), 0xC7)
            let weekday = ((dayStart + 8 * 3_600_000_000) / day + 4) % 7  // 0 = Sunday
            let count = (weekday == 0 || weekday == 6 ? 8 : 15) + Int(random.next() % 26)
            for number in 0..<count {
                let at = dayStart + 8 * 3_600_000_000 + Int64(random.unit() * 12 * 3_600_000_000)
                guard at >= from, at < to else { continue }
                let part = ["head", "chest", "abdomen", "spine", "pelvis"][Int(random.next() % 5)]
                events.append(JSONText.serialize([
                    "specversion": "1.0", "id": "scan-\(serial)-\(dayStart / day)-\(number)", "source": "pacs/\(serial)", "type": "scan.completed",
                    "subject": serial, "time": RFC3339.format(microseconds: at), "data": ["body_part": part, "contrast": random.unit() < 0.3],
                ] as [String: Any]))
            }
            dayStart += day
        }
        return events
    }
}
