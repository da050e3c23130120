import Glibc
import PortwardCore
@testable import PortwardLinux
import SystemPackage
import Testing

/// Root tests against the real kernel, in namespaces the tests create (`ip netns add
/// portward-test-*`, `unshare -n sleep`). Every test reads the test process's own key
/// before and after and expects it unchanged: nothing here writes outside the namespaces
/// it created.
@Suite(.serialized, .enabled(if: TestProcess.canCreateNetns, "needs root, ip and unshare"))
struct NetnsSysctlTests {
    static let key = "/proc/sys/net/ipv4/ip_local_reserved_ports"

    /// What decides which namespace a /proc/sys file addresses: measured, not assumed.
    @Test func procSysFollowsTheOpeningThread() throws {
        let own = try #require(TestProcess.ownKey())
        let netns = NamedTestNetns()
        let handle = try NetnsHandle(path: netns.path)
        #expect(handle.identity != NetnsFiles.own())

        // 1. Opened on the entered thread, written from this (host) thread after that
        //    thread ended: the write lands in the target namespace.
        let fd = try handle.run { () throws(NetnsError) -> FileDescriptor in
            do { return try FileDescriptor.open(FilePath(Self.key), .writeOnly, options: [.closeOnExec]) }
            catch { throw .openFailed(path: Self.key, errno: Errno(error)) }
        }
        _ = try fd.writeAll("40001\n".utf8)
        try fd.close()
        #expect(TestProcess.readKey(inNamed: netns.name) == PortSet([40001]))
        #expect(TestProcess.ownKey() == own)

        // 2. Opened on this thread, read on the entered thread: the opener's namespace.
        let hostFD = try FileDescriptor.open(FilePath(Self.key), .readOnly, options: [.closeOnExec])
        defer { try? hostFD.close() }
        let readThere = try handle.run { () -> String in
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { read(hostFD.rawValue, $0.baseAddress, $0.count) }
            return String(decoding: buffer[..<max(0, n)], as: UTF8.self)
        }
        #expect(try ReservedPortsValue.decode(readThere) == own)

        // 3. On the entered thread, /proc/thread-self/ns/net is the target, /proc/self/ns/net
        //    (the thread-group leader's) is still the host's; a path opened there is the target's.
        let (threadSelf, processSelf, opened) = try handle.run {
            () throws(NetnsError) -> (NetnsIdentity?, NetnsIdentity?, PortSet) in
            let value: PortSet
            do throws(SysctlError) { value = try ReservedPortsSysctl().read() } catch { throw .sysctl(error) }
            return (NetnsFiles.identity(of: "/proc/thread-self/ns/net"), NetnsFiles.identity(of: "/proc/self/ns/net"), value)
        }
        #expect(threadSelf == handle.identity)
        #expect(processSelf == NetnsFiles.own())
        #expect(opened == PortSet([40001]))
        // The calling thread never moved.
        #expect(NetnsFiles.identity(of: "/proc/thread-self/ns/net") == NetnsFiles.own())
        #expect(TestProcess.ownKey() == own)
    }

    @Test func writeChangesOnlyTheTarget() throws {
        let own = try #require(TestProcess.ownKey())
        let a = NamedTestNetns(), b = NamedTestNetns()
        b.setKey("7000")
        let target = PortSet(ranges: [PortRange(8080, 8089), PortRange(9100)])
        let readBack = try NetnsSysctl.write(target, netnsAt: a.path)
        #expect(readBack == target)
        #expect(TestProcess.readKey(inNamed: a.name) == target)
        #expect(try NetnsSysctl.read(netnsAt: a.path) == target)
        #expect(TestProcess.readKey(inNamed: b.name) == PortSet([7000]))
        #expect(TestProcess.ownKey() == own)
    }

