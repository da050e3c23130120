import Glibc
import PortwardCore

/// Where a command writes: results to standard output, diagnostics to standard error.
/// `StandardTerminal` is the process's own; tests capture the text (golden outputs).
public protocol Terminal: AnyObject {
    /// Writes `text` as is to standard output.
    func out(_ text: String)
    /// Writes `text` as is to standard error.
    func err(_ text: String)
}

extension Terminal {
    /// `portward: message` on stderr.
    public func error(_ message: String) {
        err("portward: \(message)\n")
    }

    /// Prints diagnostics as `FILE:LINE:COLUMN: severity: message`, one per line (control
    /// characters, e.g. in a drop-in's file name, written as `\xNN`).
    public func report(_ diagnostics: [Diagnostic]) {
        guard !diagnostics.isEmpty else { return }
        err(diagnostics.map { "\($0)".escapingControlCharacters + "\n" }.joined())
    }
}

/// The process's standard output (buffered, through `print`) and standard error
/// (unbuffered `write(2)` calls).
public final class StandardTerminal: Terminal {
    public init() {}

    public func out(_ text: String) { print(text, terminator: "") }

    public func err(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

/// For the few messages written before a command has a terminal (signal set-up).
enum Console {
    static func error(_ message: String) { StandardTerminal().error(message) }
}
