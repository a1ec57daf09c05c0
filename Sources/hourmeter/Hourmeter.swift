import ArgumentParser

/// The command line. `@main` stays short: each command lives in its own file.
@main
struct Hourmeter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hourmeter",
        abstract: "Metering, pricing and billing for machines sold as a service.",
        subcommands: [Demo.self, Serve.self, Keys.self, Ledger.self, Edge.self, Bench.self])
}
