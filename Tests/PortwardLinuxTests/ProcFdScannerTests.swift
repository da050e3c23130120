import Glibc
import PortwardCore
@testable import PortwardLinux
import SystemPackage
import Testing

/// A fake proc tree in a fresh temporary directory, removed on deinit.
private final class FakeProc {
    let root: String

    init() {
        var template = Array("/tmp/portward-fakeproc-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp: errno \(errno)")
        root = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                      as: UTF8.self)
    }

    deinit { removeTree(root) }

    func directory(_ path: String) {
        var prefix = root
        for component in path.split(separator: "/") {
            prefix += "/" + component
            precondition(mkdir(prefix, 0o755) == 0 || errno == EEXIST, "mkdir \(prefix)")
        }
    }

    func link(_ path: String, to target: String) {
        precondition(symlink(target, root + "/" + path) == 0, "symlink \(path): errno \(errno)")
    }

    func file(_ path: String, _ text: String) {
        let fd = open(root + "/" + path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open \(path): errno \(errno)")
        let bytes = Array(text.utf8)
        precondition(write(fd, bytes, bytes.count) == bytes.count)
        close(fd)
    }

    private func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            if let directory = opendir(path) {
                var names: [String] = []
                while let entry = readdir(directory) {
                    let name = withUnsafeBytes(of: &entry.pointee.d_name) {
                        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(directory)
                for name in names { removeTree(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Two processes sharing socket 4242, plus entries a scan must skip.
    static func sample() -> FakeProc {
        let proc = FakeProc()
        proc.directory("123/fd")
        proc.link("123/fd/0", to: "/dev/null")
        proc.link("123/fd/3", to: "socket:[4242]")
        proc.link("123/fd/4", to: "pipe:[9]")
        proc.link("123/fd/5", to: "socket:[777]")
        proc.link("123/exe", to: "/usr/sbin/nginx (deleted)")
        proc.file("123/comm", "nginx\n")
        proc.file("123/status", "Name:\tnginx\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t33\t0\t33\t33\nGid:\t33\t33\t33\t33\n")
        proc.directory("456/fd")
        proc.link("456/fd/7", to: "socket:[4242]")
        proc.link("456/fd/8", to: "socket:[5555]")
        proc.link("456/fd/9", to: "socket:[]")
        proc.link("456/fd/10", to: "socket:[12x]")
        proc.link("456/fd/11", to: "socket:[99999999999999999999999]")
        proc.file("456/comm", "nginx: worker\n")
        proc.file("456/status", "Name:\tnginx: worker\nUid:\t1000\t1000\t1000\t1000\n")
        proc.directory("789")  // exited between readdir and open: no fd directory
        proc.file("999", "not a process\n")
        proc.link("self", to: "123")
        proc.directory("sys/net")
        proc.directory("42abc/fd")
        proc.link("42abc/fd/1", to: "socket:[4242]")
        return proc
    }
}

@Suite struct ProcFdScannerTests {
    @Test func fakeTreeScanFindsEveryHolderOfTheInodes() throws {
        let proc = FakeProc.sample()
        let scanner = ProcFdScanner(procRoot: proc.root)
        let result = try scanner.scan(for: [4242, 5555, 1])
        #expect(result.descriptors == [
            4242: [.init(pid: 123, fd: 3), .init(pid: 456, fd: 7)],
            5555: [.init(pid: 456, fd: 8)],
        ])
        #expect(result.pids == [4242: [123, 456], 5555: [456]])
        #expect(!result.permissionDenied)
    }

    @Test func scanForNothingReadsNothing() throws {
        let result = try ProcFdScanner(procRoot: "/nonexistent-proc").scan(for: [])
        #expect(result == ProcFdScanner.Result())
    }

    @Test func missingProcRootThrows() {
        #expect(throws: Errno.noSuchFileOrDirectory) {
            try ProcFdScanner(procRoot: "/nonexistent-proc").scan(for: [1])
        }
    }

    @Test func stillHoldsChecksOneDescriptor() {
        let proc = FakeProc.sample()
        let scanner = ProcFdScanner(procRoot: proc.root)
        #expect(scanner.stillHolds(.init(pid: 123, fd: 3), inode: 4242))
        #expect(!scanner.stillHolds(.init(pid: 123, fd: 3), inode: 4243))
        #expect(!scanner.stillHolds(.init(pid: 123, fd: 4), inode: 9))
        #expect(!scanner.stillHolds(.init(pid: 123, fd: 99), inode: 4242))
        #expect(!scanner.stillHolds(.init(pid: 31_337, fd: 3), inode: 4242))
    }

    static let links: [(String, UInt64?)] = [
        ("socket:[4242]", 4242),
        ("socket:[0]", 0),
        ("socket:[18446744073709551615]", UInt64.max),
        ("socket:[18446744073709551616]", nil),
        ("socket:[]", nil),
        ("socket:[12", nil),
        ("socket:[1a]", nil),
        ("pipe:[4242]", nil),
        ("/dev/null", nil),
        ("anon_inode:[eventfd]", nil),
        ("", nil),
    ]

    @Test(arguments: links)
    func parsesSocketLinks(link: String, inode: UInt64?) {
        let bytes = Array(link.utf8)
        #expect(bytes.withUnsafeBytes { ProcFdScanner.parseSocketLink($0) } == inode)
    }

    @Test func realScanFindsOwnSocket() throws {
        let listener = TestSocket.listener()
        let result = try ProcFdScanner().scan(for: [listener.inode])
        let own = ProcFdScanner.Descriptor(pid: getpid(), fd: listener.fd)
        #expect(result.descriptors[listener.inode] == [own])
        #expect(ProcFdScanner().stillHolds(own, inode: listener.inode))
    }
}

@Suite struct ProcessTableTests {
    @Test func fakeTreeHolders() {
        let proc = FakeProc.sample()
        let table = ProcessTable(procRoot: proc.root,
                                 unitLookup: { $0 == 123 ? "nginx.service" : nil })
        #expect(table.holder(pid: 123) == Holder(pid: 123, command: "nginx",
                                                 executablePath: "/usr/sbin/nginx",
                                                 unit: "nginx.service", uid: 33))
        #expect(table.holder(pid: 456) == Holder(pid: 456, command: "nginx: worker",
                                                 executablePath: nil, unit: nil, uid: 1000))
        #expect(table.holder(pid: 789) == nil)
        #expect(table.holder(pid: 31_337) == nil)
    }

    static let statusLines: [(String, UInt32?)] = [
        ("Name:\tx\nUid:\t0\t0\t0\t0\n", 0),
        ("Uid:\t65534\t0\t0\t0", 65_534),
        ("Name:\tUid:\nUid: 7 8 9 10\n", 7),
        ("Name:\tx\nGid:\t5\t5\t5\t5\n", nil),
        ("Uid:\tnobody\n", nil),
        ("", nil),
    ]

    @Test(arguments: statusLines)
    func realUIDFromStatus(status: String, uid: UInt32?) {
        #expect(ProcessTable.realUID(status: Array(status.utf8)) == uid)
    }

    @Test func ownProcess() throws {
        let me = try #require(ProcessTable().holder(pid: getpid()))
        #expect(me.pid == getpid())
        #expect(me.uid == getuid())
        #expect(!me.command.isEmpty && !me.command.hasSuffix("\n"))
        #expect(me.executablePath?.hasPrefix("/") == true)
    }
}

