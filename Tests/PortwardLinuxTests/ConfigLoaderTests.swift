import Glibc
import PortwardCore
import Testing
import PortwardLinux

/// A throwaway directory tree used as `--root`, removed on deinit.
final class FakeRoot {
    let path: String

    init() {
        var template = Array("/tmp/portward-config-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { Self.remove(path) }

    /// `root/relative`.
    func at(_ relative: String) -> String { path + relative }

    func mkdir(_ relative: String) {
        try! FileContents.makeDirectories(at(relative))
    }

    /// Writes `text` to `relative`, creating its directory.
    func write(_ relative: String, _ text: String) {
        write(relative, bytes: Array(text.utf8))
    }

    func write(_ relative: String, bytes: [UInt8]) {
        let full = at(relative)
        mkdir(String(relative[..<relative.lastIndex(of: "/")!]))
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open \(full)")
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        precondition(written == bytes.count)
        close(fd)
    }

    func symlink(_ relative: String, to target: String) {
        mkdir(String(relative[..<relative.lastIndex(of: "/")!]))
        precondition(Glibc.symlink(target, at(relative)) == 0)
    }

    func mkfifo(_ relative: String) {
        mkdir(String(relative[..<relative.lastIndex(of: "/")!]))
        precondition(Glibc.mkfifo(at(relative), 0o644) == 0)
    }

    /// `rm -r` without following symlinks.
    static func remove(_ path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            unlink(path)
            return
        }
        if let dir = opendir(path) {
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != ".", name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names { remove(path + "/" + name) }
        }
        rmdir(path)
    }
}

/// The fake services database from the core tests, Sendable for the loader.
@Sendable func fakeServices(_ name: String, _ proto: TransportProtocol) -> UInt16? {
    switch (name, proto) {
    case ("rsync", .tcp), ("rsync", .udp): 873
    default: nil
    }
}

@Suite struct ConfigLoaderTests {
    func load(_ root: FakeRoot) -> ConfigLoader.Result {
        ConfigLoader(root: root.path, resolveService: fakeServices).load()
    }

    @Test func emptyRootIsAnEmptyConfiguration() {
        let root = FakeRoot()
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.files.isEmpty)
        #expect(result.configuration.entries.isEmpty)
        #expect(result.catConfig == "")
    }

