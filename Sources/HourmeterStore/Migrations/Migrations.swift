import Foundation
import SQLKit

/// One named schema step. Migrations are append-only: a landed migration is never edited;
/// a change is a new migration. They run in order at start-up, each in its own transaction.
struct Migration: Sendable {
    var name: String
    var statements: @Sendable (SQLEngine) -> [String]
}

/// Column types that differ between the engines.
struct ColumnTypes {
    let engine: SQLEngine
    /// Exact decimal: NUMERIC on PostgreSQL, canonical TEXT on SQLite (merged in Swift).
    var decimal: String { engine == .postgres ? "NUMERIC" : "TEXT" }
    var blob: String { engine == .postgres ? "BYTEA" : "BLOB" }
    /// Sensor physics (never money): a binary float.
    var double: String { engine == .postgres ? "DOUBLE PRECISION" : "REAL" }
    var serialKey: String { engine == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY" }
    /// Clustered tables in SQLite: the primary key is the row, no second B-tree.
    var withoutRowID: String { engine == .postgres ? "" : " WITHOUT ROWID" }
}

enum Migrations {
    static let all: [Migration] = [
        Migration(name: "0001_tenants_and_api_keys") { _ in [
            """
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), role TEXT NOT NULL,
                key_hash TEXT NOT NULL UNIQUE, name TEXT, created_at BIGINT NOT NULL, revoked_at BIGINT)
            """,
            "CREATE INDEX api_keys_tenant ON api_keys (tenant_id)",
        ] },
        Migration(name: "0002_meters") { _ in [
            """
            CREATE TABLE meters (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), slug TEXT NOT NULL,
                name TEXT, description TEXT, event_type TEXT NOT NULL, aggregation TEXT NOT NULL,
                value_property TEXT, group_by TEXT NOT NULL, skipped BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL, UNIQUE (tenant_id, slug))
            """,
        ] },
        Migration(name: "0003_event_log") { engine in
            let types = ColumnTypes(engine: engine)
            var statements = [
                // The raw event log: one row per acknowledged batch, append-only, in arrival order.
                // `identity_keys` holds the batch's 64-bit identity keys, 8 bytes each, so the
                // dedup index can be rebuilt without decoding bodies.
                """
                CREATE TABLE event_batches (
                    seq \(types.serialKey), tenant_id TEXT NOT NULL, received_at BIGINT NOT NULL,
                    event_count INTEGER NOT NULL, min_time BIGINT NOT NULL, max_time BIGINT NOT NULL,
                    body \(types.blob) NOT NULL, identity_keys \(types.blob) NOT NULL)
                """,
                "CREATE INDEX event_batches_tenant ON event_batches (tenant_id, seq)",
            ]
            if engine == .postgres {
                // Shared by every process: the dedup index lives in the database.
                statements.append("CREATE TABLE event_keys (key BIGINT PRIMARY KEY, batch_seq BIGINT NOT NULL)")
            }
            return statements
        },
        Migration(name: "0004_rollups") { engine in
            let types = ColumnTypes(engine: engine)
            return [
                // One row per meter, hour, subject and group: the hour's aggregate in columns
                // (what hour, day and month windows read) and its minutes in `minutes`
                // (see `MinuteSlotCodec`) for minute windows.
                """
                CREATE TABLE rollups (
                    meter_id TEXT NOT NULL, bucket BIGINT NOT NULL, subject TEXT NOT NULL, group_key TEXT NOT NULL,
                    cnt BIGINT NOT NULL, total \(types.decimal) NOT NULL, min_value \(types.decimal),
                    max_value \(types.decimal), latest_time BIGINT, latest_value \(types.decimal),
                    minutes \(types.blob) NOT NULL,
                    PRIMARY KEY (meter_id, subject, bucket, group_key))\(types.withoutRowID)
                """,
                // Keyed by subject first: a machine's month is a few adjacent pages, which is
                // what keeps a 31-day query for one subject in single-digit milliseconds.
                // Queries over all subjects use the bucket index.
                "CREATE INDEX rollups_bucket ON rollups (meter_id, bucket)",
                // Distinct values per minute, for UNIQUE_COUNT meters.
                """
                CREATE TABLE rollup_distinct (
                    meter_id TEXT NOT NULL, bucket BIGINT NOT NULL, subject TEXT NOT NULL, group_key TEXT NOT NULL,
                    value TEXT NOT NULL, PRIMARY KEY (meter_id, bucket, subject, group_key, value))\(types.withoutRowID)
                """,
                "CREATE INDEX rollup_distinct_subject ON rollup_distinct (meter_id, subject, bucket)",
            ]
        },
        // How far the rollups have folded the event log (SQLite folds after commit, see
        // `SQLUsageStore`); batches after the watermark are folded again at start-up.
        Migration(name: "0005_rollup_watermark") { _ in [
            "CREATE TABLE rollup_state (id INTEGER PRIMARY KEY, watermark BIGINT NOT NULL)",
            "INSERT INTO rollup_state (id, watermark) SELECT 1, COALESCE(MAX(seq), 0) FROM event_batches",
        ] },
        // PostgreSQL: batches committed but not yet folded into the rollups, shared by every
        // process (SQLite keeps them in memory behind the watermark above).
        Migration(name: "0006_rollup_queue") { engine in
            engine == .postgres ? ["CREATE TABLE rollup_queue (seq BIGINT PRIMARY KEY)"] : []
        },
        Migration(name: "0007_plans") { engine in
            var statements = [
                """
                CREATE TABLE plans (
                    tenant_id TEXT NOT NULL REFERENCES tenants(id), key TEXT NOT NULL, name TEXT NOT NULL, description TEXT,
                    currency TEXT NOT NULL, billing_interval TEXT NOT NULL, created_at BIGINT NOT NULL,
                    PRIMARY KEY (tenant_id, key))
                """,
                """
                CREATE TABLE plan_versions (
                    tenant_id TEXT NOT NULL, plan_key TEXT NOT NULL, version INTEGER NOT NULL, document TEXT NOT NULL,
                    sha256 TEXT NOT NULL, published_at BIGINT NOT NULL,
                    PRIMARY KEY (tenant_id, plan_key, version),
                    FOREIGN KEY (tenant_id, plan_key) REFERENCES plans (tenant_id, key))
                """,
            ]
            // Published versions are immutable: the database itself refuses to change them.
            statements += Self.refuseChanges(to: "plan_versions", name: "plan_versions_immutable",
                                             message: "published plan versions are immutable", engine: engine)
            return statements
        },
        Migration(name: "0008_customers_devices_contracts") { _ in [
            """
            CREATE TABLE customers (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL, currency TEXT NOT NULL,
                time_zone TEXT NOT NULL, billing_email TEXT, tax_id TEXT, address TEXT, created_at BIGINT NOT NULL)
            """,
            "CREATE INDEX customers_tenant ON customers (tenant_id, id)",
            """
            CREATE TABLE device_models (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT NOT NULL, category TEXT NOT NULL,
                machine_group TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE devices (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), serial TEXT NOT NULL,
                model_id TEXT NOT NULL REFERENCES device_models(id), customer_id TEXT REFERENCES customers(id),
                commissioned_at BIGINT, status TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (tenant_id, serial))
            """,
            """
            CREATE TABLE signing_keys (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), owner TEXT NOT NULL,
                customer_id TEXT REFERENCES customers(id), public_key TEXT NOT NULL, created_at BIGINT NOT NULL,
                UNIQUE (tenant_id, public_key))
            """,
            """
            CREATE TABLE subscriptions (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), customer_id TEXT NOT NULL REFERENCES customers(id),
                plan_key TEXT NOT NULL, plan_version INTEGER NOT NULL, devices TEXT NOT NULL, start_at BIGINT NOT NULL,
                anchor_at BIGINT NOT NULL, time_zone TEXT NOT NULL, trial_days INTEGER NOT NULL, sla_tier TEXT,
                ends_at BIGINT, contract_id TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            "CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id, id)",
            """
            CREATE TABLE contracts (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), subscription_id TEXT NOT NULL,
                sha256 TEXT NOT NULL, document TEXT NOT NULL, replaces TEXT, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE contract_signatures (
                contract_id TEXT NOT NULL REFERENCES contracts(id), signer TEXT NOT NULL, key_id TEXT NOT NULL REFERENCES signing_keys(id),
                signature TEXT NOT NULL, signed_at BIGINT NOT NULL, PRIMARY KEY (contract_id, signer))
            """,
        ] },
        Migration(name: "0009_invoices_and_ledger") { engine in
            var statements = [
                """
                CREATE TABLE invoices (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), subscription_id TEXT NOT NULL,
                    customer_id TEXT NOT NULL, period_start BIGINT NOT NULL, period_end BIGINT NOT NULL, currency TEXT NOT NULL,
                    status TEXT NOT NULL, number TEXT, total TEXT NOT NULL, paid TEXT NOT NULL, credited TEXT NOT NULL,
                    lines TEXT NOT NULL, evidence TEXT NOT NULL, contract_sha256 TEXT NOT NULL, grace_until BIGINT NOT NULL,
                    created_at BIGINT NOT NULL, finalized_at BIGINT,
                    UNIQUE (subscription_id, period_start), UNIQUE (tenant_id, number))
                """,
                "CREATE INDEX invoices_tenant ON invoices (tenant_id, status, grace_until)",
                "CREATE TABLE invoice_numbers (tenant_id TEXT PRIMARY KEY, last_number BIGINT NOT NULL)",
                """
                CREATE TABLE invoice_events (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, invoice_id TEXT NOT NULL REFERENCES invoices(id), kind TEXT NOT NULL,
                    amount TEXT NOT NULL, currency TEXT NOT NULL, reason TEXT, at BIGINT NOT NULL)
                """,
                "CREATE INDEX invoice_events_invoice ON invoice_events (invoice_id)",
                """
                CREATE TABLE ledger_entries (
                    tenant_id TEXT NOT NULL, sequence BIGINT NOT NULL, kind TEXT NOT NULL, reference TEXT NOT NULL,
                    postings TEXT NOT NULL, at BIGINT NOT NULL, previous_hash TEXT NOT NULL, hash TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, sequence))
                """,
            ]
            // The ledger is append-only: the database refuses to change or remove an entry.
            statements += Self.refuseChanges(to: "ledger_entries", name: "ledger_entries_append_only",
                                             message: "ledger entries are append-only", engine: engine)
            return statements
        },
        Migration(name: "0010_webhooks") { _ in [
            """
            CREATE TABLE webhook_endpoints (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), url TEXT NOT NULL, secret TEXT NOT NULL,
                event_types TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE webhook_deliveries (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
                event_id TEXT NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
                next_attempt_at BIGINT NOT NULL, created_at BIGINT NOT NULL)
            """,
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
            "CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at)",
            """
            CREATE TABLE webhook_attempts (
                delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id), attempt INTEGER NOT NULL, at BIGINT NOT NULL,
                status_code INTEGER, error TEXT, PRIMARY KEY (delivery_id, attempt))
            """,
        ] },
        Migration(name: "0011_revenue_shares") { _ in [
            """
            CREATE TABLE revenue_share_rules (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), party TEXT NOT NULL, percent TEXT NOT NULL,
                minimum_per_period TEXT NOT NULL, currency TEXT NOT NULL, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE revenue_share_settlements (
                rule_id TEXT NOT NULL REFERENCES revenue_share_rules(id), period_start BIGINT NOT NULL, settled_at BIGINT NOT NULL,
                PRIMARY KEY (rule_id, period_start))
            """,
        ] },
        Migration(name: "0012_subscription_phases") { _ in [
            """
            CREATE TABLE subscription_phases (
                subscription_id TEXT NOT NULL REFERENCES subscriptions(id), seq INTEGER NOT NULL, tenant_id TEXT NOT NULL,
                plan_key TEXT NOT NULL, plan_version INTEGER NOT NULL, contract_id TEXT NOT NULL REFERENCES contracts(id),
                starts_at BIGINT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (subscription_id, seq))
            """,
        ] },
        // Device health, projected from `device.telemetry` events (see `SQLHealthStore`).
        Migration(name: "0013_device_health") { engine in
            let types = ColumnTypes(engine: engine)
            return [
                // A device model's own zone boundaries and limits (JSON); NULL: the standard profile.
                "ALTER TABLE device_models ADD COLUMN health_profile TEXT",
                // Batches holding telemetry not yet projected, written in the batch's own transaction.
                "CREATE TABLE health_queue (seq BIGINT PRIMARY KEY)",
                // Batches stored before this migration are looked at once.
                "INSERT INTO health_queue (seq) SELECT seq FROM event_batches",
                // Batches whose projection failed, with the error, set aside so they cannot stop
                // every other device's health.
                "CREATE TABLE health_failed (seq BIGINT PRIMARY KEY, error TEXT NOT NULL, failed_at BIGINT NOT NULL)",
                """
                CREATE TABLE device_health_samples (
                    tenant_id TEXT NOT NULL, serial TEXT NOT NULL, time BIGINT NOT NULL, velocity_rms \(types.double) NOT NULL,
                    kurtosis \(types.double) NOT NULL, temperature \(types.double), health_index \(types.double) NOT NULL,
                    zone TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (tenant_id, serial, time))\(types.withoutRowID)
                """,
                """
                CREATE TABLE device_health (
                    tenant_id TEXT NOT NULL, serial TEXT NOT NULL, time BIGINT NOT NULL, health_index \(types.double) NOT NULL,
                    zone TEXT NOT NULL, state TEXT NOT NULL, velocity_rms \(types.double) NOT NULL, telemetry TEXT NOT NULL,
                    state_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, serial))
                """,
                """
                CREATE TABLE alarms (
                    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, serial TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
                    status TEXT NOT NULL, raised_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, cleared_at BIGINT,
                    occurrences INTEGER NOT NULL, health_index \(types.double) NOT NULL, velocity_rms \(types.double) NOT NULL,
                    zone TEXT NOT NULL)
                """,
                // One open alarm per device and kind, enforced by the database.
                "CREATE UNIQUE INDEX alarms_one_open ON alarms (tenant_id, serial, kind) WHERE status = 'open'",
                "CREATE INDEX alarms_tenant ON alarms (tenant_id, raised_at)",
                """
                CREATE TABLE alarm_events (
                    seq \(types.serialKey), tenant_id TEXT NOT NULL, alarm_id TEXT NOT NULL REFERENCES alarms(id), type TEXT NOT NULL,
                    at BIGINT NOT NULL, severity TEXT NOT NULL, health_index \(types.double) NOT NULL, velocity_rms \(types.double) NOT NULL,
                    zone TEXT NOT NULL)
                """,
                "CREATE INDEX alarm_events_alarm ON alarm_events (alarm_id, seq)",
            ]
        },
        // The console: customer keys bound to a customer, and sign-in sessions.
        Migration(name: "0014_console") { _ in [
            "ALTER TABLE api_keys ADD COLUMN customer_id TEXT REFERENCES customers(id)",
            // The session id is stored as its SHA-256 only, like API keys; `csrf` is the token
            // the session's forms carry.
            """
            CREATE TABLE console_sessions (
                id_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES api_keys(id), csrf TEXT NOT NULL,
                created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)
            """,
        ] },
    ]

    /// Triggers that make the database itself refuse UPDATE and DELETE on `table`: one
    /// PL/pgSQL function and trigger on PostgreSQL, two RAISE(ABORT) triggers on SQLite.
    static func refuseChanges(to table: String, name: String, message: String, engine: SQLEngine) -> [String] {
        if engine == .postgres {
            return [
                "CREATE FUNCTION \(name)() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '\(message)'; END $$",
                "CREATE TRIGGER \(name) BEFORE UPDATE OR DELETE ON \(table) FOR EACH ROW EXECUTE FUNCTION \(name)()",
            ]
        }
        return ["UPDATE", "DELETE"].map { event in
            "CREATE TRIGGER \(table)_no_\(event.lowercased()) BEFORE \(event) ON \(table) BEGIN SELECT RAISE(ABORT, '\(message)'); END"
        }
    }

    /// Applies every migration not yet recorded. On PostgreSQL an advisory lock keeps two
    /// starting processes from migrating at once.
    static func run(on backend: any SQLBackend, nowMicros: Int64) async throws {
        let engine = backend.engine
        try await backend.transaction { db in
            if engine == .postgres { try await db.raw("SELECT pg_advisory_xact_lock(4242001)").run() }
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)").run()
            let applied = Set(try await db.raw("SELECT name FROM schema_migrations").all().map { try $0.decode(column: "name", as: String.self) })
            for migration in all where !applied.contains(migration.name) {
                for statement in migration.statements(engine) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                try await db.raw("INSERT INTO schema_migrations (name, applied_at) VALUES (\(bind: migration.name), \(bind: nowMicros))").run()
            }
        }
    }
}
