import Glibc
import PortwardCore
@testable import PortwardLinux
import PortwardAgent
import SystemPackage
import Testing

/// A simulated `ip_local_reserved_ports` behind the `SysctlIO` seam, with the kernel's
/// `proc_do_large_bitmap()` semantics (one `write()` parses at most 4,095 bytes and stops
/// on a token boundary; a write at offset 0 replaces the set, later ones OR into it), and
/// scripted faults.
final class FakeReservedPorts: SysctlIO, @unchecked Sendable {
    var value: PortSet
    /// The smallest set the value held after any write (what a SIGKILL could have left).
    var history: [PortSet] = []
    /// Fault for the Nth `write()` call (1-based, counted across opens).
    var writeFaults: [Int: Errno] = [:]
    /// `write()` calls returning 0 (consuming nothing), 1-based.
    var zeroWrites: Set<Int> = []
    var openForWritingError: Errno?
    var readError: SysctlError?
    /// When set, `read` returns only this many bytes of the value.
    var truncateReadTo: Int?
    /// The local port range file's content.
    var localPortRange = "32768\t60999\n"
    private(set) var writeCalls = 0

    init(_ value: PortSet = PortSet()) { self.value = value }

    func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(SysctlError) -> Int {
        if let readError, path.hasSuffix("reserved_ports") { throw readError }
        var bytes = Array((path.hasSuffix("reserved_ports") ? ReservedPortsValue.encode(value) : localPortRange).utf8)
        if let limit = truncateReadTo, path.hasSuffix("reserved_ports") { bytes = Array(bytes.prefix(limit)) }
        let n = min(bytes.count, buffer.count)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        return n
    }

    func openForWriting(_ path: String, offset: Int) throws(Errno) -> any SysctlWriteHandle {
        if let openForWritingError { throw openForWritingError }
        return Handle(kernel: self, position: offset)
    }

    /// One `write()` at file position `position`.
    func write(_ chunk: [UInt8], at position: Int) throws(Errno) -> Int {
        writeCalls += 1
        if let fault = writeFaults[writeCalls] { throw fault }
        if zeroWrites.contains(writeCalls) { return 0 }
        var consumed = min(chunk.count, SysctlFile.maximumAtomicWrite)
        if chunk.count > consumed {
            // Stop after the last separator inside the parsed window.
            while consumed > 0, chunk[consumed - 1] != UInt8(ascii: ","), chunk[consumed - 1] != UInt8(ascii: "\n") {
                consumed -= 1
            }
        }
        let text = String(decoding: chunk[..<consumed], as: UTF8.self)
        guard let parsed = try? ReservedPortsValue.decode(text) else { throw .invalidArgument }
        value = position == 0 ? parsed : value.union(parsed)
        history.append(value)
        return consumed
    }

    private final class Handle: SysctlWriteHandle {
        let kernel: FakeReservedPorts
        var position: Int
        init(kernel: FakeReservedPorts, position: Int) {
            self.kernel = kernel
            self.position = position
        }
        func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
            let n = try kernel.write(Array(bytes), at: position)
            position += n
            return n
        }
        func close() {}
    }
}

