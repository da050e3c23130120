import Foundation
import PortwardCore
@testable import PortwardLinux
@testable import PortwardAgent
import Testing

/// `portward generator` writes the owners' drop-ins and, only when an entry reaches other
/// network namespaces, portward.service's own namespace drop-in (`NetnsServiceDropIn`).
@Suite struct GeneratorCommandTests {
    static func generate(_ config: String) throws -> (root: TemporaryTree, output: String) {
        let root = TemporaryTree("portward-generator")
        root.file("etc/portward/ports.conf", config)
        let output = root.path + "/run/systemd/generator"
        try GeneratorCommand(context: TargetContext(root: root.path), directory: output).run(on: CapturedTerminal())
        return (root, output)
    }

    static func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test func aNetnsEntryGetsTheServiceDropInBesideTheOwnersOnes() throws {
        let (root, output) = try Self.generate("""
            radius  1812  udp  unit:freeradius.service
            vpn     7001  tcp  unit:vpn.service  netns=vpn-*

            """)
        let netns = try #require(Self.contents(NetnsServiceDropIn.path(in: output)))
        let expected = NetnsServiceDropIn.render(entries: [
            try #require(ConfigLoader(root: root.path).load().allEntries.entries.first { $0.name == "vpn" }),
        ])
        #expect(netns == expected)
        #expect(netns.contains("#   vpn 7001 tcp netns=vpn-* (\(root.path)/etc/portward/ports.conf:2)\n"))
        #expect(Self.contents(OwnerDropIn.path(for: "freeradius.service", in: output)) != nil)
    }

    /// A socket unit of the owner's name (in any of systemd's unit directories under the
    /// root) gets its drop-in too; another owner does not.
    @Test func aSocketActivatedOwnersSocketUnitGetsADropIn() throws {
        let root = TemporaryTree("portward-generator")
        root.file("etc/portward/ports.conf", "rsync 873 tcp unit:rsync.service\nradius 1812 udp unit:freeradius.service\n")
        root.file("lib/systemd/system/rsync.socket", "[Socket]\nListenStream=873\n")
        let output = root.path + "/run/systemd/generator"
        try GeneratorCommand(context: TargetContext(root: root.path), directory: output).run(on: CapturedTerminal())
        let socket = try #require(Self.contents(OwnerDropIn.path(for: "rsync.socket", in: output)))
        #expect(socket.hasSuffix("[Socket]\nExecStartPre=-+/usr/sbin/portward register-owner rsync.service\n"))
        #expect(Self.contents(OwnerDropIn.path(for: "rsync.service", in: output)) != nil)
        #expect(access(OwnerDropIn.path(for: "freeradius.socket", in: output), F_OK) != 0)

        // An instance: its own socket unit, or the template's instance (never the plain
        // name's, which activates another service).
        root.file("etc/portward/ports.conf", "vpn 7001 tcp unit:vpn@a.service\nweb 8080 tcp unit:web@b.service\n")
        root.file("usr/lib/systemd/system/vpn@.socket", "[Socket]\nListenStream=7001\n")
        root.file("usr/lib/systemd/system/web.socket", "[Socket]\nListenStream=8080\n")
        try GeneratorCommand(context: TargetContext(root: root.path), directory: output).run(on: CapturedTerminal())
        #expect(Self.contents(OwnerDropIn.path(for: "vpn@a.socket", in: output))?.contains("register-owner vpn@a.service\n") == true)
        #expect(access(OwnerDropIn.path(for: "web.socket", in: output), F_OK) != 0)
        #expect(access(OwnerDropIn.path(for: "web@b.socket", in: output), F_OK) != 0)
    }

    @Test("host and pods entries leave portward.service as shipped", arguments: [
        "radius 1812 udp unit:freeradius.service\n",
        "dns 10053 udp - netns=pods\nweb 8080 tcp netns=host\n",
    ])
    func hostAndPodsEntriesWriteNoServiceDropIn(_ config: String) throws {
        let (_, output) = try Self.generate(config)
        #expect(access(NetnsServiceDropIn.path(in: output), F_OK) != 0)
    }
}