    /// `NetnsSysctl.open`: the cookie and the two read descriptors from one entered thread;
    /// reads then use those descriptors on this thread and still see the target's current
    /// value (also right after a write through the same keys).
    @Test func openGivesTheCookieAndPreparedReadsThatFollowTheTarget() throws {
        let own = try #require(TestProcess.ownKey())
        let a = NamedTestNetns()
        a.setKey("7000")
        let handle = try NetnsHandle(path: a.path)
        let discovered = DiscoveredNetns(identity: handle.identity, references: [.bindMount(path: a.path, folder: .named)],
                                         owner: nil, isOwn: false)
        let keys = try NetnsSysctl.open(discovered)
        #expect(keys.cookie == (try NetnsSysctl.cookie(netnsAt: a.path)))
        #expect(try keys.sysctl.read() == PortSet([7000]))
        a.setKey("7001")
        #expect(try keys.sysctl.read() == PortSet([7001]), "a prepared read formats the current value")
        let readBack = try keys.sysctl.write(PortSet([7001, 7002]), preserving: PortSet([7001]))
        #expect(readBack == PortSet([7001, 7002]))
        #expect(TestProcess.readKey(inNamed: a.name) == PortSet([7001, 7002]))
        #expect(keys.sysctl.readLocalPortRange() != nil)
        #expect(TestProcess.ownKey() == own)
    }

    @Test func longValueUsesTheTwoPhaseWriteInTheTarget() throws {
        let own = try #require(TestProcess.ownKey())
        let netns = NamedTestNetns()
        netns.setKey("1812,2000-2100")
        // 4,000 scattered ports: about 24 KB encoded, over one kernel parse and over the
        // first (small) read of `SysctlFile.read`.
        let target = PortSet((0..<4000).map { UInt16(20000 + 3 * $0) }).union(PortSet([1812]))
        #expect(ReservedPortsValue.encode(target).utf8.count > SysctlFile.firstReadSize)
        try NetnsSysctl.write(target, preserving: PortSet([1812]), netnsAt: netns.path)
        let readBack = try #require(TestProcess.readKey(inNamed: netns.name))
        #expect(readBack.count == target.count)
        #expect(readBack == target, "differs: \(readBack.subtracting(target).union(target.subtracting(readBack)))")
        #expect(try NetnsSysctl.read(netnsAt: netns.path) == target, "read whole through SysctlFile.read")
        #expect(TestProcess.ownKey() == own)
    }

    @Test func mergeKeepsForeignPorts() throws {
        let own = try #require(TestProcess.ownKey())
        let netns = NamedTestNetns()
        netns.setKey("1812,5000-5010")
        let after = try NetnsSysctl.merge(PortSet([8080, 5005]), netnsAt: netns.path)
        let expected = PortSet(ranges: [PortRange(1812), PortRange(5000, 5010), PortRange(8080)])
        #expect(after == expected)
        #expect(TestProcess.readKey(inNamed: netns.name) == expected)
        #expect(TestProcess.ownKey() == own)
    }

    @Test func processHeldNamespaceIsWritable() throws {
        let own = try #require(TestProcess.ownKey())
        let held = HeldTestNetns()
        let identity = try #require(NetnsFiles.identity(of: held.path))
        #expect(identity != NetnsFiles.own())
        try NetnsSysctl.write(PortSet([4444]), netnsAt: held.path, expecting: identity)
        #expect(try NetnsSysctl.read(netnsAt: held.path) == PortSet([4444]))
        #expect(TestProcess.ownKey() == own)
    }

