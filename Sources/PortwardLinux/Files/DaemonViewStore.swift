import FoundationEssentials
import PortwardCore
import SystemPackage

/// The daemon's published view, `/run/portward/daemon.json` (under `--root`): written
/// atomically after every poll, mode 0644, read by `portward status`.
public struct DaemonViewStore: Sendable {
    public let path: String

    /// The store at `path` (`TargetContext.daemonViewPath`).
    public init(path: String) {
        self.path = path
    }

    /// Largest view read, in bytes (64 MiB); a larger file is not read.
    public static let maximumFileSize = 64 << 20

    /// The view, or nil when there is none or it cannot be used (no daemon has run, or a
    /// different version wrote it, or it is not a regular file of at most
    /// `maximumFileSize` bytes). Never blocks and never follows a symbolic link: see
    /// `FileContents.readOwnFile`.
    public func load() -> DaemonView? {
        guard let bytes = try? FileContents.readOwnFile(path, limit: Self.maximumFileSize),
              let view = try? JSONDecoder().decode(DaemonView.self, from: Data(bytes)),
              view.version == DaemonView.currentVersion
        else { return nil }
        return view
    }

    /// Atomically replaces the file. Throws the errno of the write.
    public func save(_ view: DaemonView) throws(Errno) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(view) else { throw .invalidArgument }
        try FileContents.writeAtomically(Array(data) + [UInt8(ascii: "\n")], to: path)
    }
}
