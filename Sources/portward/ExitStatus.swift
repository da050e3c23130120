import ArgumentParser

/// The documented exit statuses (see `portward --help` and portward(8)).
enum ExitStatus {
    /// A kernel or system operation failed (sysctl write rejected, permission, state file).
    static let failure = ExitCode(1)
    /// The configuration has errors; nothing was applied.
    static let configurationError = ExitCode(2)
    /// `status`: a declared port is unreserved or held by the wrong process.
    static let attention = ExitCode(3)
    /// A safety rail refused the plan; `--force` overrides.
    static let refused = ExitCode(4)
}
