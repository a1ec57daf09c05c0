import Foundation
import HourmeterCore
import SQLKit

/// A plan: a named price list in one currency and billing interval, with numbered versions.
public struct Plan: Sendable, Equatable {
    public var key: String
    public var name: String
    public var description: String?
    public var currency: Currency
    public var interval: BillingInterval
    public var createdAtMicros: Int64
    /// The highest published version; nil for a plan without versions yet.
    public var latestVersion: Int?
}

/// A published plan version: immutable once stored (the database refuses updates and deletes).
public struct PublishedPlanVersion: Sendable, Equatable {
    public var planKey: String
    public var number: Int
    public var version: PlanVersion
    /// SHA-256 of the canonical document: what contracts and invoices name.
    public var sha256: String
    public var publishedAtMicros: Int64
}

public enum PlanStoreError: Error, Sendable, Equatable {
    case keyTaken(String)
    case noSuchPlan(String)
    /// A version with this number is published already; published versions never change.
    case versionPublished(plan: String, number: Int)
    /// The requested number is not the next one.
    case versionOutOfOrder(plan: String, requested: Int, next: Int)
}

public protocol PlanStore: Sendable {
    /// Creates the plan, and publishes `firstVersion` as version 1 when given, atomically.
    func createPlan(tenantID: String, key: String, name: String, description: String?, currency: Currency, interval: BillingInterval,
                    firstVersion: PlanVersion?, nowMicros: Int64) async throws -> (Plan, PublishedPlanVersion?)
    func plan(tenantID: String, key: String) async throws -> Plan?
    /// Plans ordered by key, after the cursor `after`.
    func plans(tenantID: String, limit: Int, after: String?) async throws -> [Plan]
    /// Publishes the next version. `expectedNumber`, when given, must be that next number:
    /// naming a published one is `versionPublished`, which the API answers with 409.
    func publishVersion(tenantID: String, planKey: String, version: PlanVersion, expectedNumber: Int?,
                        nowMicros: Int64) async throws -> PublishedPlanVersion
    /// Version `number`, or the latest when nil.
    func version(tenantID: String, planKey: String, number: Int?) async throws -> PublishedPlanVersion?
    /// Every version, oldest first.
    func versions(tenantID: String, planKey: String) async throws -> [PublishedPlanVersion]
}

struct SQLPlanStore: PlanStore {
    let backend: any SQLBackend

    func createPlan(tenantID: String, key: String, name: String, description: String?, currency: Currency, interval: BillingInterval,
                    firstVersion: PlanVersion?, nowMicros: Int64) async throws -> (Plan, PublishedPlanVersion?) {
        try await backend.transaction { db in
            let inserted = try await db.raw("""
                INSERT INTO plans (tenant_id, key, name, description, currency, billing_interval, created_at)
                VALUES (\(bind: tenantID), \(bind: key), \(bind: name), \(bind: description), \(bind: currency.code),
                        \(bind: interval.rawValue), \(bind: nowMicros))
                ON CONFLICT DO NOTHING RETURNING key
                """).first()
            guard inserted != nil else { throw PlanStoreError.keyTaken(key) }
            var plan = Plan(key: key, name: name, description: description, currency: currency, interval: interval,
                            createdAtMicros: nowMicros, latestVersion: nil)
            guard let firstVersion else { return (plan, nil) }
            let published = try await Self.insertVersion(firstVersion, number: 1, tenantID: tenantID, planKey: key, nowMicros: nowMicros, on: db)
            plan.latestVersion = 1
            return (plan, published)
        }
    }

    func plan(tenantID: String, key: String) async throws -> Plan? {
        try await backend.read { db in
            try await db.raw("\(unsafeRaw: Self.planSelect) WHERE p.tenant_id = \(bind: tenantID) AND p.key = \(bind: key)").first().map(Self.plan)
        }
    }

    func plans(tenantID: String, limit: Int, after: String?) async throws -> [Plan] {
        try await backend.read { db in
            try await db.raw("""
                \(unsafeRaw: Self.planSelect) WHERE p.tenant_id = \(bind: tenantID) AND p.key > \(bind: after ?? "")
                ORDER BY p.key LIMIT \(literal: limit)
                """).all().map(Self.plan)
        }
    }

