import FoundationEssentials
import PortwardCore
import SystemPackage

/// Reads and writes the state file (`/run/portward/state.json`, under `--root`) as JSON.
///
/// Writes are atomic (a temporary file in the same directory, then `rename()`), mode 0644 so
/// `portward status` run by any user can read the daemon's view.
public struct StateStore: Sendable {
    /// Absolute path of the state file, including the root prefix.
    public let path: String

    /// The store at `path` (`TargetContext.statePath`).
    public init(path: String) {
        self.path = path
    }

    /// Largest state file read, in bytes (64 MiB). The state of 65,535 single-port entries
    /// is about 10 MiB; a larger file (or `state.json -> /dev/zero`) is refused as
    /// `Failure.unusable` before it is read, instead of growing without bound.
    public static let maximumFileSize = 64 << 20

    /// The state, or an empty state when the file does not exist. Throws
    /// `StateStore.Failure.unusable` (errno, a symbolic link, not a regular file, over
    /// `maximumFileSize`) or `.corrupt` when the file exists but cannot be used; callers may
    /// then continue with an empty state (treating every port as foreign loses nothing).
    /// Never blocks: see `FileContents.readOwnFile`.
    public func load() throws(Failure) -> ReservationState {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.readOwnFile(path, limit: Self.maximumFileSize)
        } catch {
            if error == .missing { return ReservationState() }
            throw .unusable(path: path, reason: error)
        }
        let state: ReservationState
        do { state = try JSONDecoder().decode(ReservationState.self, from: Data(bytes)) }
        catch { throw .corrupt(path: path, reason: "not a portward state file (\(error))") }
        guard state.version == ReservationState.currentVersion else {
            throw .corrupt(path: path, reason: "unknown state version \(state.version)")
        }
        return state
    }

    /// Atomically replaces the state file, creating /run/portward if needed.
    public func save(_ state: ReservationState) throws(Failure) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(state) } catch { throw .corrupt(path: path, reason: "\(error)") }
        do {
            try FileContents.writeAtomically(Array(data) + [UInt8(ascii: "\n")], to: path)
        } catch {
            throw .unwritable(path: path, errno: error)
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case unusable(path: String, reason: FileContents.ReadFailure)
        case unwritable(path: String, errno: Errno)
        case corrupt(path: String, reason: String)

        public var description: String {
            switch self {
            case .unusable(let path, let reason): "cannot read state file \(path): \(reason)"
            case .unwritable(let path, let errno): "cannot write state file \(path): \(errno)"
            case .corrupt(let path, let reason): "ignoring state file \(path): \(reason)"
            }
        }
    }
}
