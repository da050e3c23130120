import Testing
import PortwardCore

@Suite struct ConfigurationTests {
    func merge(_ files: [(String, String)]) -> (configuration: Configuration, diagnostics: [String]) {
        let merged = Configuration.merge(files.map { parse($0.1, file: $0.0) })
        return (merged.configuration, merged.diagnostics.map(\.description))
    }

    @Test func declaredPortsIsTheUnionWhateverTheProtocol() {
        let (config, diagnostics) = merge([("main", "a 80 tcp\nb 80-81 udp\nc 1812-1813 udp\n"), ("d", "e rsync\n")])
        #expect(diagnostics.isEmpty)
        #expect(config.declaredPorts.description == "80-81,873,1812-1813")
        #expect(config.entries.map(\.name) == ["a", "b", "c", "e"])
    }

    @Test func duplicateNameAcrossFiles() {
        let (config, diagnostics) = merge([("/etc/portward/ports.conf", "radius 1812 udp\n"),
                                           ("/etc/portward/ports.d/x.conf", "# x\nradius 1645 udp\nother 1\n")])
        #expect(diagnostics == [
            "/etc/portward/ports.d/x.conf:2:1: error: duplicate NAME 'radius'",
            "/etc/portward/ports.conf:1:1: note: 'radius' first declared here",
        ])
        #expect(config.entries.map(\.name) == ["radius", "other"])
        #expect(config.declaredPorts.description == "1,1812")
    }

    @Test func duplicateNameInOneFile() {
        let (_, diagnostics) = merge([("f", "a 1\n  a 2\n")])
        #expect(diagnostics == ["f:2:3: error: duplicate NAME 'a'", "f:1:1: note: 'a' first declared here"])
    }

    @Test func ownerConflict() {
        let (_, diagnostics) = merge([
            ("f", "radius 1812-1813 udp unit:freeradius.service\n"),
            ("g", "x 1813-1815 tcp,udp unit:other.service\n"),
        ])
        #expect(diagnostics == [
            "g:1:3: error: port 1813 (udp) already declared by 'radius' with owner unit:freeradius.service, here with owner unit:other.service",
            "f:1:8: note: 'radius' declared here",
        ])
    }

    @Test func ownerConflictReportsEveryOverlapOnceWithAllProtocols() {
        let (_, diagnostics) = merge([("f", """
            all 1-10 - user:1
            b 20 tcp user:2
            late 5-6,8,20 tcp,udp user:3
            """)])
        #expect(diagnostics == [
            "f:3:6: error: ports 5-6,8 (tcp,udp) already declared by 'all' with owner user:1, here with owner user:3",
            "f:1:5: note: 'all' declared here",
            "f:3:6: error: port 20 (tcp) already declared by 'b' with owner user:2, here with owner user:3",
            "f:2:3: note: 'b' declared here",
        ])
    }

    @Test("no conflict", arguments: [
        "a 80 tcp unit:a.service\nb 80 udp unit:b.service",        // disjoint protocols
        "a 80 tcp unit:a.service\nb 80 tcp unit:a.service",        // same owner
        "a 80-90 tcp -\nb 85 tcp -",                               // both any
        "a 80 tcp unit:a.service\nb 81 tcp unit:b.service",        // disjoint ports
    ])
    func noConflict(text: String) {
        #expect(merge([("f", text)]).diagnostics.isEmpty)
    }

    /// The claim table spans only the declared ports; conflicts at its first and last
    /// port (and at the ends of the port space) must still be found.
    @Test func conflictsAtTheEdgesOfTheDeclaredSpan() {
        let (_, diagnostics) = merge([
            ("f", "low 1 tcp user:a\nhigh 65535 tcp user:a\n"),
            ("g", "x 1 tcp user:b\ny 65535 tcp user:b\nz 2-65534 tcp user:c\n"),
        ])
        #expect(diagnostics == [
            "g:1:3: error: port 1 (tcp) already declared by 'low' with owner user:a, here with owner user:b",
            "f:1:5: note: 'low' declared here",
            "g:2:3: error: port 65535 (tcp) already declared by 'high' with owner user:a, here with owner user:b",
            "f:2:6: note: 'high' declared here",
        ])
    }

    @Test func anyOwnerAndASpecificOwnerConflict() {
        let (_, diagnostics) = merge([("f", "nodeports 30000-32767 tcp,udp -\nweb 30080 tcp unit:web.service")])
        #expect(diagnostics.first == "f:2:5: error: port 30080 (tcp) already declared by 'nodeports' with owner -, here with owner unit:web.service")
    }

    @Test func conflictIsCheckedAgainstTheFirstClaimer() {
        // b shares a's owner, so c conflicts with a (the first), reported once.
        let (_, diagnostics) = merge([("f", "a 80 tcp user:1\nb 80 tcp user:1\nc 80 tcp user:2")])
        #expect(diagnostics == [
            "f:3:3: error: port 80 (tcp) already declared by 'a' with owner user:1, here with owner user:2",
            "f:1:3: note: 'a' declared here",
        ])
    }

    @Test func parseDiagnosticsComeFirst() {
        let (config, diagnostics) = merge([("f", "a 0\nb 1"), ("g", "b 2")])
        #expect(diagnostics == [
            "f:1:3: error: port 0 is out of range 1-65535",
            "g:1:1: error: duplicate NAME 'b'",
            "f:2:1: note: 'b' first declared here",
        ])
        #expect(config.entries.map(\.name) == ["b"])
    }

    @Test func lookups() {
        let (config, _) = merge([("f", """
            radius 1812-1813 udp unit:freeradius.service
            web 80 tcp -
            dns 53 udp -
            dnstcp 53 tcp -
            """)])
        #expect(config.entry(declaring: 1813)?.name == "radius")
        #expect(config.entry(declaring: 1814) == nil)
        #expect(config.entries(declaring: 53).map(\.name) == ["dns", "dnstcp"])
        #expect(config.entry(declaring: 53, protocol: .tcp)?.name == "dnstcp")
        #expect(config.entry(declaring: 80, protocol: .udp) == nil)
        #expect(config.entry(named: "web")?.ports.description == "80")
        #expect(config.entry(named: "nope") == nil)
    }

    @Test func initFromEntries() {
        let config = Configuration(entries: parse("a 1-2\nb 5").entries.map(\.entry))
        #expect(config.declaredPorts.description == "1-2,5")
        #expect(Configuration().declaredPorts.isEmpty)
    }

    @Test func fiveThousandEntriesMerge() {
        var text = ""
        for i in 1...5_000 { text += "svc\(i) \(10_000 + i) tcp,udp unit:svc\(i).service\n" }
        let (config, diagnostics) = merge([("f", text)])
        #expect(diagnostics.isEmpty)
        #expect(config.declaredPorts.description == "10001-15000")
    }
}
