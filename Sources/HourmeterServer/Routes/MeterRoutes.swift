import Foundation
import HourmeterCore
import HourmeterStore
import Hummingbird

/// Meters with OpenMeter's shape. A meter of another tenant is simply not found.
struct MeterRoutes {
    let store: Store
    let configuration: ServerConfiguration

    struct CreateMeter: Decodable {
        var slug: String?
        var name: String?
        var description: String?
        var eventType: String?
        var aggregation: String?
        var valueProperty: String?
        var groupBy: [String: String]?
    }

    struct MeterBody: Encodable {
        var id: String
        var slug: String
        var name: String?
        var description: String?
        var eventType: String
        var aggregation: String
        var valueProperty: String?
        var groupBy: [String: String]
        /// Events of this type that carried no usable value and so were not counted.
        var skipped: Int64
        var createdAt: String

        init(_ meter: Meter) {
            id = meter.id
            slug = meter.definition.slug
            name = meter.definition.name
            description = meter.definition.description
            eventType = meter.definition.eventType
            aggregation = meter.definition.aggregation.rawValue
            valueProperty = meter.definition.valueProperty?.text
            groupBy = Dictionary(uniqueKeysWithValues: meter.definition.groupBy.map { ($0.name, $0.path.text) })
            skipped = meter.skipped
            createdAt = HTTPHelpers.timestamp(meter.createdAtMicros)
        }
    }

    func register(on group: RouterGroup<AppRequestContext>) {
        group.post("meters") { request, context -> Response in
            let caller = try context.requireWriter()
            let body = try await HTTPHelpers.decode(CreateMeter.self, from: request, limit: configuration.limits.maxBodyBytes)
            let definition: MeterDefinition
            do {
                definition = try MeterDefinition(slug: body.slug, name: body.name, description: body.description, eventType: body.eventType,
                                                 aggregation: body.aggregation, valueProperty: body.valueProperty, groupBy: body.groupBy)
            } catch let error as MeterDefinitionError {
                throw APIError.validation("invalid meter", error.issues.map { .init(field: $0.field, reason: $0.reason) })
            }
            let meter = try await store.meters.createMeter(tenantID: caller.tenantID, definition: definition, nowMicros: configuration.nowMicros())
            return try HTTPHelpers.json(MeterBody(meter), status: .created)
        }
        group.get("meters") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(try await store.meters.meters(tenantID: caller.tenantID).map(MeterBody.init))
        }
        group.get("meters/{slug}") { _, context -> Response in
            let caller = try context.requireCaller()
            return try HTTPHelpers.json(MeterBody(try await meter(context, caller)))
        }
        group.delete("meters/{slug}") { _, context -> Response in
            let caller = try context.requireWriter()
            let slug = context.parameters.get("slug") ?? ""
            guard try await store.meters.deleteMeter(tenantID: caller.tenantID, slug: slug) else {
                throw APIError.notFound("no meter \(slug)")
            }
            return Response(status: .noContent)
        }
    }

    func meter(_ context: AppRequestContext, _ caller: Caller) async throws -> Meter {
        let slug = context.parameters.get("slug") ?? ""
        guard let meter = try await store.meters.meter(tenantID: caller.tenantID, slug: slug) else {
            throw APIError.notFound("no meter \(slug)")
        }
        return meter
    }
}
