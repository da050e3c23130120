import ArgumentParser
import PortwardAgent
import PortwardLinux

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Prefix every configuration and state path with DIR (for image builds and tests), like systemd-sysctl --root. The kernel keys are not affected.",
        valueName: "DIR"))
    var root: String = "/"

    /// The target the command acts on.
    var context: TargetContext { TargetContext(root: root) }
}

/// Runs a library command, turning its `ExitStatus` into ArgumentParser's `ExitCode`.
func exiting(_ body: () throws(ExitStatus) -> Void) throws {
    do { try body() } catch { throw ExitCode(error.code) }
}
