import Glibc

/// The clocks the agent reads, behind a protocol so tests can run the daemon on a fake
/// clock: monotonic for scheduling and waits, realtime for timestamps that users read.
public protocol ClockSource: Sendable {
    /// CLOCK_MONOTONIC in seconds.
    func monotonic() -> Double
    /// CLOCK_REALTIME in seconds since the Unix epoch.
    func realtime() -> Double
}

/// The kernel's clocks (clock_gettime(2)).
public struct SystemClock: ClockSource {
    public init() {}

    public func monotonic() -> Double { Self.read(CLOCK_MONOTONIC) }
    public func realtime() -> Double { Self.read(CLOCK_REALTIME) }

    private static func read(_ clock: clockid_t) -> Double {
        var now = timespec()
        clock_gettime(clock, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// `2026-11-29 08:12:14 UTC` for a realtime value, in the local time zone.
    public static func format(_ realtime: Double) -> String {
        var seconds = time_t(realtime)
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S %Z", &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
