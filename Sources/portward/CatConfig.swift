import ArgumentParser
import PortwardAgent

extension Portward {
    struct CatConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cat-config", _superCommandName: "portward",
            abstract: "Print the effective configuration files, each preceded by its path.",
            discussion: "Like systemd-sysctl --cat-config: the main file, then the drop-ins in the order they are read; masked and overridden drop-ins are listed as comments. A file that cannot be read is reported on stderr and makes the exit status 2; errors inside the files are not checked here (see check).")

        @OptionGroup var options: CommonOptions

        func run() throws {
            try exiting { () throws(ExitStatus) in try CatConfigCommand(context: options.context).run() }
        }
    }
}
