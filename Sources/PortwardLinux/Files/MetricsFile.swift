import PortwardCore
import SystemPackage

/// The Prometheus textfile `portward run --metrics-file PATH` keeps up to date, for
/// node_exporter's textfile collector (Debian: `/var/lib/prometheus/node-exporter/`).
///
/// Each `write` renders the snapshot (`PrometheusText.render`) and replaces the file
/// atomically (`FileContents.writeAtomically`: `PATH.tmp.PID` in the same directory, then
/// rename; mode 0644 whatever the umask), so a scrape reads the old or the new file, never a
/// half-written one; the collector ignores the temporary file (its name does not end in
/// `.prom`). No fsync: after a crash the file may be the previous one, and its mtime
/// (`node_textfile_mtime_seconds`) tells that it is stale.
public struct MetricsFile: Sendable {
    /// Absolute path, ending in `.prom`.
    public let path: String

    /// Why a metrics file path is refused.
    public enum PathError: Error, Equatable, CustomStringConvertible {
        /// Not absolute: the daemon's working directory is `/`.
        case notAbsolute(String)
        /// node_exporter's textfile collector reads only `*.prom` files.
        case notProm(String)
        /// Ends in `/` or names no file.
        case noFileName(String)

        public var description: String {
            switch self {
            case .notAbsolute(let p): "metrics file '\(p.escapingControlCharacters)' is not an absolute path"
            case .notProm(let p):
                "metrics file '\(p.escapingControlCharacters)' does not end in .prom (node_exporter's textfile collector reads only *.prom files)"
            case .noFileName(let p): "metrics file '\(p.escapingControlCharacters)' names no file"
            }
        }
    }

    /// Checks `path` (no I/O): absolute, a file name ending in `.prom` (and more than that).
    public init(path: String) throws(PathError) {
        guard path.hasPrefix("/") else { throw .notAbsolute(path) }
        let name = path[path.index(after: path.lastIndex(of: "/")!)...]
        guard !name.isEmpty, name != ".", name != ".." else { throw .noFileName(path) }
        guard name.hasSuffix(".prom"), name.count > 5 else { throw .notProm(path) }
        self.path = path
    }

    /// Renders `snapshot` and replaces the file. Creates missing parent directories (0755).
    /// Throws the errno of the failing mkdir/open/fchmod/write/rename (the old file is then
    /// left as it was, and no temporary file).
    public func write(_ snapshot: MetricsSnapshot) throws(Errno) {
        try write(text: PrometheusText.render(snapshot))
    }

    /// Replaces the file with `text` (already in the text exposition format).
    public func write(text: String) throws(Errno) {
        try FileContents.writeAtomically(Array(text.utf8), to: path)
    }
}
