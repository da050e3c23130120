import Glibc
import PortwardCore
import SystemPackage

/// Describes processes by pid as `Holder` values, from `PROCROOT/PID/comm`,
/// `PROCROOT/PID/exe` and `PROCROOT/PID/status`, plus the systemd unit.
public struct ProcessTable: Sendable {
    /// The proc mount to read, without trailing slash: `/proc`, or a fake tree in tests.
    public let procRoot: String
    /// pid -> systemd unit; `systemdUnit(ofPID:)` by default. That one reads the real
    /// `/proc/PID/cgroup`, so a table over a fake `procRoot` should pass its own.
    public let unitLookup: @Sendable (Int32) -> String?

    public init(procRoot: String = "/proc",
                unitLookup: @escaping @Sendable (Int32) -> String? = { systemdUnit(ofPID: $0) }) {
        self.procRoot = procRoot
        self.unitLookup = unitLookup
    }

    /// The process `pid`, or nil when it has exited (or `comm`/`status` is unreadable or
    /// has no `Uid:` line).
    ///
    /// `executablePath` is nil when `exe` cannot be read (another user's process without
    /// CAP_SYS_PTRACE: EACCES; kernel threads: ENOENT). A ` (deleted)` suffix (the binary
    /// was replaced, e.g. by a package upgrade, while the process runs) is removed, so the
    /// path compares equal to the installed one.
    public func holder(pid: Int32) -> Holder? {
        let directory = "\(procRoot)/\(pid)"
        guard let comm = try? FileContents.read(directory + "/comm"),
              let status = try? FileContents.read(directory + "/status"),
              let uid = Self.realUID(status: status)
        else { return nil }
        var command = String(decoding: comm, as: UTF8.self)
        if command.hasSuffix("\n") { command.removeLast() }
        return Holder(pid: pid, command: command,
                      executablePath: Self.executable(directory + "/exe"),
                      unit: unitLookup(pid), uid: uid, startedAt: startTime(pid: pid))
    }

    /// When `pid` started, CLOCK_REALTIME seconds: `btime` of `PROCROOT/stat` plus field 22
    /// (`starttime`, clock ticks since boot) of `PROCROOT/PID/stat` over sysconf(_SC_CLK_TCK),
    /// as ps(1) computes it. Nil when either cannot be read.
    public func startTime(pid: Int32) -> Double? {
        guard let stat = try? FileContents.read("\(procRoot)/\(pid)/stat"),
              let ticks = Self.startTicks(stat: stat),
              let system = try? FileContents.read("\(procRoot)/stat"),
              let boot = Self.bootTime(stat: system) else { return nil }
        let hertz = sysconf(Int32(_SC_CLK_TCK))
        guard hertz > 0 else { return nil }
        return Double(boot) + Double(ticks) / Double(hertz)
    }

    /// Field 22 of `/proc/PID/stat`: counted after the last `)` (the comm field, field 2,
    /// may contain spaces and parentheses), where field 3 (state) comes first.
    static func startTicks(stat: [UInt8]) -> UInt64? {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    /// The `btime` line of `/proc/stat`: boot time, seconds since the epoch.
    static func bootTime(stat: [UInt8]) -> UInt64? {
        for line in stat.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            return UInt64(String(decoding: line.dropFirst(6), as: UTF8.self).trimmingSpaces)
        }
        return nil
    }

    /// The real uid: first number of the `Uid:` line (`Uid:\t1000\t1000\t1000\t1000`).
    static func realUID(status: [UInt8]) -> UInt32? {
        for line in status.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("Uid:") else { continue }
            let fields = text.dropFirst(4).split(whereSeparator: { $0 == "\t" || $0 == " " })
            return fields.first.flatMap { UInt32($0) }
        }
        return nil
    }

    private static func executable(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let capacity = buffer.count
        let length = buffer.withUnsafeMutableBufferPointer {
            readlink(path, $0.baseAddress!, capacity)
        }
        guard length > 0, length < capacity else { return nil }
        var text = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) },
                          as: UTF8.self)
        let deleted = " (deleted)"
        if text.hasSuffix(deleted) { text.removeLast(deleted.count) }
        return text
    }
}

private extension String {
    var trimmingSpaces: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
    }
}
