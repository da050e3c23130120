import PortwardCore
import PortwardLinux

extension TargetContext {
    /// Loads the target's configuration, printing every diagnostic to `terminal`'s stderr.
    /// Throws `.configurationError` when any diagnostic is an error.
    func loadConfiguration(reportingTo terminal: any Terminal) throws(ExitStatus) -> Configuration {
        try loadConfigurationFiles(reportingTo: terminal).configuration
    }

    /// `loadConfiguration`, returning the whole load (every entry, whatever its scope).
    func loadConfigurationFiles(reportingTo terminal: any Terminal) throws(ExitStatus) -> ConfigLoader.Result {
        let loaded = ConfigLoader(root: root).load()
        terminal.report(loaded.diagnostics)
        if loaded.hasErrors { throw .configurationError }
        return loaded
    }
}
