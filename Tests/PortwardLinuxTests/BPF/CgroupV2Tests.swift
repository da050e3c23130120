import Glibc
import PortwardLinux
import Testing

/// The cgroup and netns helpers against this host's real /proc (no root needed).
@Suite(.enabled(if: CgroupV2.mountPoint() != nil, "no cgroup2 mounted"))
struct CgroupV2Tests {
    @Test func ownCgroupDirectoryIsOnCgroup2AndHasAnID() throws {
        let mount = try #require(CgroupV2.mountPoint())
        let own = try #require(CgroupV2.directory())
        #expect(own.hasPrefix(mount))
        let id = try CgroupV2.id(ofDirectory: own)
        var st = stat()
        #expect(stat(own, &st) == 0)
        #expect(id == UInt64(st.st_ino))
        #expect(CgroupV2.directory(ofProcess: getpid()) == own)
        #expect(CgroupV2.directory(ofProcess: 0x7fff_fff0) == nil, "no such process")
    }

    @Test func aDirectoryOffCgroup2IsRefused() {
        #expect(throws: BPFGuardError.self) { try CgroupV2.id(ofDirectory: "/") }
        #expect(throws: BPFGuardError.self) { try CgroupV2.id(ofDirectory: "/nonexistent/portward") }
    }

    @Test func netnsCookieIsStableWithinANamespace() throws {
        let first = try NetnsCookie.current()
        #expect(first != 0)
        #expect(try NetnsCookie.current() == first)
    }
}
