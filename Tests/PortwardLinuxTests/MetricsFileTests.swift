import Glibc
import PortwardCore
import PortwardLinux
import SystemPackage
import Testing

@Suite struct MetricsFileTests {
    static let snapshot = MetricsSnapshot(
        version: "0.1.0",
        entries: [.init(name: "web", transport: .tcp, ports: "8080", reserved: true, state: .ok, protection: .none,
                        holders: 1)],
        conflicts: [], lastSuccessfulCheck: 100, configurationValid: true, watchMode: .polling)

    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o7777 : nil
    }

    static func entries(_ directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    @Test func writesTheRenderedTextAtomicallyWithMode0644() throws {
        let root = FakeRoot()
        let file = try MetricsFile(path: root.at("/textfile/portward.prom"))
        try file.write(Self.snapshot)
        #expect(try FileContents.read(file.path) == Array(PrometheusText.render(Self.snapshot).utf8))
        #expect(Self.mode(file.path) == 0o644)

        // Replaced, not appended to; and no temporary file left next to it.
        var second = Self.snapshot
        second.configurationValid = false
        try file.write(second)
        #expect(try FileContents.read(file.path) == Array(PrometheusText.render(second).utf8))
        #expect(Self.entries(root.at("/textfile")) == ["portward.prom"])
    }

    /// A failed write (the path is a directory) leaves what was there and no temporary file.
    @Test func aFailedWriteLeavesNoTemporaryFile() throws {
        let root = FakeRoot()
        root.mkdir("/d/portward.prom")
        let file = try MetricsFile(path: root.at("/d/portward.prom"))
        #expect(throws: Errno.self) { try file.write(Self.snapshot) }
        #expect(Self.entries(root.at("/d")) == ["portward.prom"])
    }

    @Test(arguments: [
        ("relative/portward.prom", MetricsFile.PathError.notAbsolute("relative/portward.prom")),
        ("/var/lib/prometheus/node-exporter/portward.txt", .notProm("/var/lib/prometheus/node-exporter/portward.txt")),
        ("/var/lib/prometheus/node-exporter/.prom", .notProm("/var/lib/prometheus/node-exporter/.prom")),
        ("/var/lib/prometheus/node-exporter/", .noFileName("/var/lib/prometheus/node-exporter/")),
    ])
    func badPathsAreRefused(_ path: String, _ error: MetricsFile.PathError) {
        #expect(throws: error) { try MetricsFile(path: path) }
    }

    @Test func errorMessagesEscapeControlCharacters() {
        #expect(MetricsFile.PathError.notProm("/x\n").description
                == "metrics file '/x\\x0a' does not end in .prom (node_exporter's textfile collector reads only *.prom files)")
    }
}