    @Test func vanishedNamespacesAreDistinguishable() throws {
        let own = try #require(TestProcess.ownKey())
        // A process-held namespace whose process exits before the open.
        let held = HeldTestNetns()
        let path = held.path
        held.kill()
        #expect(throws: NetnsError.vanished(path: path)) { try NetnsSysctl.write(PortSet([1]), netnsAt: path) }
        // A named namespace deleted before the open.
        let named = NamedTestNetns()
        let namedPath = named.path
        named.delete()
        #expect(throws: NetnsError.vanished(path: namedPath)) { try NetnsSysctl.read(netnsAt: namedPath) }
        // The path now names another namespace than the one discovered (a reused pid).
        let a = NamedTestNetns(), b = NamedTestNetns()
        let bIdentity = try #require(NetnsFiles.identity(of: b.path))
        #expect(throws: NetnsError.vanished(path: a.path)) {
            try NetnsSysctl.merge(PortSet([1]), netnsAt: a.path, expecting: bIdentity)
        }
        #expect(TestProcess.readKey(inNamed: a.name) == PortSet())
        // A non-namespace file (a stale entry in a bind-mount folder) is "gone" too.
        #expect(throws: NetnsError.vanished(path: "/proc/self/status")) { try NetnsHandle(path: "/proc/self/status") }
        // A FIFO swapped in after discovery (a user's /run/user/UID/netns) is "gone" at once;
        // a blocking open would wait for a writer forever (this test would hang).
        let fifo = "/tmp/portward-test-fifo-\(getpid())"
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        #expect(throws: NetnsError.vanished(path: fifo)) { try NetnsHandle(path: fifo) }
        #expect(TestProcess.ownKey() == own)
    }

    /// Measured: once open, a namespace stays usable after its last process exits (the
    /// nsfs descriptor holds it); the write completes and reaches no other namespace.
    @Test func namespaceEndingDuringAWriteStillCompletesInIt() throws {
        let own = try #require(TestProcess.ownKey())
        let held = HeldTestNetns()
        let handle = try NetnsHandle(path: held.path)
        held.kill()
        let sysctl = ReservedPortsSysctl(io: NetnsSysctlIO(handle))
        #expect(try sysctl.write(PortSet([6000])) == PortSet([6000]))
        #expect(try sysctl.read() == PortSet([6000]))
        #expect(TestProcess.ownKey() == own)
    }

    @Test func cookies() throws {
        let a = NamedTestNetns(), b = NamedTestNetns()
        let held = HeldTestNetns(inNamed: a.name)
        let ca = try NetnsSysctl.cookie(netnsAt: a.path)
        let cb = try NetnsSysctl.cookie(netnsAt: b.path)
        #expect(ca != 0 && cb != 0 && ca != cb)
        #expect(try NetnsSysctl.cookie(netnsAt: held.path) == ca)
        // The own namespace's cookie, through a thread, equals a socket's on this thread.
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(socket) }
        var cookie: UInt64 = 0
        var length = socklen_t(8)
        #expect(getsockopt(socket, SOL_SOCKET, 71, &cookie, &length) == 0)
        #expect(try NetnsSysctl.cookie(netnsAt: "/proc/self/ns/net") == cookie)
    }

    @Test func discoveryFindsNamedAndHeldNamespacesOnce() throws {
        let named = NamedTestNetns()
        let inNamed = HeldTestNetns(inNamed: named.name)
        let held = HeldTestNetns()
        let namedIdentity = try #require(NetnsFiles.identity(of: named.path))
        let heldIdentity = try #require(NetnsFiles.identity(of: held.path))
        let found = NetnsDiscovery().scan()

        #expect(Set(found.map(\.identity)).count == found.count)
        #expect(found.first?.isOwn == true)
        #expect(found.first?.identity == NetnsFiles.own())
        #expect(found.first?.pids.contains(getpid()) == true)
        #expect(found.filter(\.isOwn).count == 1)

        let n = try #require(found.first { $0.identity == namedIdentity })
        #expect(n.names.contains(named.name))
        #expect(n.pids.contains(inNamed.pid))
        #expect(n.path == named.path)
        let h = try #require(found.first { $0.identity == heldIdentity })
        #expect(h.pids == [held.pid])
        #expect(h.references == [.process(pid: held.pid, command: "sleep")])
        #expect(h.path == held.path)

        #expect(NetnsScope.named([String(named.name.prefix(14)) + "*"]).selects(n))
        #expect(!NetnsScope.named(["portward-test-"]).selects(n))

        // Folders only (what an inotify event triggers): the held one is not seen.
        let foldersOnly = NetnsDiscovery(includeProcesses: false).scan()
        #expect(foldersOnly.contains { $0.identity == namedIdentity })
        #expect(!foldersOnly.contains { $0.identity == heldIdentity })

        // A namespace deleted and a process gone: the next pass drops both.
        inNamed.kill(); held.kill(); named.delete()
        let later = NetnsDiscovery().scan()
        #expect(!later.contains { $0.identity == namedIdentity || $0.identity == heldIdentity })
    }

    @Test func discoveryReadsBindMountFoldersAndSkipsStaleFiles() throws {
        let netns = NamedTestNetns()
        // A private folder standing in for /run/docker/netns: one bind mount, one stale file.
        let folder = "/tmp/portward-netns-folder-\(getpid())"
        mkdir(folder, 0o755)
        defer { TestProcess.shell("umount \(folder)/sandbox 2>/dev/null; rm -rf \(folder)") }
        #expect(TestProcess.shell(": > \(folder)/sandbox && : > \(folder)/stale && mount --bind \(netns.path) \(folder)/sandbox") == 0)
        let found = NetnsDiscovery(folders: [(folder, .docker)], includeProcesses: false).scan()
        let identity = try #require(NetnsFiles.identity(of: netns.path))
        let entry = try #require(found.first { $0.identity == identity })
        #expect(entry.references == [.bindMount(path: folder + "/sandbox", folder: .docker)])
        #expect(entry.names == [])
        #expect(!found.contains { $0.references.contains(.bindMount(path: folder + "/stale", folder: .docker)) })
    }
}

