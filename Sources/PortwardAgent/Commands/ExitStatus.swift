/// The documented exit statuses (`portward --help`, portward(8), README). Thrown by the
/// command functions after they reported why; the executable exits with `code`.
public struct ExitStatus: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// A kernel or system operation failed (sysctl write rejected, permission, state file).
    public static let failure = ExitStatus(1)
    /// The configuration has errors; nothing was applied.
    public static let configurationError = ExitStatus(2)
    /// `status`: a declared port is unreserved or held by the wrong process.
    public static let attention = ExitStatus(3)
    /// A safety rail refused the plan; `--force` overrides.
    public static let refused = ExitStatus(4)
    /// `status`: nothing needs attention as far as could be seen, but an owner could not be
    /// verified (a holder this user cannot identify: needs root, or the daemon). Status 3
    /// wins when both apply.
    public static let unverified = ExitStatus(5)

    public var description: String { "exit status \(code)" }
}
