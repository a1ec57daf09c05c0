import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// `GET|POST /api/v1/meters/{slug}/query`, OpenMeter-compatible, answered from rollups.
struct QueryRoutes {
    let store: Store
    let configuration: ServerConfiguration
    let meters: MeterRoutes

    /// The query's fields, from the URL (GET) or a JSON body (POST).
    struct Parameters: Decodable {
        var from: String?
        var to: String?
        var windowSize: String?
        var windowTimeZone: String?
        var subject: [String]?
        var groupBy: [String]?
        var filterGroupBy: [String: String]?
    }

    static let maxSubjects = 100
    static let maxGroupBy = 16

    func register(on group: RouterGroup<AppRequestContext>) {
        group.get("meters/{slug}/query") { request, context -> Response in
            let caller = try context.requireCaller()
            let query = request.uri.queryParameters
            var filters: [String: String] = [:]
            for (rawKey, value) in query {
                // Clients usually percent-encode the brackets (filterGroupBy%5Bstate%5D=idle);
                // Hummingbird decodes values but not keys, so only the key is decoded here.
                let key = String(rawKey).removingPercentEncoding ?? String(rawKey)
                guard key.hasPrefix("filterGroupBy["), key.hasSuffix("]") else { continue }
                filters[String(key.dropFirst("filterGroupBy[".count).dropLast())] = String(value)
            }
            let parameters = Parameters(
                from: query.get("from"), to: query.get("to"), windowSize: query.get("windowSize"),
                windowTimeZone: query.get("windowTimeZone"), subject: query.getAll("subject"),
                groupBy: query.getAll("groupBy"), filterGroupBy: filters)
            return try await answer(parameters, request: request, context: context, caller: caller)
        }
        group.post("meters/{slug}/query") { request, context -> Response in
            let caller = try context.requireCaller()
            let parameters = try await HTTPHelpers.decode(Parameters.self, from: request, limit: configuration.limits.maxBodyBytes)
            return try await answer(parameters, request: request, context: context, caller: caller)
        }
    }

    func answer(_ parameters: Parameters, request: Request, context: AppRequestContext, caller: Caller) async throws -> Response {
        let meter = try await meters.meter(context, caller)
        let wantsCSV = (request.headers[.accept] ?? "").contains("text/csv")
        var issues: [APIError.FieldIssue] = []

        func instant(_ name: String, _ text: String?) -> Int64? {
            guard let text else { return nil }
            guard let micros = RFC3339.parseMicroseconds(text) else {
                issues.append(.init(field: name, reason: "not an RFC 3339 timestamp"))
                return nil
            }
            guard micros % 60_000_000 == 0 else {
                issues.append(.init(field: name, reason: "must fall on a whole minute (usage is kept per minute)"))
                return nil
            }
            return micros / 1_000_000
        }
        var from = instant("from", parameters.from)
        var to = instant("to", parameters.to)
        var windowSize: WindowSize?
        if let text = parameters.windowSize {
            windowSize = WindowSize(rawValue: text)
            if windowSize == nil { issues.append(.init(field: "windowSize", reason: "must be MINUTE, HOUR, DAY or MONTH")) }
        }
        var timeZone = TimeZone(identifier: "UTC")!
        if let name = parameters.windowTimeZone {
            if let zone = TimeZone(identifier: name) { timeZone = zone } else {
                issues.append(.init(field: "windowTimeZone", reason: "not an IANA time zone"))
            }
        }
        let subjects = parameters.subject ?? []
        if subjects.count > Self.maxSubjects { issues.append(.init(field: "subject", reason: "at most \(Self.maxSubjects) subjects")) }
        let groupBy = parameters.groupBy ?? []
        let known = Set(meter.definition.groupBy.map(\.name))
        for name in groupBy where name != "subject" && !known.contains(name) {
            issues.append(.init(field: "groupBy", reason: "\(name) is not a group of meter \(meter.definition.slug)"))
        }
        for name in (parameters.filterGroupBy ?? [:]).keys where !known.contains(name) {
            issues.append(.init(field: "filterGroupBy[\(name)]", reason: "\(name) is not a group of meter \(meter.definition.slug)"))
        }
        guard issues.isEmpty else { throw APIError.validation("invalid meter query", issues) }

        // Defaults: up to the end of the current minute; from the first hour with usage.
        if to == nil { to = (configuration.nowMicros() / 60_000_000 + 1) * 60 }
        if from == nil { from = try await store.events.firstUsageHour(meter: meter).map { min($0, to! - 60) } ?? (to! - 3600) }
        let plan: WindowPlan
        do {
            plan = try WindowPlan(from: from!, to: to!, size: windowSize, timeZone: timeZone, maxWindows: configuration.limits.maxQueryWindows)
        } catch {
            throw APIError.validation("invalid meter query", [.init(field: error.field, reason: error.reason)])
        }
        let planned = ContinuousClock.now
        let rows = try await store.events.usage(meter: meter, query: UsageQuery(
            fromSeconds: from!, toSeconds: to!, windows: plan, subjects: subjects, groupBy: groupBy,
            filterGroupBy: parameters.filterGroupBy ?? [:]))
        let read = ContinuousClock.now
        let groupNames = groupBy.filter { $0 != "subject" }
        let response = wantsCSV ? csv(rows, groupNames: groupNames) : json(rows, from: from!, to: to!, windowSize: windowSize)
        context.logger.debug("meter query", metadata: ["rows": "\(rows.count)", "read": "\(read - planned)", "render": "\(ContinuousClock.now - read)"])
        return response
    }

    /// Values are written as exact JSON numbers from their decimal text, never through a Double.
    func json(_ rows: [UsageRow], from: Int64, to: Int64, windowSize: WindowSize?) -> Response {
        var out = "{\"from\":\(JSONText.quoted(HTTPHelpers.timestamp(from * 1_000_000))),\"to\":\(JSONText.quoted(HTTPHelpers.timestamp(to * 1_000_000)))"
        out += ",\"windowSize\":" + (windowSize.map { JSONText.quoted($0.rawValue) } ?? "null") + ",\"data\":["
        for (offset, row) in rows.enumerated() {
            if offset > 0 { out += "," }
            out += "{\"value\":\(row.value.description),\"windowStart\":\(JSONText.quoted(HTTPHelpers.timestamp(row.windowStart * 1_000_000)))"
            out += ",\"windowEnd\":\(JSONText.quoted(HTTPHelpers.timestamp(row.windowEnd * 1_000_000)))"
            out += ",\"subject\":" + (row.subject.map(JSONText.quoted) ?? "null") + ",\"groupBy\":{"
            out += row.groupBy.keys.sorted().map { name in
                JSONText.quoted(name) + ":" + ((row.groupBy[name] ?? nil).map(JSONText.quoted) ?? "null")
            }.joined(separator: ",")
            out += "}}"
        }
        out += "]}"
        return HTTPHelpers.json(text: Data(out.utf8))
    }

    func csv(_ rows: [UsageRow], groupNames: [String]) -> Response {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        var out = (["window_start", "window_end", "subject"] + groupNames + ["value"]).map(field).joined(separator: ",") + "\r\n"
        for row in rows {
            var cells = [HTTPHelpers.timestamp(row.windowStart * 1_000_000), HTTPHelpers.timestamp(row.windowEnd * 1_000_000), row.subject ?? ""]
            cells += groupNames.map { (row.groupBy[$0] ?? nil) ?? "" }
            cells.append(row.value.description)
            out += cells.map(field).joined(separator: ",") + "\r\n"
        }
        return HTTPHelpers.text(out, contentType: "text/csv; charset=utf-8")
    }
}