@Suite(.serialized, .enabled(if: TestProcess.canCreateNetns, "needs root, ip and unshare"))
struct CNIRealNamespaceTests {
    let ports = PortSet(ranges: [PortRange(8080, 8081), PortRange(9100)])
    let prevResult = #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[]}"#

    func env(_ command: String, netns: String) -> [String: String] {
        ["CNI_COMMAND": command, "CNI_CONTAINERID": "portward-test", "CNI_IFNAME": "eth0", "CNI_NETNS": netns]
    }

    var config: [UInt8] { Array(#"{"cniVersion":"1.0.0","name":"t","type":"portward","prevResult":\#(prevResult)}"#.utf8) }

    @Test func addCheckDelVersion() throws {
        let own = try #require(TestProcess.ownKey())
        let netns = NamedTestNetns()
        netns.setKey("1812")
        let io = CNINetnsSysctl()

        let add = CNIPlugin.run(environment: env("ADD", netns: netns.path), stdin: config, ports: ports, io: io)
        #expect(add == .init(stdout: prevResult + "\n", exitStatus: 0, error: nil))
        #expect(TestProcess.readKey(inNamed: netns.name) == ports.union(PortSet([1812])))

        #expect(CNIPlugin.run(environment: env("CHECK", netns: netns.path), stdin: config, ports: ports, io: io).exitStatus == 0)
        netns.setKey("1812,8080-8081")
        let check = CNIPlugin.run(environment: env("CHECK", netns: netns.path), stdin: config, ports: ports, io: io)
        #expect(check.error?.code == CNIError.portsMissing)
        #expect(check.error?.details.contains("9100") == true)

        for _ in 0..<2 {
            #expect(CNIPlugin.run(environment: env("DEL", netns: netns.path), stdin: config, ports: ports, io: io).exitStatus == 0)
        }
        netns.delete()
        #expect(CNIPlugin.run(environment: env("DEL", netns: netns.path), stdin: config, ports: ports, io: io).exitStatus == 0)
        let gone = CNIPlugin.run(environment: env("ADD", netns: netns.path), stdin: config, ports: ports, io: io)
        #expect(gone.error?.code == CNIError.netnsUnavailable)
        #expect(CNIPlugin.run(environment: ["CNI_COMMAND": "VERSION"], stdin: config, ports: ports, io: io).exitStatus == 0)
        #expect(TestProcess.ownKey() == own)
    }
}
