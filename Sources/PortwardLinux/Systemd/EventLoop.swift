import CSystemd
import Glibc
import SystemPackage

/// The daemon's event loop, over libsystemd's sd-event (sd-event(3)).
///
/// Why sd-event and not an epoll loop of our own: libsystemd is linked already, and
/// sd-event has every source the agent needs, with any number of each: signals (read from a
/// signalfd, so a signal that arrives while a handler runs is never lost, and no code runs
/// in signal context), I/O on any descriptor (inotify, BPF ring buffers, a control socket,
/// one per network namespace), monotonic timers, and the service watchdog (WATCHDOG=1 at
/// half of $WATCHDOG_USEC, `enableWatchdog`). When several sources are ready at once, the
/// one with the highest priority is dispatched first: a pending SIGHUP (`.important`) is
/// handled before a due poll timer (`.normal`).
///
/// Signals must be blocked before they are added (`blockSignals`), as early as possible:
/// one that arrives before is then pending, not lost. Not thread-safe: one thread runs the
/// loop and every handler.
public final class EventLoop {
    /// Dispatch order among ready sources (sd-event priorities: lower runs first).
    public enum Priority: Int64 {
        case important = -100
        case normal = 0
        case idle = 100
    }

    /// A handle on one source; removing it (or deinitialising the loop) stops it.
    public final class Source {
        fileprivate var pointer: OpaquePointer?
        fileprivate let handler: Handler
        fileprivate init(handler: Handler) { self.handler = handler }

        /// Stops the source for good.
        public func remove() {
            if let pointer { _ = sd_event_source_disable_unref(pointer) }
            pointer = nil
        }

        /// For a timer: fire once, `seconds` from now (relative to CLOCK_MONOTONIC).
        public func schedule(after seconds: Double) {
            guard let pointer else { return }
            _ = sd_event_source_set_time_relative(pointer, EventLoop.microseconds(seconds))
            _ = sd_event_source_set_enabled(pointer, Int32(SD_EVENT_ONESHOT))
        }

        /// For a timer: do not fire until scheduled again.
        public func cancel() {
            guard let pointer else { return }
            _ = sd_event_source_set_enabled(pointer, Int32(SD_EVENT_OFF))
        }

        deinit { remove() }
    }

    fileprivate enum Handler {
        case signal((Int32) -> Void)
        case io((UInt32) -> Void)
        case timer(() -> Void)
    }

    private let event: OpaquePointer
    private var sources: [Source] = []

    /// A new loop (sd_event_new). Throws the errno libsystemd returns.
    public init() throws(Errno) {
        var event: OpaquePointer?
        let r = sd_event_new(&event)
        guard r >= 0, let event else { throw Errno(rawValue: -r) }
        self.event = event
    }

    deinit {
        for source in sources { source.remove() }
        sd_event_unref(event)
    }

