import Testing
import PortwardCore

@Suite struct DropInTests {
    let dirs = ConfigSearchPath.dropInDirectories
    var etc: String { dirs[0] }
    var run: String { dirs[1] }
    var local: String { dirs[2] }
    var usr: String { dirs[3] }

    func file(_ dir: String, _ name: String) -> DropIn.Candidate { .init(directory: dir, name: name, isMask: false) }
    func mask(_ dir: String, _ name: String) -> DropIn.Candidate { .init(directory: dir, name: name, isMask: true) }

    @Test func searchPathIsSystemdOrder() {
        #expect(ConfigSearchPath.mainFile == "/etc/portward/ports.conf")
        #expect(dirs == ["/etc/portward/ports.d", "/run/portward/ports.d", "/usr/local/lib/portward/ports.d",
                         "/usr/lib/portward/ports.d"])
    }

    @Test func lexicalOrderAcrossDirectories() {
        let r = DropIn.resolve([file(usr, "50-b.conf"), file(etc, "90-z.conf"), file(run, "10-a.conf"),
                                file(local, "50-a.conf")], directories: dirs)
        #expect(r.effective.map(\.path) == ["/run/portward/ports.d/10-a.conf", "/usr/local/lib/portward/ports.d/50-a.conf",
                                            "/usr/lib/portward/ports.d/50-b.conf", "/etc/portward/ports.d/90-z.conf"])
        #expect(r.masks.isEmpty && r.shadowed.isEmpty)
    }

    @Test("the earliest directory wins for one name", arguments: [0, 1, 2, 3])
    func precedence(winner: Int) {
        // Every directory from `winner` on holds x.conf; listing order must not matter.
        let candidates = dirs[winner...].reversed().map { file($0, "x.conf") }
        let r = DropIn.resolve(candidates, directories: dirs)
        #expect(r.effective == [file(dirs[winner], "x.conf")])
        #expect(r.shadowed.map(\.candidate.directory) == Array(dirs[(winner + 1)...]))
        #expect(r.shadowed.allSatisfy { $0.by == file(dirs[winner], "x.conf") })
    }

    @Test func maskHidesLowerFiles() {
        let r = DropIn.resolve([file(usr, "radius.conf"), mask(etc, "radius.conf"), file(usr, "rsync.conf")],
                               directories: dirs)
        #expect(r.effective.map(\.path) == ["/usr/lib/portward/ports.d/rsync.conf"])
        #expect(r.masks == [mask(etc, "radius.conf")])
        #expect(r.shadowed == [.init(candidate: file(usr, "radius.conf"), by: mask(etc, "radius.conf"))])
    }

    @Test func maskBelowAFileDoesNothing() {
        let r = DropIn.resolve([mask(usr, "a.conf"), file(run, "a.conf")], directories: dirs)
        #expect(r.effective == [file(run, "a.conf")])
        #expect(r.masks.isEmpty)
        #expect(r.shadowed.map(\.candidate) == [mask(usr, "a.conf")])
    }

    @Test func maskWithNothingToMask() {
        let r = DropIn.resolve([mask(etc, "a.conf")], directories: dirs)
        #expect(r.effective.isEmpty)
        #expect(r.masks == [mask(etc, "a.conf")])
    }

    @Test("names considered", arguments: [
        ("a.conf", true), ("50-radius.conf", true), ("a.conf.conf", true),
        (".conf", false), (".hidden.conf", false), ("a.conf~", false), ("a.conf.dpkg-old", false),
        ("a.cfg", false), ("a.CONF", false), ("conf", false), ("a.confx", false),
    ])
    func considered(name: String, expected: Bool) {
        #expect(DropIn.isConfigName(name) == expected)
        #expect(DropIn.resolve([file(etc, name)], directories: dirs).effective.count == (expected ? 1 : 0))
    }

    @Test func lexicalOrderIsByteOrder() {
        // strcmp order: uppercase before lowercase, digits before letters, "a.conf" before "a0.conf"
        // ('.' is 0x2E, '0' is 0x30), "é" after "z".
        let names = ["é.conf", "z.conf", "a0.conf", "a.conf", "B.conf", "1.conf"]
        let r = DropIn.resolve(names.map { file(etc, $0) }, directories: dirs)
        #expect(r.effective.map(\.name) == ["1.conf", "B.conf", "a.conf", "a0.conf", "z.conf", "é.conf"])
    }

    @Test func paths() {
        #expect(file("/r/etc/portward/ports.d", "a.conf").path == "/r/etc/portward/ports.d/a.conf")
        #expect(ConfigSearchPath.join("/x/", "a.conf") == "/x/a.conf")
    }
}
