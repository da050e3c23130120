import PortwardCore
import PortwardLinux

/// `portward cat-config`: the effective configuration files, each after a `# PATH` line,
/// like `systemd-sysctl --cat-config`.
public struct CatConfigCommand {
    public let context: TargetContext

    public init(context: TargetContext) {
        self.context = context
    }

    /// Throws `.configurationError` when a file cannot be read (reported on stderr).
    public func run(on terminal: any Terminal = StandardTerminal()) throws(ExitStatus) {
        let loaded = ConfigLoader(root: context.root).load()
        terminal.out(loaded.catConfig)
        terminal.report(loaded.readErrors)
        if !loaded.readErrors.isEmpty { throw .configurationError }
    }
}
