import ArgumentParser
import Foundation
import HourmeterStore
import Logging

/// Where the data lives: `--database` (or HOURMETER_DATABASE_URL) for PostgreSQL, otherwise
/// SQLite under `--data-dir` (or HOURMETER_DATA_DIR, default ./.hourmeter).
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Folder of the embedded SQLite database (env HOURMETER_DATA_DIR, default ./.hourmeter).")
    var dataDir: String?

    @Option(name: .customLong("database"), help: "postgres://user:pass@host:port/db to use PostgreSQL instead (env HOURMETER_DATABASE_URL).")
    var database: String?

    func location() throws -> DatabaseLocation {
        if let url = database ?? Environment.string("HOURMETER_DATABASE_URL"), !url.isEmpty {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw ValidationError("--database takes a postgres:// URL")
            }
            return .postgres(url: url)
        }
        return .sqlite(directory: dataDir ?? Environment.string("HOURMETER_DATA_DIR") ?? "./.hourmeter")
    }
}

enum Environment {
    static func string(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }

    static func int(_ name: String) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text) else { throw ValidationError("\(name) must be an integer, not \(text)") }
        return value
    }
}

func makeLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = Environment.string("HOURMETER_LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}
