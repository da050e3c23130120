import CLinux
import Glibc
import SystemPackage

/// Race-free signal handling for a single-threaded daemon loop: the signals are blocked and
/// read from a signalfd (signalfd(2)), so a signal arriving during a poll is never lost and
/// no code runs in signal-handler context.
public final class SignalWaiter {
    private let fd: Int32

    /// What ended a wait.
    public enum Wakeup: Equatable, Sendable {
        case signal(Int32)
        /// The extra descriptor (e.g. inotify) became readable.
        case readable
        case timeout
    }

    /// Blocks `signals` for the process and opens a signalfd for them.
    /// Throws the `Errno` of sigprocmask/signalfd.
    public init(_ signals: [Int32]) throws(Errno) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        guard sigprocmask(SIG_BLOCK, &mask, nil) == 0 else { throw Errno(rawValue: errno) }
        let fd = signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Whether `signal` (one of the blocked signals) has arrived and not been read yet
    /// (sigpending(2)).
    public func isPending(_ signal: Int32) -> Bool {
        var set = sigset_t()
        return sigpending(&set) == 0 && sigismember(&set, signal) == 1
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for one of the signals or for
    /// `extraDescriptor` to become readable. Signals win when both are ready.
    public func wait(timeoutMilliseconds: Int32, extraDescriptor: Int32? = nil) -> Wakeup {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        if let extra = extraDescriptor { fds.append(pollfd(fd: extra, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        guard ready > 0 else { return .timeout }
        if fds[0].revents & Int16(POLLIN) != 0 {
            var info = signalfd_siginfo()
            if Glibc.read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
                return .signal(Int32(info.ssi_signo))
            }
        }
        return fds.count > 1 && fds[1].revents != 0 ? .readable : .timeout
    }
}
