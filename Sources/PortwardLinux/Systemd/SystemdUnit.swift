import CSystemd
import Glibc

/// The systemd unit a process belongs to, e.g. `sshd.service` (libsystemd
/// `sd_pid_get_unit`, which reads `/proc/PID/cgroup`).
///
/// A process of a login session gives its scope (`session-3.scope`). Nil when the process is
/// in no unit (`-ENODATA`, e.g. every process when PID 1 is not systemd), has exited (`-ESRCH`/`-ENOENT`), or for any other
/// error, and for pids below 1 (0 would mean "the caller").
public func systemdUnit(ofPID pid: Int32) -> String? {
    guard pid > 0 else { return nil }
    var unit: UnsafeMutablePointer<CChar>? = nil
    guard sd_pid_get_unit(pid, &unit) >= 0, let unit else { return nil }
    defer { free(unit) }
    return String(cString: unit)
}
