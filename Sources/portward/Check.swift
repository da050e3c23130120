import ArgumentParser
import Glibc
import PortwardCore
import PortwardLinux

extension Portward {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate the configuration and print the merged plan. Changes nothing.",
            discussion: "Reads the kernel's current reservation when it can (any user may), to show what is already reserved by others and what apply would add or release.")

        @OptionGroup var options: CommonOptions

        @Flag(help: "Report the safety-rail error as a warning, as apply --force would.")
        var force = false

        func run() throws {
            let configuration = try options.loadConfiguration()
            Console.report(Self.unknownOwners(configuration, root: options.root))
            PlanReport.printEntries(configuration)
            let reconciler = options.reconciler
            do {
                let (plan, warnings) = try reconciler.plan(configuration, force: force)
                Console.report(warnings + plan.diagnostics)
                PlanReport.printPlan(plan)
                if plan.isRefused { throw ExitStatus.refused }
            } catch let error as SysctlError {
                Console.error("cannot read the kernel's reservation (\(error)); plan not computed")
            }
        }

        /// Warnings for owners this host does not have (yet): a `user:NAME` unknown to NSS, an
        /// `exe:PATH` that does not exist under the root. Not errors: a package may create
        /// them later; until then every holder of the port counts as the wrong owner.
        static func unknownOwners(_ configuration: Configuration, root: String) -> [Diagnostic] {
            configuration.entries.compactMap { entry in
                switch entry.owner {
                case .user(.name(let name)) where UserDatabase.uid(named: name) == nil:
                    .warning("\(entry.name): user '\(name)' does not exist on this host; until it does, any holder of the port is reported as the wrong owner", at: entry.location)
                case .exe(let path) where access(RootedPath.join(root, path), F_OK) != 0:
                    .warning("\(entry.name): \(path) does not exist; until it does, any holder of the port is reported as the wrong owner", at: entry.location)
                default:
                    nil
                }
            }
        }
    }
}
