import PortwardCore
import PortwardLinux

/// Tells a failure to reach another network namespace's key that comes from the daemon's
/// own privileges (the same for every namespace, fixed only by the unit's namespace drop-in
/// and a restart: `NetnsServiceDropIn`) from one of that namespace:
/// - `setns` refused with `EPERM`: no `CAP_SYS_ADMIN` in the bounding set, or seccomp's
///   `RestrictNamespaces=yes` (measured under systemd 252: both give EPERM);
/// - the key's open refused with `EROFS` (the namespace's `/proc/sys/net/ipv4` lies on the
///   read-only `/proc/sys` of `ProtectKernelTunables=yes`: no `ReadWritePaths=/proc/sys/net`)
///   or `EPERM` (setns refused when entering to open it).
/// Other errors (`EACCES` on a namespace file, a vanished namespace, a kernel that rejects
/// the value) stay per-namespace failures.
enum NetnsSandboxRefusal {
    /// The refusal in `error` (from opening namespace `name`) as a short reason, e.g.
    /// "cannot enter network namespace /run/netns/blue: setns: Operation not permitted";
    /// nil when it is not the sandbox's.
    static func reason(_ error: NetnsError, name: String) -> String? {
        switch error {
        case .setnsFailed(_, let errno) where errno == .notPermitted: "\(error)"
        case .sysctl(let error): reason(error, name: name)
        default: nil
        }
    }

    /// The refusal in `failure` (a transaction inside namespace `name`), or nil.
    static func reason(_ failure: ReservationTransaction.Failure, name: String) -> String? {
        switch failure {
        case .unreadable(let error, _): reason(error, name: name)
        case .commitFailed(let error as SysctlError, _, _): reason(error, name: name)
        default: nil
        }
    }

    /// Without `SysctlError`'s hint, which is about container runtimes, not this sandbox.
    private static func reason(_ error: SysctlError, name: String) -> String? {
        guard case .openFailed(let path, let errno) = error, errno == .readOnlyFileSystem || errno == .notPermitted else {
            return nil
        }
        return "cannot open \(path) in network namespace \(name): \(errno)"
    }
}