    func publishVersion(tenantID: String, planKey: String, version: PlanVersion, expectedNumber: Int?,
                        nowMicros: Int64) async throws -> PublishedPlanVersion {
        let engine = backend.engine
        return try await backend.transaction { db in
            // PostgreSQL: the plan row's lock orders concurrent publishers; SQLite has one writer.
            let lock = engine == .postgres ? " FOR UPDATE" : ""
            guard try await db.raw("""
                SELECT key FROM plans WHERE tenant_id = \(bind: tenantID) AND key = \(bind: planKey)\(unsafeRaw: lock)
                """).first() != nil else { throw PlanStoreError.noSuchPlan(planKey) }
            let latest = try await db.raw("""
                SELECT MAX(version) AS latest FROM plan_versions WHERE tenant_id = \(bind: tenantID) AND plan_key = \(bind: planKey)
                """).first()?.decode(column: "latest", as: Int?.self) ?? 0
            let next = latest + 1
            if let expectedNumber, expectedNumber != next {
                if expectedNumber >= 1, expectedNumber <= latest { throw PlanStoreError.versionPublished(plan: planKey, number: expectedNumber) }
                throw PlanStoreError.versionOutOfOrder(plan: planKey, requested: expectedNumber, next: next)
            }
            return try await Self.insertVersion(version, number: next, tenantID: tenantID, planKey: planKey, nowMicros: nowMicros, on: db)
        }
    }

    func version(tenantID: String, planKey: String, number: Int?) async throws -> PublishedPlanVersion? {
        try await backend.read { db in
            let filter: SQLQueryString = number.map { "AND version = \(bind: $0)" } ?? "ORDER BY version DESC LIMIT 1"
            return try await db.raw("""
                SELECT * FROM plan_versions WHERE tenant_id = \(bind: tenantID) AND plan_key = \(bind: planKey) \(filter)
                """).first().map(Self.version)
        }
    }

    func versions(tenantID: String, planKey: String) async throws -> [PublishedPlanVersion] {
        try await backend.read { db in
            try await db.raw("""
                SELECT * FROM plan_versions WHERE tenant_id = \(bind: tenantID) AND plan_key = \(bind: planKey) ORDER BY version
                """).all().map(Self.version)
        }
    }

    private static func insertVersion(_ version: PlanVersion, number: Int, tenantID: String, planKey: String, nowMicros: Int64,
                                      on db: any SQLDatabase) async throws -> PublishedPlanVersion {
        let document = String(decoding: version.canonicalJSON(), as: UTF8.self)
        let sha256 = version.sha256
        try await db.raw("""
            INSERT INTO plan_versions (tenant_id, plan_key, version, document, sha256, published_at)
            VALUES (\(bind: tenantID), \(bind: planKey), \(bind: number), \(bind: document), \(bind: sha256), \(bind: nowMicros))
            """).run()
        return PublishedPlanVersion(planKey: planKey, number: number, version: version, sha256: sha256, publishedAtMicros: nowMicros)
    }

    private static let planSelect = """
        SELECT p.*, (SELECT MAX(v.version) FROM plan_versions v WHERE v.tenant_id = p.tenant_id AND v.plan_key = p.key) AS latest
        FROM plans p
        """

    private static func plan(_ row: any SQLRow) throws -> Plan {
        let code = try row.decode(column: "currency", as: String.self)
        let intervalText = try row.decode(column: "billing_interval", as: String.self)
        guard let currency = Currency(code: code), let interval = BillingInterval(rawValue: intervalText) else {
            throw StoreError.unavailable("stored plan has an unknown currency or interval")
        }
        return Plan(key: try row.decode(column: "key", as: String.self), name: try row.decode(column: "name", as: String.self),
                    description: try row.decode(column: "description", as: String?.self), currency: currency, interval: interval,
                    createdAtMicros: try row.decode(column: "created_at", as: Int64.self),
                    latestVersion: try row.decode(column: "latest", as: Int?.self))
    }

    private static func version(_ row: any SQLRow) throws -> PublishedPlanVersion {
        let document = try row.decode(column: "document", as: String.self)
        let version: PlanVersion
        do { version = try PlanVersion.parse(json: Data(document.utf8)) } catch {
            // Stored documents were valid when published; failing now means the code changed under them.
            throw StoreError.unavailable("stored plan version no longer parses: \(error)")
        }
        return PublishedPlanVersion(planKey: try row.decode(column: "plan_key", as: String.self),
                                    number: try row.decode(column: "version", as: Int.self), version: version,
                                    sha256: try row.decode(column: "sha256", as: String.self),
                                    publishedAtMicros: try row.decode(column: "published_at", as: Int64.self))
    }
}