/// A temporary root for the state file, removed at the end.
final class TemporaryRoot {
    let path: String
    init() {
        var template = Array("/tmp/portward-faults-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil)
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    var statePath: String { path + "/run/portward/state.json" }
    func writeState(_ text: String) {
        try! FileContents.writeAtomically(Array(text.utf8), to: statePath)
    }
    deinit {
        unlink(statePath)
        for dir in ["/run/portward", "/run", ""] { rmdir(path + dir) }
    }
}

/// Scattered single ports: `count` ports from `start` in steps of `step`.
func scattered(_ start: Int, _ count: Int, step: Int = 3) -> PortSet {
    PortSet((0..<count).map { UInt16(start + $0 * step) })
}

func configuration(_ ports: PortSet, name: String = "svc") -> Configuration {
    let entry = PortEntry(name: name, ports: ports, portsText: ports.description, protocols: .all, owner: .any,
                             location: SourceLocation(file: "/etc/portward/ports.conf", line: 1))
    return Configuration(entries: [entry])
}

@Suite struct SysctlFaultTests {
    static let foreign = scattered(50_001, 40, step: 7)
    /// Encodes to about 13 KB: four kernel writes.
    static let old = scattered(1025, 2600)
    static let kept = scattered(1025, 100)
    static let new = kept.union(scattered(10_001, 2000, step: 5))

    // MARK: Write strategy

    @Test func shortValueIsOneAtomicWrite() throws {
        let kernel = FakeReservedPorts(Self.foreign)
        let sysctl = ReservedPortsSysctl(io: kernel)
        let target = Self.foreign.union(PortSet([1812, 1813]))
        try sysctl.write(target, preserving: Self.foreign)
        #expect(kernel.writeCalls == 1)
        #expect(kernel.value == target)
    }

    @Test func longValueNeverDropsPortsOfBothOldAndNew() throws {
        let current = Self.foreign.union(Self.old)
        let target = Self.foreign.union(Self.new)
        #expect(ReservedPortsValue.encode(target).utf8.count > 3 * SysctlFile.maximumAtomicWrite)
        let kernel = FakeReservedPorts(current)
        try ReservedPortsSysctl(io: kernel).write(target, preserving: Self.foreign)
        #expect(kernel.value == target)
        let mustStay = current.intersection(target)
        #expect(kernel.history.count > 4)
        for (i, state) in kernel.history.enumerated() {
            #expect(mustStay.isSubset(of: state), "after write \(i + 1): lost \(mustStay.subtracting(state))")
            #expect(state.isSubset(of: current.union(target)), "after write \(i + 1)")
        }
    }

    @Test func onlyAddingNeverReplaces() throws {
        let current = Self.foreign.union(Self.old)
        let target = current.union(scattered(20_001, 2000))
        let kernel = FakeReservedPorts(current)
        try ReservedPortsSysctl(io: kernel).write(target, preserving: Self.foreign)
        #expect(kernel.value == target)
        for state in kernel.history { #expect(current.isSubset(of: state)) }
    }

    /// The old strategy (one `.replace` write of the sorted value) is what the two phases
    /// replace: show the simulated kernel really loses ports with it, so the test above can fail.
    @Test func naiveReplaceLosesPortsBetweenChunks() throws {
        let current = Self.foreign.union(Self.old)
        let target = Self.foreign.union(Self.new)
        let kernel = FakeReservedPorts(current)
        try SysctlFile(name: "net.ipv4.ip_local_reserved_ports", io: kernel).write(ReservedPortsValue.encode(target))
        #expect(kernel.value == target)
        #expect(kernel.history.contains { !Self.foreign.isSubset(of: $0) })
    }

    @Test func replacementTextPutsPrioritiesInTheFirstChunk() {
        let target = Self.foreign.union(Self.new)
        let text = ReservedPortsSysctl.replacementText(target, first: [Self.foreign, Self.kept])
        let head = String(text.utf8.prefix(SysctlFile.maximumAtomicWrite))!
        let firstChunk = try! ReservedPortsValue.decode(String(head[..<head.lastIndex(of: ",")!]))
        #expect(Self.foreign.isSubset(of: firstChunk))
        #expect(Self.kept.isSubset(of: firstChunk))
        #expect(try! ReservedPortsValue.decode(text) == target)
    }

    // MARK: Kernel errors

    /// Calls 1-3 are the merge phase (adding), 4-7 the replace phase (removing the old ports
    /// portward owned): EINVAL on a later chunk of either.
    @Test(arguments: [2, 3, 5, 6])
    func errorOnALaterChunkKeepsForeignPortsAndReportsTheOffset(call: Int) throws {
        let current = Self.foreign.union(Self.old)
        let kernel = FakeReservedPorts(current)
        kernel.writeFaults = [call: .invalidArgument]
        let root = TemporaryRoot()
        root.writeState(#"{"version": 1, "owned": [{"ports": "\#(Self.old)", "entry": "old", "file": "f", "line": 1}]}"#)
        let reconciler = ReservationTransaction(context: TargetContext(root: root.path), sysctl: ReservedPortsSysctl(io: kernel))
        let plan = try reconciler.plan(configuration(Self.new), force: true).plan
        do {
            _ = try reconciler.commit(plan)
            Issue.record("the injected EINVAL was not reported")
        } catch let error as SysctlError {
            guard case .writeRejected(_, let errno, let offset) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(errno == .invalidArgument)
            #expect(offset > 0, "a later chunk failed, not the first")
            #expect("\(error)".contains("rejected the write"))
        }
        #expect(Self.foreign.isSubset(of: kernel.value))
        for state in kernel.history { #expect(Self.foreign.isSubset(of: state)) }
        #expect(kernel.writeCalls == call, "the loop stopped at the failing write")
        // The in-flight state stays: the old ports and the new ones are recorded as owned,
        // so the next apply still releases whichever are no longer declared.
        #expect(try TargetContext(root: root.path).stateStore.load().ownedPorts == Self.old.union(Self.new))

        // Roll back to the old configuration on a healthy kernel: exactly the old value,
        // none of the new ports the failed write added left behind as "foreign".
        kernel.writeFaults = [:]
        let rollback = try reconciler.plan(configuration(Self.old), force: true).plan
        _ = try reconciler.commit(rollback)
        #expect(kernel.value == Self.foreign.union(Self.old))
        #expect(try TargetContext(root: root.path).stateStore.load().ownedPorts == Self.old)
    }

    /// Foreign reservations far past 4 KB: a replace's first chunk cannot hold them all, so
    /// a write cut after it leaves some absent. The in-flight state records them, and the
    /// next apply adds every one back (and says so), whichever write() failed.
    @Test(arguments: Array(2...12))
    func cutReplaceWithLongForeignValueIsRepairedByTheNextApply(call: Int) throws {
        let foreign = scattered(40_001, 1500, step: 2)   // about 9 KB on its own
        let kernel = FakeReservedPorts(foreign.union(Self.old))
        kernel.writeFaults = [call: .invalidArgument]
        let root = TemporaryRoot()
        root.writeState(#"{"version": 1, "owned": [{"ports": "\#(Self.old)", "entry": "old", "file": "f", "line": 1}]}"#)
        let reconciler = ReservationTransaction(context: TargetContext(root: root.path), sysctl: ReservedPortsSysctl(io: kernel))
        let first = try reconciler.plan(configuration(Self.new), force: true).plan
        let failed = (try? reconciler.commit(first)) == nil
        let dropped = foreign.subtracting(kernel.value)

        kernel.writeFaults = [:]
        let (next, warnings) = try reconciler.plan(configuration(Self.new), force: true)
        #expect(next.restored == dropped)
        #expect(warnings.isEmpty)
        #expect(next.diagnostics.contains { $0.message.contains("interrupted") } == !dropped.isEmpty)
        _ = try reconciler.commit(next)
        #expect(kernel.value == foreign.union(Self.new))
        let state = try TargetContext(root: root.path).stateStore.load()
        #expect(state.pendingForeign == nil)
        #expect(state.ownedPorts == Self.new)
        if call == 6 { #expect(failed && !dropped.isEmpty, "call 6 is a later chunk of the replace: it must show the gap") }
    }

    @Test func writeOfZeroBytesStallsInsteadOfLooping() {
        let kernel = FakeReservedPorts(Self.foreign)
        kernel.zeroWrites = [1]
        #expect(throws: SysctlError.writeStalled(path: "/proc/sys/net/ipv4/ip_local_reserved_ports", offset: 0)) {
            try ReservedPortsSysctl(io: kernel).write(Self.foreign.union(PortSet([1812])))
        }
        #expect(kernel.value == Self.foreign)
    }

    @Test func zeroOnASecondChunkReportsItsOffset() throws {
        let kernel = FakeReservedPorts(PortSet())
        kernel.zeroWrites = [2]
        do {
            try ReservedPortsSysctl(io: kernel).write(Self.old)
            Issue.record("no error")
        } catch {
            guard case .writeStalled(_, let offset) = error else { Issue.record("\(error)"); return }
            #expect(offset > 0 && offset <= SysctlFile.maximumAtomicWrite)
        }
    }

    @Test(arguments: [(Errno.permissionDenied, "CAP_NET_ADMIN"), (Errno.notPermitted, "CAP_NET_ADMIN"),
                      (Errno.readOnlyFileSystem, "read-only")])
    func openErrorsNameTheCause(errno: Errno, hint: String) {
        let kernel = FakeReservedPorts(Self.foreign)
        kernel.openForWritingError = errno
        do {
            try ReservedPortsSysctl(io: kernel).write(Self.foreign.union(PortSet([1812])))
            Issue.record("no error")
        } catch {
            #expect(error == .openFailed(path: "/proc/sys/net/ipv4/ip_local_reserved_ports", errno: errno))
            #expect(error.description.contains(hint), "\(error)")
            #expect(error.description.contains("/proc/sys/net/ipv4/ip_local_reserved_ports"))
        }
        #expect(kernel.value == Self.foreign)
    }

    /// Docker mounts /proc/sys read-only in a private network namespace too: the hint must
    /// not claim the namespace is shared, and must say how to set the key anyway.
    @Test func readOnlyHintFitsContainersWithAPrivateNetworkNamespace() {
        let text = SysctlError.openFailed(path: "/proc/sys/net/ipv4/ip_local_reserved_ports",
                                          errno: .readOnlyFileSystem).description
        #expect(!text.contains("as in a container without a private network namespace"), "\(text)")
        #expect(text.contains("with or without a private network namespace"), "\(text)")
        #expect(text.contains("--sysctl"), "\(text)")
    }

    @Test func outOfMemoryOnReadIsAnErrorBeforeAnyPlan() {
        let kernel = FakeReservedPorts(Self.foreign)
        kernel.readError = .readFailed(path: "/proc/sys/net/ipv4/ip_local_reserved_ports", errno: .noMemory)
        let reconciler = ReservationTransaction(context: TargetContext(root: TemporaryRoot().path), sysctl: ReservedPortsSysctl(io: kernel))
        #expect(throws: SysctlError.readFailed(path: "/proc/sys/net/ipv4/ip_local_reserved_ports", errno: .noMemory)) {
            _ = try reconciler.plan(configuration(PortSet([1812])), force: false)
        }
        #expect(kernel.writeCalls == 0)
    }

    @Test(arguments: [0, 7, 100, 4000])
    func truncatedReadIsRejectedNotPlannedFrom(limit: Int) {
        let kernel = FakeReservedPorts(Self.foreign.union(Self.old))
        kernel.truncateReadTo = limit
        let reconciler = ReservationTransaction(context: TargetContext(root: TemporaryRoot().path), sysctl: ReservedPortsSysctl(io: kernel))
        do {
            _ = try reconciler.plan(configuration(PortSet([1812])), force: false)
            Issue.record("a truncated value was accepted")
        } catch {
            guard case .malformed(_, let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("truncated"))
        }
        #expect(kernel.writeCalls == 0)
    }

    @Test func emptyValueIsANewlineAndReadsAsEmpty() throws {
        let kernel = FakeReservedPorts(PortSet())
        #expect(try ReservedPortsSysctl(io: kernel).read().isEmpty)
    }

    @Test func verifyFailsWhenTheKernelDropsPorts() {
        // A kernel that accepts the write but keeps nothing (e.g. a racing writer replaced it).
        final class Forgetful: SysctlIO, @unchecked Sendable {
            func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(SysctlError) -> Int {
                buffer[0] = UInt8(ascii: "\n")
                return 1
            }
            func openForWriting(_ path: String, offset: Int) throws(Errno) -> any SysctlWriteHandle { Sink() }
            struct Sink: SysctlWriteHandle {
                func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int { bytes.count }
                func close() {}
            }
        }
        #expect(throws: SysctlError.verifyFailed(path: "/proc/sys/net/ipv4/ip_local_reserved_ports", missing: "1812")) {
            try ReservedPortsSysctl(io: Forgetful()).write(PortSet([1812]))
        }
    }

    // MARK: State file

    @Test(arguments: [
        ("missing", nil),
        ("corrupt", "{\"version\": 1, \"owned\": [ {"),
        ("not json", "\u{0}\u{1}garbage"),
        ("older, without version", "{\"owned\": []}"),
        ("version 0", "{\"version\": 0, \"owned\": []}"),
        ("newer", "{\"version\": 2, \"owned\": [], \"future\": true}"),
        ("damaged record", "{\"version\": 1, \"owned\": [{\"ports\": \"010,x\", \"entry\": \"a\", \"file\": \"f\", \"line\": 1}]}"),
        ("damaged pendingForeign", "{\"version\": 1, \"owned\": [], \"pendingForeign\": \"040002,abc\"}"),
    ] as [(String, String?)])
    func damagedStateLosesNothing(_ kind: String, _ content: String?) throws {
        // The kernel holds 5000 (added by portward before, but the state no longer says so)
        // and foreign ports; the configuration no longer declares 5000.
        let kernel = FakeReservedPorts(Self.foreign.union(PortSet([5000])))
        let root = TemporaryRoot()
        if let content { root.writeState(content) }
        let reconciler = ReservationTransaction(context: TargetContext(root: root.path), sysctl: ReservedPortsSysctl(io: kernel))
        let (plan, warnings) = try reconciler.plan(configuration(PortSet([1812])), force: false)
        if content == nil || kind == "damaged record" {
            #expect(warnings.isEmpty, "\(kind): \(warnings)")
        } else {
            #expect(warnings.count == 1, "\(kind)")
            #expect(warnings.first?.message.contains(root.statePath) == true, "\(warnings)")
        }
        #expect(plan.restored.isEmpty)
        // Unknown ownership: every port in the kernel is kept.
        #expect(plan.released.isEmpty)
        #expect(plan.target == Self.foreign.union(PortSet([5000, 1812])))
        _ = try reconciler.commit(plan)
        #expect(kernel.value == plan.target)
        // The state is rewritten in the current format.
        #expect(try TargetContext(root: root.path).stateStore.load().ownedPorts == PortSet([1812]))
    }

    @Test func unwritableStateDirectoryKeepsTheKernelWrite() throws {
        let kernel = FakeReservedPorts(Self.foreign)
        let root = TemporaryRoot()
        // /run is a file: the state directory cannot be created.
        let fd = open(root.path + "/run", O_WRONLY | O_CREAT, 0o644)
        close(fd)
        defer { unlink(root.path + "/run") }
        let reconciler = ReservationTransaction(context: TargetContext(root: root.path), sysctl: ReservedPortsSysctl(io: kernel))
        let plan = try reconciler.plan(configuration(PortSet([1812])), force: false).plan
        #expect(throws: StateStore.Failure.self) { try reconciler.commit(plan) }
        #expect(kernel.value == Self.foreign.union(PortSet([1812])))
    }
}
