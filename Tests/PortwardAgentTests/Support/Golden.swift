import Foundation
import PortwardAgent
import Testing

/// Golden files in Tests/PortwardAgentTests/Golden/: `expect(name, actual)` compares, and
/// with PORTWARD_UPDATE_GOLDEN=1 in the environment rewrites the file instead
/// (`PORTWARD_UPDATE_GOLDEN=1 swift test --filter GoldenTests`, then review the diff).
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Golden")

    static func expect(_ name: String, _ actual: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["PORTWARD_UPDATE_GOLDEN"] == "1" {
            try! Data(actual.utf8).write(to: url)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden file \(name); run with PORTWARD_UPDATE_GOLDEN=1", sourceLocation: sourceLocation)
            return
        }
        #expect(actual == expected, "\(name) differs from its golden file", sourceLocation: sourceLocation)
    }
}

/// A terminal that keeps what a command wrote.
final class CapturedTerminal: Terminal {
    private(set) var stdout = ""
    private(set) var stderr = ""
    func out(_ text: String) { stdout += text }
    func err(_ text: String) { stderr += text }

    /// `stdout`, then `-- stderr --` and `stderr` when there is any, then the exit status;
    /// `root` replaced by `$ROOT`.
    func transcript(exit: Int32, root: String) -> String {
        var text = stdout
        if !stderr.isEmpty { text += "-- stderr --\n" + stderr }
        text += "-- exit \(exit) --\n"
        return text.replacingOccurrences(of: root, with: "$ROOT")
    }
}