    @Test func mainFileThenDropInsInLexicalOrder() {
        let root = FakeRoot()
        root.write("/etc/portward/ports.conf", "main 1\n")
        root.write("/usr/lib/portward/ports.d/20-b.conf", "b 20\n")
        root.write("/etc/portward/ports.d/30-c.conf", "c 30\n")
        root.write("/run/portward/ports.d/10-a.conf", "a 10\n")
        root.write("/usr/local/lib/portward/ports.d/25-l.conf", "l rsync tcp\n")
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.files.map(\.path) == [
            root.at("/etc/portward/ports.conf"), root.at("/run/portward/ports.d/10-a.conf"),
            root.at("/usr/lib/portward/ports.d/20-b.conf"), root.at("/usr/local/lib/portward/ports.d/25-l.conf"),
            root.at("/etc/portward/ports.d/30-c.conf"),
        ])
        #expect(result.configuration.entries.map(\.name) == ["main", "a", "b", "l", "c"])
        #expect(result.configuration.declaredPorts.description == "1,10,20,30,873")
        #expect(result.configuration.entries[0].location.description == root.at("/etc/portward/ports.conf") + ":1:1")
    }

    @Test func etcOverridesUsrLibOfTheSameName() {
        let root = FakeRoot()
        root.write("/usr/lib/portward/ports.d/radius.conf", "radius 1812 udp\n")
        root.write("/etc/portward/ports.d/radius.conf", "radius 1645 udp\n")
        let result = load(root)
        #expect(result.diagnostics.isEmpty) // no duplicate NAME: the /usr/lib file is not read
        #expect(result.files.map(\.path) == [root.at("/etc/portward/ports.d/radius.conf")])
        #expect(result.configuration.declaredPorts.description == "1645")
        #expect(result.dropIns.shadowed.map(\.candidate.path) == [root.at("/usr/lib/portward/ports.d/radius.conf")])
    }

    @Test func symlinkToDevNullMasks() {
        let root = FakeRoot()
        root.write("/usr/lib/portward/ports.d/radius.conf", "radius 1812 udp\n")
        root.symlink("/etc/portward/ports.d/radius.conf", to: "/dev/null")
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.files.isEmpty)
        #expect(result.dropIns.masks.map(\.path) == [root.at("/etc/portward/ports.d/radius.conf")])
    }

    @Test func emptyFileMasks() {
        let root = FakeRoot()
        root.write("/usr/local/lib/portward/ports.d/radius.conf", "radius 1812 udp\n")
        root.write("/run/portward/ports.d/radius.conf", "")
        root.write("/usr/lib/portward/ports.d/other.conf", "other 2\n")
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.configuration.entries.map(\.name) == ["other"])
        #expect(result.dropIns.masks.map(\.path) == [root.at("/run/portward/ports.d/radius.conf")])
    }

    @Test func maskedMainFileIsSkipped() {
        let root = FakeRoot()
        root.symlink("/etc/portward/ports.conf", to: "/dev/null")
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.files.isEmpty)
    }

    @Test func nonConfAndHiddenNamesAreIgnored() {
        let root = FakeRoot()
        for name in ["a.conf.bak", "README", "b.cfg", ".hidden.conf", "c.conf~", "d.conf.dpkg-old"] {
            root.write("/etc/portward/ports.d/\(name)", "bad 0\n")
        }
        root.mkdir("/etc/portward/ports.d/subdir")
        root.write("/etc/portward/ports.d/ok.conf", "ok 1\n")
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.files.map(\.path) == [root.at("/etc/portward/ports.d/ok.conf")])
    }

    @Test func directoryNamedConfIsAnError() {
        let root = FakeRoot()
        root.mkdir("/etc/portward/ports.d/x.conf")
        root.write("/etc/portward/ports.d/y.conf", "y 1\n")
        let result = load(root)
        #expect(result.diagnostics.map(\.description) == [
            "error: cannot read \(root.at("/etc/portward/ports.d/x.conf")): is a directory",
        ])
        #expect(result.hasErrors)
        #expect(result.configuration.entries.map(\.name) == ["y"])
    }

    @Test func danglingSymlinkIsAnError() {
        let root = FakeRoot()
        root.symlink("/usr/lib/portward/ports.d/gone.conf", to: "/nonexistent/gone.conf")
        let result = load(root)
        #expect(result.diagnostics.map(\.description) == [
            "error: cannot read \(root.at("/usr/lib/portward/ports.d/gone.conf")): dangling symbolic link to /nonexistent/gone.conf",
        ])
    }

    @Test func fifoIsAnErrorAndDoesNotBlock() {
        let root = FakeRoot()
        root.mkfifo("/etc/portward/ports.d/pipe.conf")
        let result = load(root)
        #expect(result.diagnostics.map(\.description) == [
            "error: cannot read \(root.at("/etc/portward/ports.d/pipe.conf")): not a regular file",
        ])
    }

    @Test func mainFileAsDirectoryIsAnError() {
        let root = FakeRoot()
        root.mkdir("/etc/portward/ports.conf")
        #expect(load(root).diagnostics.map(\.description) == [
            "error: cannot read \(root.at("/etc/portward/ports.conf")): is a directory",
        ])
    }

    @Test func dropInDirectoryThatIsAFileIsAnError() {
        let root = FakeRoot()
        root.write("/run/portward/ports.d", "not a directory\n")
        #expect(load(root).diagnostics.map(\.description) == [
            "error: cannot read directory \(root.at("/run/portward/ports.d")): Not a directory",
        ])
    }

    @Test func symlinkToAFileIsRead() {
        let root = FakeRoot()
        root.write("/usr/lib/portward/ports.d/real.conf", "real 7\n")
        root.symlink("/etc/portward/ports.d/link.conf", to: "../../../usr/lib/portward/ports.d/real.conf")
        root.symlink("/etc/portward/ports.d/real.conf", to: "/dev/null")
        let result = load(root)
        #expect(result.diagnostics.isEmpty)
        #expect(result.files.map(\.path) == [root.at("/etc/portward/ports.d/link.conf")])
        #expect(result.configuration.declaredPorts.description == "7")
    }

    @Test func diagnosticsNameTheRealPathAndCoverAllFiles() {
        let root = FakeRoot()
        root.write("/etc/portward/ports.conf", "radius 1812 udp\n")
        root.write("/usr/lib/portward/ports.d/50-x.conf", "x 0\nradius 1645 udp\n")
        let result = load(root)
        let file = root.at("/usr/lib/portward/ports.d/50-x.conf")
        #expect(result.diagnostics.map(\.description) == [
            "\(file):1:3: error: port 0 is out of range 1-65535",
            "\(file):2:1: error: duplicate NAME 'radius'",
            "\(root.at("/etc/portward/ports.conf")):1:1: note: 'radius' first declared here",
        ])
    }

    @Test func crlfBomAndInvalidBytesFromDisk() {
        let root = FakeRoot()
        root.write("/etc/portward/ports.d/a.conf", bytes: [0xEF, 0xBB, 0xBF] + Array("a 1\r\nb 2\r\n".utf8))
        root.write("/etc/portward/ports.d/b.conf", bytes: Array("c 3\n".utf8) + [0x64, 0x20, 0x00, 0xFF, 0x0A])
        let result = load(root)
        #expect(result.configuration.entries.map(\.name) == ["a", "b", "c"])
        #expect(result.diagnostics.map(\.description) == ["\(root.at("/etc/portward/ports.d/b.conf")):2:3: error: NUL byte"])
    }

    @Test func catConfig() {
        let root = FakeRoot()
        root.write("/etc/portward/ports.conf", "# main\nmain 1\n")
        root.write("/usr/lib/portward/ports.d/a.conf", "a 2") // no final newline
        #expect(ConfigLoader(root: root.path + "/", resolveService: fakeServices).load().catConfig == """
            # \(root.at("/etc/portward/ports.conf"))
            # main
            main 1

            # \(root.at("/usr/lib/portward/ports.d/a.conf"))
            a 2

            """)
    }

    @Test func catConfigListsMasksAndOverrides() {
        let root = FakeRoot()
        root.write("/etc/portward/ports.d/b.conf", "b 2\n")
        root.write("/usr/lib/portward/ports.d/b.conf", "b 3\n")
        root.write("/usr/lib/portward/ports.d/a.conf", "a 1\n")
        root.symlink("/run/portward/ports.d/a.conf", to: "/dev/null")
        #expect(load(root).catConfig == """
            # \(root.at("/etc/portward/ports.d/b.conf"))
            b 2

            # \(root.at("/run/portward/ports.d/a.conf")): mask
            # \(root.at("/usr/lib/portward/ports.d/a.conf")): masked by \(root.at("/run/portward/ports.d/a.conf"))
            # \(root.at("/usr/lib/portward/ports.d/b.conf")): overridden by \(root.at("/etc/portward/ports.d/b.conf"))

            """)
    }

    @Test func shippedExampleParses() {
        // The example installed as /etc/portward/ports.conf; resolved with the real database.
        let source = String(#filePath).split(separator: "/").dropLast(3).joined(separator: "/")
        let root = FakeRoot()
        let bytes = try! FileContents.read("/" + source + "/etc/portward/ports.conf")
        root.write("/etc/portward/ports.conf", bytes: bytes)
        let result = ConfigLoader(root: root.path).load()
        #expect(result.diagnostics.isEmpty)
        #expect(result.configuration.entries.map(\.name) == ["radius", "radius-legacy", "rsync", "keystone",
                                                             "mysqlx", "nodeports"])
        #expect(result.configuration.declaredPorts.description == "873,1645-1646,1812-1813,30000-32767,33060,35357")
    }
}

@Suite struct NetworkServicesTests {
    @Test func rsyncIs873() {
        // Debian's netbase /etc/services: "rsync 873/tcp".
        #expect(NetworkServices.port(named: "rsync", protocol: .tcp) == 873)
        #expect(NetworkServices.port(named: "ssh", protocol: .tcp) == 22)
    }

    @Test func unknownIsNil() {
        #expect(NetworkServices.port(named: "no-such-service-portward", protocol: .tcp) == nil)
        #expect(NetworkServices.port(named: "", protocol: .udp) == nil)
    }

    @Test func realResolverThroughTheParser() {
        let result = ConfigParser.parse("r rsync tcp\n", file: "f", resolveService: NetworkServices.port(named:protocol:))
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.first?.entry.ports.description == "873")
    }
}

@Suite struct UserDatabaseTests {
    @Test func rootIsZero() {
        #expect(UserDatabase.uid(named: "root") == 0)
        #expect(UserDatabase.uid(for: .name("root")) == 0)
        #expect(UserDatabase.uid(for: .uid(4242)) == 4242)
    }

    @Test func unknownIsNil() {
        #expect(UserDatabase.uid(named: "no-such-user-portward") == nil)
        #expect(UserDatabase.uid(for: .name("no-such-user-portward")) == nil)
    }
}
