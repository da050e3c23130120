import ArgumentParser
import PortwardCore
import PortwardLinux

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Prefix every configuration and state path with DIR (for image builds and tests), like systemd-sysctl --root. The kernel keys are not affected.",
        valueName: "DIR"))
    var root: String = "/"

    /// Loads the configuration, printing every diagnostic to stderr. Throws the
    /// configuration-error exit status when any diagnostic is an error.
    func loadConfiguration() throws -> Configuration {
        let loaded = ConfigLoader(root: root).load()
        Console.report(loaded.diagnostics)
        if loaded.diagnostics.contains(where: { $0.severity == .error }) {
            throw ExitStatus.configurationError
        }
        return loaded.configuration
    }

    var reconciler: Reconciler { Reconciler(root: root) }
}
