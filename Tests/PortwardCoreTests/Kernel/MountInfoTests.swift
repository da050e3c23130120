import PortwardCore
import Testing

@Suite struct MountInfoTests {
    // Lines as the kernel writes them (proc(5)); optional fields vary in number.
    static let hybrid = """
        25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        35 25 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        41 35 0:38 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        42 35 0:39 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        50 25 0:45 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:20 - bpf bpf rw,mode=700
        """

    @Test func findsTheCgroup2MountOnAHybridHost() {
        let entries = MountInfoEntry.parse(Self.hybrid)
        #expect(entries.count == 5)
        #expect(MountInfoEntry.cgroup2MountPoint(in: entries) == "/sys/fs/cgroup/unified")
        #expect(entries.last == MountInfoEntry(root: "/", mountPoint: "/sys/fs/bpf", filesystemType: "bpf"))
    }

    @Test func pureV2HostAndNoOptionalFields() {
        let text = "30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"
        #expect(MountInfoEntry.cgroup2MountPoint(in: MountInfoEntry.parse(text)) == "/sys/fs/cgroup")
    }

    @Test func noCgroup2() {
        let text = "42 35 0:39 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,name=systemd\n"
        #expect(MountInfoEntry.cgroup2MountPoint(in: MountInfoEntry.parse(text)) == nil)
        #expect(MountInfoEntry.cgroup2MountPoint(in: MountInfoEntry.parse("")) == nil)
    }

    @Test func laterRootMountWinsOverABindMountOfASubtree() {
        let text = """
            41 35 0:38 / /sys/fs/cgroup rw shared:10 - cgroup2 cgroup2 rw
            90 41 0:38 /system.slice/x.service /run/x/cgroup rw - cgroup2 cgroup2 rw
            91 35 0:50 / /mnt/cg2 rw - cgroup2 cgroup2 rw
            """
        #expect(MountInfoEntry.cgroup2MountPoint(in: MountInfoEntry.parse(text)) == "/mnt/cg2")
    }

    @Test func decodesOctalEscapesAndSkipsMalformedLines() {
        let text = """
            41 35 0:38 / /mnt/with\\040space\\134x rw - cgroup2 cgroup2 rw
            garbage line
            1 2 3 4 5 6 7 8 9 10
            43 35 0:38 / /mnt/bad\\04 rw - ext4 /dev/sda rw
            """
        let entries = MountInfoEntry.parse(text)
        #expect(entries.map(\.mountPoint) == ["/mnt/with space\\x", "/mnt/bad\\04"])
    }
}
