import ArgumentParser
import PortwardAgent

extension Portward {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", _superCommandName: "portward",
            abstract: "Validate the configuration and print the merged plan. Changes nothing.",
            discussion: "Reads the kernel's current reservation when it can (any user may), to show what is already reserved by others and what apply would add or release.")

        @OptionGroup var options: CommonOptions

        @Flag(help: "Report the safety-rail error as a warning, as apply --force would.")
        var force = false

        func run() throws {
            try exiting { () throws(ExitStatus) in try CheckCommand(context: options.context, force: force).run() }
        }
    }
}
