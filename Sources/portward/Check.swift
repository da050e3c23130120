import ArgumentParser
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
    }
}