    /// Blocks `signals` for the calling thread (and the threads it starts), so they stay
    /// pending until the loop reads them. Throws the errno of pthread_sigmask.
    public static func blockSignals(_ signals: [Int32]) throws(Errno) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for signal in signals { sigaddset(&mask, signal) }
        let r = pthread_sigmask(SIG_BLOCK, &mask, nil)
        guard r == 0 else { throw Errno(rawValue: r) }
    }

    /// Whether `signal` (a blocked one) has arrived and not been read yet (sigpending(2)).
    public static func isPending(_ signal: Int32) -> Bool {
        var set = sigset_t()
        return sigpending(&set) == 0 && sigismember(&set, signal) == 1
    }

    /// Calls `handler` with the signal number each time `signal` (blocked beforehand with
    /// `blockSignals`) arrives. Throws the errno (EBUSY: the signal is not blocked).
    @discardableResult
    public func addSignal(_ signal: Int32, priority: Priority = .important,
                          _ handler: @escaping (Int32) -> Void) throws(Errno) -> Source {
        let source = Source(handler: .signal(handler))
        var pointer: OpaquePointer?
        let r = sd_event_add_signal(event, &pointer, signal, { _, info, userdata in
            EventLoop.dispatch(userdata) { if case .signal(let body) = $0 { body(Int32(info?.pointee.ssi_signo ?? 0)) } }
        }, Unmanaged.passUnretained(source).toOpaque())
        return try adopt(source, pointer, r, priority)
    }

    /// Calls `handler` with the epoll events (EPOLLIN...) each time `descriptor` is
    /// readable. The descriptor stays the caller's. Throws the errno.
    @discardableResult
    public func addReadable(_ descriptor: Int32, priority: Priority = .normal,
                            _ handler: @escaping (UInt32) -> Void) throws(Errno) -> Source {
        let source = Source(handler: .io(handler))
        var pointer: OpaquePointer?
        let r = sd_event_add_io(event, &pointer, descriptor, UInt32(EPOLLIN.rawValue), { _, _, revents, userdata in
            EventLoop.dispatch(userdata) { if case .io(let body) = $0 { body(revents) } }
        }, Unmanaged.passUnretained(source).toOpaque())
        return try adopt(source, pointer, r, priority)
    }

    /// A one-shot CLOCK_MONOTONIC timer, first due `seconds` from now; re-arm it from its
    /// handler with `Source.schedule(after:)`. Fires within 1 ms of the due time. Throws
    /// the errno.
    @discardableResult
    public func addTimer(after seconds: Double, priority: Priority = .normal,
                         _ handler: @escaping () -> Void) throws(Errno) -> Source {
        let source = Source(handler: .timer(handler))
        var pointer: OpaquePointer?
        let r = sd_event_add_time_relative(event, &pointer, CLOCK_MONOTONIC, Self.microseconds(seconds), 1_000, { _, _, userdata in
            EventLoop.dispatch(userdata) { if case .timer(let body) = $0 { body() } }
        }, Unmanaged.passUnretained(source).toOpaque())
        return try adopt(source, pointer, r, priority)
    }

    /// Sends WATCHDOG=1 at half of $WATCHDOG_USEC while the loop runs, when the service
    /// manager asked for it (WatchdogSec=); otherwise does nothing.
    public func enableWatchdog() {
        _ = sd_event_set_watchdog(event, 1)
    }

    /// Runs until `exit(_:)` is called; returns its code. Throws the errno of a failing
    /// iteration.
    public func run() throws(Errno) -> Int32 {
        let r = sd_event_loop(event)
        guard r >= 0 else { throw Errno(rawValue: -r) }
        return r
    }

    /// Runs one iteration: waits up to `timeout` seconds for a source, dispatches one.
    /// Returns false when nothing was dispatched (for tests).
    @discardableResult
    public func runOnce(timeout: Double) throws(Errno) -> Bool {
        let r = sd_event_run(event, Self.microseconds(timeout))
        guard r >= 0 else { throw Errno(rawValue: -r) }
        return r > 0
    }

    /// Makes `run()` return `code` after the current handler.
    public func exit(_ code: Int32 = 0) {
        _ = sd_event_exit(event, code)
    }

    private func adopt(_ source: Source, _ pointer: OpaquePointer?, _ r: Int32, _ priority: Priority) throws(Errno) -> Source {
        guard r >= 0, let pointer else { throw Errno(rawValue: -r) }
        source.pointer = pointer
        _ = sd_event_source_set_priority(pointer, priority.rawValue)
        sources.append(source)
        return source
    }

    private static func dispatch(_ userdata: UnsafeMutableRawPointer?, _ body: (Handler) -> Void) -> Int32 {
        guard let userdata else { return 0 }
        body(Unmanaged<Source>.fromOpaque(userdata).takeUnretainedValue().handler)
        return 0
    }

    fileprivate static func microseconds(_ seconds: Double) -> UInt64 {
        seconds <= 0 ? 0 : UInt64((seconds * 1e6).rounded(.up))
    }
}
