import Foundation
import Testing

/// The command line's own text, byte for byte: `--help` of the tool and of every
/// subcommand, `portward help`, usage errors, the completion scripts and `portward` without a
/// subcommand. Each case runs the built binary (no root needed, nothing is written) with
/// COLUMNS=80, so ArgumentParser wraps the help the same on every terminal, and compares its
/// stdout, stderr and exit status with `Tests/IntegrationTests/Golden/cli-NAME.txt`.
/// `PORTWARD_UPDATE_GOLDEN=1 swift test --filter CLIGoldenTests` rewrites the files instead;
/// review the diff.
@Suite struct CLIGoldenTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden")

    /// Golden name → arguments. `$ROOT` is an empty root directory (no configuration files).
    static let cases: [(name: String, arguments: [String])] = [
        ("help", ["--help"]),
        ("help-short", ["-h"]),
        ("help-command", ["help"]),
        ("help-command-apply", ["help", "apply"]),
        ("check-help", ["check", "--help"]),
        ("cat-config-help", ["cat-config", "--help"]),
        ("apply-help", ["apply", "--help"]),
        ("apply-help-short", ["apply", "-h"]),
        ("run-help", ["run", "--help"]),
        ("status-help", ["status", "--help"]),
        ("register-owner-help", ["register-owner", "--help"]),
        ("owner-stopped-help", ["owner-stopped", "--help"]),
        ("generator-help", ["generator", "--help"]),
        ("guard-help", ["guard", "--help"]),
        ("error-guard-nothing-to-do", ["guard"]),
        ("error-status-empty-netns", ["status", "--netns", ""]),
        ("error-unknown-option", ["--bogus"]),
        ("error-unknown-subcommand", ["bogus"]),
        ("error-apply-unknown-option", ["apply", "--bogus"]),
        ("error-apply-extra-argument", ["apply", "extra"]),
        ("error-run-bad-interval", ["run", "--interval", "5x"]),
        ("error-run-interval-too-small", ["run", "--interval", "1ms"]),
        ("error-run-missing-interval", ["run", "--interval"]),
        ("error-status-missing-root", ["status", "--root"]),
        ("completion-bash", ["--generate-completion-script", "bash"]),
        ("completion-zsh", ["--generate-completion-script", "zsh"]),
        ("completion-fish", ["--generate-completion-script", "fish"]),
        ("error-completion-unknown-shell", ["--generate-completion-script", "tcsh"]),
        ("apply-completion-bash", ["apply", "--generate-completion-script", "bash"]),
        ("run-help-after-options", ["run", "--interval", "2s", "--help"]),
        ("error-status-help-argument", ["status", "help"]),
        ("error-status-json-unknown-option", ["status", "--json", "--bogus"]),
        ("status-completion-zsh", ["status", "--generate-completion-script", "zsh"]),
        ("cat-config-root", ["cat-config", "--root", "$ROOT"]),
        ("no-subcommand", []),
        ("no-subcommand-root", ["--root", "$ROOT"]),
        ("status-root", ["status", "--root", "$ROOT"]),
    ]

    @Test(arguments: cases.map(\.name))
    func matchesGolden(_ name: String) throws {
        let arguments = Self.cases.first { $0.name == name }!.arguments
        let root = try Netns.makeRoot([:])
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Self.run(arguments.map { $0.replacingOccurrences(of: "$ROOT", with: root) })
        let transcript = Self.transcript(r).replacingOccurrences(of: root, with: "$ROOT")
        let url = Self.directory.appendingPathComponent("cli-\(name).txt")
        if ProcessInfo.processInfo.environment["PORTWARD_UPDATE_GOLDEN"] == "1" {
            try Data(transcript.utf8).write(to: url)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden file \(url.lastPathComponent); run with PORTWARD_UPDATE_GOLDEN=1")
            return
        }
        #expect(transcript == expected, "portward \(arguments.joined(separator: " ")) differs from \(url.lastPathComponent)")
    }

    /// stdout, then `-- stderr --` and stderr when there is any, then the exit status (the
    /// format of the PortwardAgentTests goldens).
    static func transcript(_ r: BadConfigTests.Output) -> String {
        var text = r.stdout
        if !r.stderr.isEmpty { text += "-- stderr --\n" + r.stderr }
        return text + "-- exit \(r.status) --\n"
    }

    /// Runs the binary with a fixed, small environment: COLUMNS=80 (the help's wrap width),
    /// no NOTIFY_SOCKET, stdin from /dev/null.
    static func run(_ arguments: [String]) throws -> BadConfigTests.Output {
        let r = try ExternalTools.run([Netns.portward] + arguments,
                                      environment: ["COLUMNS=80", "LINES=24", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"])
        return BadConfigTests.Output(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

}
