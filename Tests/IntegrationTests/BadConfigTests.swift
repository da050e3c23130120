import Foundation
import Testing

/// The malformed-configuration corpus in Tests/Fixtures/bad-config: one directory per
/// error kind, `CASE/root/` (the configuration tree, passed as `--root`) and `CASE/expected`
/// (first line `exit N`, then the exact stderr of `portward check`, with the root directory
/// written as `ROOT`). What git cannot hold (10 MB lines, directories and FIFOs named
/// `*.conf`, dangling symlinks, mode 000, /dev/null masks) is added by `setUp` at run time.
///
/// `PORTWARD_UPDATE_GOLDEN=1 swift test --filter BadConfigTests` rewrites the golden files
/// (review the diff before committing it).
@Suite struct BadConfigTests {
    static let corpus = Netns.packageRoot.appendingPathComponent("Tests/Fixtures/bad-config")

    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }()

    /// The corpus is there and covers every error kind of issue 7.
    @Test func corpusIsComplete() {
        let required = ["bad-number", "octal-port", "hex-port", "reversed-range", "overlapping-ranges",
                        "port-zero", "port-65536", "unknown-protocol", "unknown-service", "bad-owner",
                        "duplicate-names", "conflicting-owners", "crlf-line-endings", "utf8-bom", "nul-byte",
                        "invalid-utf8", "huge-line", "directory-as-conf", "dangling-symlink",
                        "unreadable-file", "dev-null-mask"]
        #expect(Set(required).subtracting(Self.cases).isEmpty, "missing: \(Set(required).subtracting(Self.cases))")
    }

    @Test(arguments: cases)
    func checkReportsExactDiagnostics(_ name: String) throws {
        let root = try Self.materialize(name)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let asNobody = name == "unreadable-file" && getuid() == 0
        let result = try Self.runPortward(["check", "--root", root], asNobody: asNobody)
        let actual = "exit \(result.status)\n" + result.stderr.replacingOccurrences(of: root, with: "ROOT")
        let goldenPath = Self.corpus.appendingPathComponent(name).appendingPathComponent("expected").path
        if ProcessInfo.processInfo.environment["PORTWARD_UPDATE_GOLDEN"] == "1" {
            try actual.write(toFile: goldenPath, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: goldenPath, encoding: .utf8)
        #expect(actual == expected, "\(name): got\n\(actual.prefix(3000))")
        // Every diagnostic is one line; errors have the FILE:LINE:COLUMN: or error: shape.
        for line in result.stderr.split(separator: "\n") {
            #expect(line.hasPrefix("error: ") || line.contains(": error: ") || line.contains(": note: ")
                        || line.contains(": warning: ") || line.hasPrefix("warning: "), "\(line.prefix(200))")
        }
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
    }

    /// `cat-config` shows what it can read and reports, with exit status 2, the files it
    /// cannot read; errors inside files are `check`'s business (exit 0 here).
    @Test(arguments: [("fifo-as-conf", 2), ("directory-as-conf", 2), ("dangling-symlink", 2),
                      ("main-file-is-directory", 2), ("non-utf8-file-name", 2), ("octal-port", 0), ("duplicate-names", 0)])
    func catConfigReportsWhatItCannotRead(_ name: String, _ status: Int32) throws {
        let root = try Self.materialize(name)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let result = try Self.runPortward(["cat-config", "--root", root])
        #expect(result.status == status, "\(name): \(result.stderr)")
        #expect(status == 0 ? result.stderr.isEmpty : result.stderr.contains("error: cannot read \(root)/"), "\(result.stderr)")
        if status != 0 { #expect(result.stderr.split(separator: "\n").count == 1, "one error per unreadable file") }
    }

    /// For a representative subset, `apply` in a private network namespace refuses (exit 2),
    /// leaves the kernel value exactly as it was and writes no state file.
    @Test(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"),
          arguments: ["octal-port", "nul-byte", "invalid-utf8", "duplicate-names", "conflicting-owners",
                      "directory-as-conf", "dangling-symlink", "huge-line", "too-large-file", "port-65536"])
    func applyLeavesTheKernelUntouched(_ name: String) throws {
        let root = try Self.materialize(name)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try Netns.run("""
            echo 4242,40000-40010,50000 > "$KEY"
            before=$(cat "$KEY")
            status=0; "$PORTWARD" apply --root "$ROOT" 2>/dev/null || status=$?
            after=$(cat "$KEY")
            echo "status=$status"
            [ "$before" = "$after" ] && echo untouched || echo "changed: $before -> $after"
            """, env: ["ROOT": root])
        #expect(r.stdout == "status=2\nuntouched\n", "\(name): \(r.stdout) \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/run/portward/state.json"))
    }

    // MARK: Helpers

    /// Copies `CASE/root` to a fresh temporary directory and adds the run-time parts.
    static func materialize(_ name: String) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("portward-bad-\(name)-\(UUID().uuidString)").path
        let source = corpus.appendingPathComponent(name).appendingPathComponent("root").path
        if FileManager.default.fileExists(atPath: source) {
            try FileManager.default.copyItem(atPath: source, toPath: root)
        } else {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root)
        try setUp(name, root)
        return root
    }

    private static func setUp(_ name: String, _ root: String) throws {
        let fm = FileManager.default
        let dropIns = root + "/etc/portward/ports.d"
        func ensureDropIns() throws { try fm.createDirectory(atPath: dropIns, withIntermediateDirectories: true) }
        switch name {
        case "huge-line":
            // A 10 MB line: 1.7 million valid items, then one bad item at column 10,200,005.
            var line = Array("big ".utf8)
            line.reserveCapacity(10_300_000)
            let item = Array("40000,".utf8)
            for _ in 0..<1_700_000 { line += item }
            line += Array("4x\n".utf8)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: root + "/etc/portward/ports.conf"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(line))
            try handle.close()
        case "too-large-file":
            try ensureDropIns()
            let path = dropIns + "/50-big.conf"
            #expect(fm.createFile(atPath: path, contents: Data("big 40001 tcp\n".utf8)))
            #expect(truncate(path, 17 << 20) == 0)  // sparse: 17 MiB without writing them
        case "directory-as-conf":
            try fm.createDirectory(atPath: dropIns + "/50-dir.conf", withIntermediateDirectories: true)
        case "main-file-is-directory":
            try fm.createDirectory(atPath: root + "/etc/portward/ports.conf", withIntermediateDirectories: true)
        case "dangling-symlink":
            try ensureDropIns()
            try fm.createSymbolicLink(atPath: dropIns + "/50-gone.conf", withDestinationPath: "/nonexistent/portward-gone.conf")
        case "fifo-as-conf":
            try ensureDropIns()
            #expect(mkfifo(dropIns + "/50-fifo.conf", 0o644) == 0)
        case "unreadable-file":
            try ensureDropIns()
            let path = dropIns + "/50-secret.conf"
            #expect(fm.createFile(atPath: path, contents: Data("secret 40001 tcp\n".utf8)))
            #expect(chmod(path, 0) == 0)
        case "non-utf8-file-name":
            // A drop-in named "50-x\xff.conf": not valid UTF-8 (git cannot keep it portably).
            try ensureDropIns()
            let path = Array((dropIns + "/50-x").utf8) + [0xFF] + Array(".conf".utf8) + [0]
            let fd = path.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
            #expect(fd >= 0)
            _ = "x 40001 tcp\n".withCString { write(fd, $0, 12) }
            close(fd)
        case "dev-null-mask":
            try ensureDropIns()
            try fm.createSymbolicLink(atPath: dropIns + "/50-broken.conf", withDestinationPath: "/dev/null")
        default:
            break
        }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the built binary (inside a private netns when available, so the kernel values
    /// it reads are the fresh defaults), optionally as uid/gid 65534 via setpriv(1).
    static func runPortward(_ arguments: [String], asNobody: Bool = false) throws -> Output {
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let prefix = asNobody ? "setpriv --reuid=65534 --regid=65534 --clear-groups -- " : ""
        let script = "\(prefix)\"$PORTWARD\" \(quoted)"
        if Netns.available {
            let r = try Netns.run(script)
            return Output(status: r.status, stdout: r.stdout, stderr: r.stderr)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["PORTWARD"] = Netns.portward
        let r = try ExternalTools.run(["/bin/bash", "-c", script], environment: environment.map { "\($0.key)=\($0.value)" })
        return Output(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }
}
