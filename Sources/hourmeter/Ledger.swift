import ArgumentParser
import Foundation
import HourmeterServer
import HourmeterStore

struct Ledger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the ledger.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk every hash chain, check every entry balances, recompute every finalized invoice; exit 1 at the first discrepancy.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let report = try await Store.withStore(try database.location(), logger: makeLogger("hourmeter"),
                                                   nowMicros: ServerConfiguration.systemClock(), mode: .administration) { store in
                try await LedgerVerification(store: store).run()
            }
            if let discrepancy = report.discrepancy {
                print("ledger verify: FAILED after \(report.entries) entries and \(report.invoices) invoices: \(discrepancy)")
                throw ExitCode(1)
            }
            print("ledger verify: OK — \(report.entries) entries chained and balanced, \(report.invoices) finalized invoices recomputed")
        }
    }
}