/// Issue 11 items 2 and 3: hidepid detection and process start times.
@Suite struct ProcMountAndStartTimeTests {
    static let mountinfo = """
        22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        30 22 0:27 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw,fd=30
        41 1 0:40 / /tmp/hidden\\040proc rw,relatime - proc proc rw,hidepid=invisible
        42 1 0:41 / /tmp/noaccess rw,relatime - proc proc rw,hidepid=noaccess
        43 1 0:42 / /tmp/ptraceable rw,relatime - proc proc rw,hidepid=ptraceable,subset=pid
        44 1 0:43 / /tmp/remounted rw,relatime - proc proc rw,hidepid=invisible
        45 1 0:44 / /tmp/remounted rw,relatime - proc proc rw
        46 1 0:45 / /tmp/tmpfs rw,relatime - tmpfs tmpfs rw,hidepid=2
        """

    @Test(arguments: [
        ("/proc", false), ("/tmp/hidden proc", true), ("/tmp/noaccess", false), ("/tmp/ptraceable", true),
        ("/tmp/remounted", false), ("/tmp/tmpfs", false), ("/nowhere", false),
    ])
    func hidepidOfTheMountAt(mountPoint: String, hides: Bool) {
        #expect(ProcMount.hidepid(mountinfo: Self.mountinfo, mountPoint: mountPoint) == hides)
    }

