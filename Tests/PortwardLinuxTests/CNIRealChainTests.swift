import Glibc
import PortwardCore
@testable import PortwardLinux
import Testing

/// portward's CNI plugin (the real `portward` binary, run without arguments with
/// CNI_COMMAND set, through a `portward` symlink in CNI_PATH as the package installs it)
/// chained after Debian's reference plugins (`bridge`, `host-local`, `portmap` from
/// containernetworking-plugins), driven per the spec's calling convention by
/// Support/cni_chain_test.sh inside `unshare -n -m`, against a namespace the script creates
/// and deletes, with the configuration in a tmpfs /run of that private mount namespace.
@Suite(.serialized, .enabled(if: CNIChainPrerequisites.available, "needs root, unshare, jq, python3 and /usr/lib/cni/bridge"))
struct CNIRealChainTests {
    static let packageRoot: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()

    /// The `portward` executable built next to the test bundle.
    static let portward: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        var dir = String(decoding: buffer[..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for _ in 0..<2 {
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
            if access(dir + "/portward", X_OK) == 0 { return dir + "/portward" }
        }
        return dir + "/portward"
    }()

    @Test func addCheckDelWithDebianReferencePlugins() throws {
        #expect(access(Self.portward, X_OK) == 0, "build it: swift build --build-tests (\(Self.portward))")
        let own = try #require(TestProcess.ownKey())
        let out = "/tmp/portward-cni-chain-out-\(getpid())"
        defer { unlink(out) }
        let status = TestProcess.wait(TestProcess.spawn(
            ["/usr/bin/unshare", "-n", "-m", "--", "/bin/bash", Self.packageRoot + "/Tests/PortwardLinuxTests/Support/cni_chain_test.sh"],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PORTWARD=\(Self.portward)", "PACKAGE_ROOT=\(Self.packageRoot)"],
            stdout: out, stderr: out + ".err"))
        defer { unlink(out + ".err") }
        let lines = (try? SysctlFile(path: out).read())?.split(separator: "\n").map(String.init) ?? []
        let failures = lines.filter { !$0.hasPrefix("ok ") }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))\n\(NetnsDiscovery.readSmallFile(out + ".err") ?? "")")
        // Every check of the script ran (none skipped by an early exit).
        let script = try SysctlFile(path: Self.packageRoot + "/Tests/PortwardLinuxTests/Support/cni_chain_test.sh").read()
        let checks = script.split(separator: "\n").filter { $0.hasPrefix("check ") }.count
        #expect(checks > 20 && lines.count == checks, "checks run: \(lines.count) of \(checks)")
        #expect(status == 0)
        #expect(TestProcess.ownKey() == own)
    }
}

enum CNIChainPrerequisites {
    static let available = TestProcess.canCreateNetns && access("/usr/lib/cni/bridge", X_OK) == 0
        && access("/usr/bin/jq", X_OK) == 0 && access("/usr/bin/python3", X_OK) == 0
}
