import CLibbpf
import Glibc

/// Why the BPF guard cannot run on this host. The daemon then falls back to report-only
/// (or to holding the ports) and says why in `check` and `status`.
public enum GuardUnavailability: String, Sendable, Hashable {
    /// bpf() refused: no CAP_BPF/CAP_SYS_ADMIN (EPERM), or a seccomp filter (many
    /// containers, systemd-nspawn without `--system-call-filter=bpf`).
    case permissionDenied = "permission denied"
    /// The kernel has no bpf() syscall (ENOSYS: CONFIG_BPF_SYSCALL off).
    case noBPFSyscall = "no bpf() syscall"
    /// The pin directory's parent is not on a BPF filesystem (no bpffs at /sys/fs/bpf).
    case noBPFFilesystem = "no BPF filesystem"
    /// No cgroup v2 hierarchy is mounted, or the given directory is not on one.
    case noCgroup2 = "no cgroup v2"
    /// The kernel is older than the guard needs: bpf_set_retval() in cgroup/bind programs
    /// (5.19), SO_NETNS_COOKIE (5.14), or a program the verifier rejected for a missing helper.
    case kernelTooOld = "kernel too old"
}

/// An error of the BPF guard's loader. `unavailable` means "this host cannot have the guard"
/// (fall back); `failed` is anything else, with the operation and errno.
public enum BPFGuardError: Error, Hashable, CustomStringConvertible {
    case unavailable(GuardUnavailability, detail: String)
    /// `errno` is the positive error number; `detail` holds libbpf's last messages, if any.
    case failed(operation: String, errno: Int32, detail: String = "")

    /// The unavailability reason, or nil for other failures.
    public var unavailability: GuardUnavailability? {
        if case .unavailable(let reason, _) = self { return reason }
        return nil
    }

    public var description: String {
        switch self {
        case .unavailable(let reason, let detail):
            return "BPF guard unavailable: \(reason.rawValue)" + (detail.isEmpty ? "" : ": \(detail)")
        case .failed(let operation, let errno, let detail):
            return "\(operation): \(String(cString: strerror(errno)))" + (detail.isEmpty ? "" : " (libbpf: \(detail))")
        }
    }
}

/// Collects libbpf's warnings (libbpf_set_print), so errors can carry them instead of libbpf
/// writing to stderr. Keeps the last few lines; `take()` returns and clears them.
final class LibbpfLog: @unchecked Sendable {
    static let shared = LibbpfLog()

    private var mutex = pthread_mutex_t()
    private var lines: [String] = []

    private init() {
        pthread_mutex_init(&mutex, nil)
        _ = libbpf_set_print(libbpfPrint)
    }

    /// Installs the hook (idempotent: the first use of `shared` does it).
    static func install() { _ = shared }

    func append(_ line: String) {
        pthread_mutex_lock(&mutex)
        lines.append(line)
        if lines.count > 8 { lines.removeFirst(lines.count - 8) }
        pthread_mutex_unlock(&mutex)
    }

    func take() -> String {
        pthread_mutex_lock(&mutex)
        defer { lines.removeAll(); pthread_mutex_unlock(&mutex) }
        return lines.joined(separator: "; ")
    }
}

private func libbpfPrint(level: libbpf_print_level, format: UnsafePointer<CChar>?, arguments: CVaListPointer?) -> Int32 {
    guard level != LIBBPF_DEBUG, let format, let arguments else { return 0 }
    var buffer = [CChar](repeating: 0, count: 512)
    let n = vsnprintf(&buffer, buffer.count, format, arguments)
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
    if !trimmed.isEmpty { LibbpfLog.shared.append(trimmed) }
    return n
}