    @Test func startTimeFields() {
        // comm with spaces and a parenthesis; starttime is field 22.
        let stat = "4242 (a b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10 18446744073709551615\n"
        #expect(ProcessTable.startTicks(stat: Array(stat.utf8)) == 123_456)
        #expect(ProcessTable.startTicks(stat: Array("1 (x) S 1 2".utf8)) == nil)
        #expect(ProcessTable.bootTime(stat: Array("cpu  1 2 3\nbtime 1764570000\nprocesses 9\n".utf8)) == 1_764_570_000)
        #expect(ProcessTable.bootTime(stat: Array("cpu 1\n".utf8)) == nil)
    }

    @Test func ownStartTimeIsInThePast() throws {
        let started = try #require(ProcessTable().startTime(pid: getpid()))
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        #expect(started <= Double(now.tv_sec) + 1)
        #expect(started > 1_000_000_000)
    }
}

@Suite struct HolderLookupTests {
    @Test func attributesOwnListenerAndFollowsAMovedDescriptor() throws {
        let listener = TestSocket.listener()
        let lookup = try HolderLookup(processes: ProcessTable(unitLookup: { _ in "test.unit" }))
        let ports = PortSet([listener.port])

        for _ in 0..<2 {  // first call scans, second answers from the cache
            let report = try lookup.holders(of: ports, protocols: .tcp)
            #expect(report.sockets.count == 1)
            let held = try #require(report.sockets.first)
            #expect(held.socket.inode == listener.inode)
            #expect(held.holders.map(\.pid) == [getpid()])
            #expect(held.holders.first?.unit == "test.unit")
            #expect(!report.attributionIncomplete)
        }

        // Move the socket to another fd: the cached descriptor fails its check, a rescan
        // finds the new one.
        let inode = listener.inode
        // Close-on-exec like every test socket: a plain dup() would be inherited by a child
        // that a parallel test spawns meanwhile, and the socket would outlive our close.
        let moved = TestSocket(fd: fcntl(listener.fd, F_DUPFD_CLOEXEC, 0))
        listener.closeNow()
        let report = try lookup.holders(of: ports, protocols: .tcp)
        #expect(report.sockets.map(\.socket.inode) == [inode])
        #expect(report.sockets.first?.holders.map(\.pid) == [getpid()])
        #expect(ProcFdScanner().stillHolds(.init(pid: getpid(), fd: moved.fd), inode: inode))

        // Closed for good: the socket leaves the dump. (Only this inode: once closed, the
        // port is free again and a parallel test's socket may take it.)
        moved.closeNow()
        #expect(try lookup.holders(of: ports, protocols: .tcp).sockets.allSatisfy { $0.socket.inode != inode })
    }

    @Test func emptyPortSetGivesEmptyReport() throws {
        let lookup = try HolderLookup()
        let report = try lookup.holders(of: PortSet())
        #expect(report.sockets.isEmpty && !report.attributionIncomplete)
    }
}
