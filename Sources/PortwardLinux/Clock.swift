import Glibc

/// The two clocks the daemon uses: monotonic for scheduling, realtime for timestamps that
/// users read.
public enum Clock {
    /// CLOCK_MONOTONIC in seconds.
    public static func monotonic() -> Double { read(CLOCK_MONOTONIC) }
    /// CLOCK_REALTIME in seconds since the Unix epoch.
    public static func realtime() -> Double { read(CLOCK_REALTIME) }

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
