import Glibc
import PortwardCore

/// Writing to the terminal: results to stdout (print), diagnostics to stderr.
enum Console {
    /// `portward: message` on stderr.
    static func error(_ message: String) {
        writeStandardError("portward: \(message)\n")
    }

    /// Prints diagnostics as `FILE:LINE:COLUMN: severity: message`, one per line (control
    /// characters, e.g. in a drop-in's file name, written as `\xNN`).
    static func report(_ diagnostics: [Diagnostic]) {
        guard !diagnostics.isEmpty else { return }
        writeStandardError(diagnostics.map { "\($0)".escapingControlCharacters + "\n" }.joined())
    }

    private static func writeStandardError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
