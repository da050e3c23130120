import CSystemd
import Glibc
import Logging

/// A swift-log `LogHandler` that sends each message to the systemd journal with
/// `sd_journal_sendv` (structured fields, see systemd.journal-fields(7)), or, when no
/// journald socket exists (containers, tests, a shell), writes one line to stderr:
/// `portward[PID]: <priority>: MESSAGE KEY=VALUE...`.
///
/// Metadata keys are journal field names (`MESSAGE_ID`, `PORTWARD_PORT`, `CONFIG_FILE`...):
/// upper case letters, digits and underscores, not starting with an underscore; other keys
/// are upper-cased and their invalid characters replaced by `_`. PRIORITY comes from the log
/// level (debug 7, info 6, notice 5, warning 4, error 3, critical 2).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let identifier: String
    private let useJournal: Bool

    /// `useJournal` defaults to whether /run/systemd/journal/socket exists.
    public init(identifier: String = "portward", useJournal: Bool? = nil) {
        self.identifier = identifier
        self.useJournal = useJournal ?? (access("/run/systemd/journal/socket", F_OK) == 0)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let priority = Self.priority(event.level)
        if useJournal {
            var lines = ["MESSAGE=\(event.message)", "PRIORITY=\(priority)", "SYSLOG_IDENTIFIER=\(identifier)"]
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                lines.append("\(Self.fieldName(key))=\(value)")
            }
            if Self.send(lines) >= 0 { return }
        }
        // One line whatever the values hold (a holder's process name is chosen by its owner).
        var line = "\(identifier)[\(getpid())]: \(event.level): \("\(event.message)".escapingControlCharacters)"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += " \(Self.fieldName(key))=\("\(value)".escapingControlCharacters)"
        }
        line += "\n"
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// syslog priority of a swift-log level.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A valid journal field name for `key`.
    static func fieldName(_ key: String) -> String {
        var name = String(key.uppercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "_" })
        while name.hasPrefix("_") { name.removeFirst() }
        return name.isEmpty ? "FIELD" : name
    }

    /// sd_journal_sendv with one iovec per `FIELD=value` (values may contain newlines).
    private static func send(_ lines: [String]) -> Int32 {
        let buffers = lines.map { Array($0.utf8) }
        var storage = buffers.map { bytes -> UnsafeMutableRawPointer in
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            bytes.withUnsafeBytes { if let base = $0.baseAddress { pointer.copyMemory(from: base, byteCount: $0.count) } }
            return pointer
        }
        defer { storage.forEach { $0.deallocate() }; storage.removeAll() }
        var vectors = zip(storage, buffers).map { iovec(iov_base: $0, iov_len: $1.count) }
        return sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}
