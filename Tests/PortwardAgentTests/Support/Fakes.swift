import Foundation
import Logging
import PortwardCore
@testable import PortwardLinux
import SystemPackage

/// Records what the daemon tells the service manager.
final class RecordingNotifier: ServiceNotifier {
    private(set) var sent: [ServiceNotification] = []
    func notify(_ notification: ServiceNotification) { sent.append(notification) }
}

/// A clock that moves only when told to.
final class FakeClock: ClockSource, @unchecked Sendable {
    var now: Double
    init(_ now: Double = 1_800_000_000) { self.now = now }
    func monotonic() -> Double { now - 1_700_000_000 }
    func realtime() -> Double { now }
}

/// sock_diag without the kernel: a list of sockets, filtered as the kernel filter would.
final class FakeSockDiag: SocketDiagnostics {
    var records: [SocketRecord] = []
    var error: Errno?
    func sockets(protocols: ProtocolSet, families: [SocketRecord.Family], sourcePorts: PortSet) throws(Errno) -> [SocketRecord] {
        if let error { throw error }
        return records.filter {
            protocols.contains(ProtocolSet($0.transport)) && families.contains($0.family) && sourcePorts.contains($0.localPort)
        }
    }
}

/// A journal that keeps every message with its fields (swift-log is the seam).
final class JournalRecorder: @unchecked Sendable {
    struct Entry {
        let level: Logger.Level
        let message: String
        let fields: [String: String]
        var messageID: String? { fields["MESSAGE_ID"] }
    }
    private let lock = NSLock()
    private var stored: [Entry] = []

    var entries: [Entry] { lock.withLock { stored } }
    func ids() -> [String] { entries.compactMap(\.messageID) }
    func entries(_ kind: JournalEvent.Kind) -> [Entry] { entries.filter { $0.messageID == kind.messageID } }
    func clear() { lock.withLock { stored.removeAll() } }

    var logger: Logger { Logger(label: "test") { _ in Handler(recorder: self) } }

    fileprivate func append(_ entry: Entry) { lock.withLock { stored.append(entry) } }

    struct Handler: LogHandler {
        let recorder: JournalRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var fields: [String: String] = [:]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[key] = "\(value)" }
            recorder.append(Entry(level: event.level, message: "\(event.message)", fields: fields))
        }
    }
}

/// A directory tree under /tmp, removed on deinit: a `--root` with configuration files, or
/// a fake /proc.
final class TemporaryTree {
    let path: String

    init(_ prefix: String = "portward-agent") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `relative` (parents created).
    func file(_ relative: String, _ text: String) {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! Data(text.utf8).write(to: url)
    }

    /// A symbolic link `relative` -> `target`.
    func link(_ relative: String, to target: String) {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    func read(_ relative: String) -> String? {
        try? String(contentsOfFile: path + "/" + relative, encoding: .utf8)
    }
}

/// A fake /proc with processes holding socket inodes.
func fakeProc(_ tree: TemporaryTree, processes: [(pid: Int32, comm: String, uid: UInt32, exe: String, inodes: [UInt64])]) {
    for process in processes {
        tree.file("\(process.pid)/comm", process.comm + "\n")
        tree.file("\(process.pid)/status", "Name:\t\(process.comm)\nUid:\t\(process.uid)\t\(process.uid)\t\(process.uid)\t\(process.uid)\n")
        tree.link("\(process.pid)/exe", to: process.exe)
        for (fd, inode) in process.inodes.enumerated() {
            tree.link("\(process.pid)/fd/\(fd + 3)", to: "socket:[\(inode)]")
        }
    }
}

extension SocketRecord {
    static func udp(_ port: UInt16, remote: String = "0.0.0.0", remotePort: UInt16 = 0, uid: UInt32 = 0, inode: UInt64 = 0,
                    family: Family = .ipv4) -> SocketRecord {
        SocketRecord(transport: .udp, family: family, localAddress: family == .ipv4 ? "0.0.0.0" : "::", localPort: port,
                     remoteAddress: remote, remotePort: remotePort, state: remotePort == 0 ? .close : .established,
                     uid: uid, inode: inode)
    }

    static func tcpListen(_ port: UInt16, uid: UInt32 = 0, inode: UInt64, family: Family = .ipv4) -> SocketRecord {
        SocketRecord(transport: .tcp, family: family, localAddress: family == .ipv4 ? "0.0.0.0" : "::", localPort: port,
                     remoteAddress: family == .ipv4 ? "0.0.0.0" : "::", remotePort: 0, state: .listen, uid: uid, inode: inode)
    }
}
