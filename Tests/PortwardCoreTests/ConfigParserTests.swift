import Testing
import PortwardCore

/// A fake services database: `rsync` tcp+udp 873, `radius` udp only, `split` with a
/// different port per protocol.
let fakeServices: [String: [TransportProtocol: UInt16]] = [
    "rsync": [.tcp: 873, .udp: 873],
    "radius": [.udp: 1812],
    "split": [.tcp: 100, .udp: 200],
    "http": [.tcp: 80, .udp: 80, .sctp: 80],
]

func fakeResolver(_ name: String, _ proto: TransportProtocol) -> UInt16? { fakeServices[name]?[proto] }

func parse(_ text: String, file: String = "t.conf") -> ConfigParser.Result {
    ConfigParser.parse(text, file: file, resolveService: fakeResolver)
}

func parse(bytes: [UInt8], file: String = "t.conf") -> ConfigParser.Result {
    ConfigParser.parse(bytes, file: file, resolveService: fakeResolver)
}

@Suite struct ConfigParserTests {
    @Test("error kinds, with exact location and message", arguments: [
        ("a 80 tcp - extra", "t.conf:1:12: error: too many columns (expected NAME PORTS [PROTOCOLS] [OWNER] [OPTION=VALUE...]; comments start with '#' after whitespace)"),
        ("a 80 tcp - extra ack=rpc-range", "t.conf:1:12: error: too many columns (expected NAME PORTS [PROTOCOLS] [OWNER] [OPTION=VALUE...]; comments start with '#' after whitespace)"),
        ("a 80 tcp - ack=nosuch", "t.conf:1:16: error: unknown warning 'nosuch' in ack= (expected outside-range, rpc-range)"),
        ("a 80 tcp - ack=", "t.conf:1:15: error: ack= needs a warning to acknowledge (outside-range, rpc-range)"),
        ("a 80 tcp - ack=rpc-range,", "t.conf:1:25: error: empty item in ack list"),
        ("a 80 tcp - scope=host", "t.conf:1:12: error: unknown option 'scope' (expected ack=outside-range,..., netns=SCOPE or guard=report-only)"),
        ("a 80 ack=rpc-range ack=outside-range", "t.conf:1:20: error: option 'ack' given twice"),
        ("a 80 ack=rpc-range tcp", "t.conf:1:20: error: expected OPTION=VALUE after an option, not 'tcp' (options come after NAME PORTS [PROTOCOLS] [OWNER])"),
        ("a", "t.conf:1:2: error: missing PORTS column (expected NAME PORTS [PROTOCOLS] [OWNER])"),
        ("a 80,,90", "t.conf:1:6: error: empty item in PORTS list"),
        ("a 80,", "t.conf:1:5: error: empty item in PORTS list"),
        ("a ,80", "t.conf:1:3: error: empty item in PORTS list"),
        ("a 010", "t.conf:1:3: error: port '010' has a leading zero (the kernel would read it as octal): write ports in decimal"),
        ("a 80,08", "t.conf:1:6: error: port '08' has a leading zero (the kernel would read it as octal): write ports in decimal"),
        ("a 0x50", "t.conf:1:3: error: hexadecimal port '0x50': write ports in decimal"),
        ("a 10-0x50", "t.conf:1:6: error: hexadecimal port '0x50': write ports in decimal"),
        ("a 0", "t.conf:1:3: error: port 0 is out of range 1-65535"),
        ("a 65536", "t.conf:1:3: error: port 65536 is out of range 1-65535"),
        ("a 1-65536", "t.conf:1:5: error: port 65536 is out of range 1-65535"),
        ("a 99999999999999999999999", "t.conf:1:3: error: port 99999999999999999999999 is out of range 1-65535"),
        ("a 100-90", "t.conf:1:3: error: reversed range '100-90' (the lower port comes first)"),
        ("a 80-", "t.conf:1:5: error: expected a port after '-'"),
        ("a 80-x", "t.conf:1:6: error: expected a port after '-', not 'x'"),
        ("a 80x", "t.conf:1:5: error: unexpected character 'x' in port '80x'"),
        ("a 1-2-3", "t.conf:1:6: error: unexpected character '-' in port '1-2-3'"),
        ("a 80#x", "t.conf:1:5: error: unexpected character '#' in port '80#x'"),
        ("a -5", "t.conf:1:3: error: expected a port, a range or a service name, not '-'"),
        ("a nosuch", "t.conf:1:3: error: unknown service 'nosuch' for tcp,udp,sctp"),
        ("a 80,radius tcp", "t.conf:1:6: error: unknown service 'radius' for tcp"),
        ("a http/x", "t.conf:1:7: error: invalid character '/' in service name 'http/x'"),
        ("a 80 tcpp", "t.conf:1:6: error: unknown protocol 'tcpp' (expected tcp, udp, sctp, or - for all)"),
        ("a 80 TCP", "t.conf:1:6: error: unknown protocol 'TCP' (expected tcp, udp, sctp, or - for all)"),
        ("a 80 tcp,-", "t.conf:1:10: error: unknown protocol '-' (expected tcp, udp, sctp, or - for all)"),
        ("a 80 tcp,,udp", "t.conf:1:10: error: empty item in PROTOCOLS list"),
        ("a 80 tcp foo", "t.conf:1:10: error: invalid owner 'foo' (expected unit:NAME, exe:PATH, user:NAME, user:UID, or -)"),
        ("a 80 tcp bar:x", "t.conf:1:10: error: unknown owner kind 'bar' (expected unit:NAME, exe:PATH, user:NAME, user:UID, or -)"),
        ("a 80 tcp exe:usr/bin/x", "t.conf:1:14: error: exe: needs an absolute path, not 'usr/bin/x'"),
        ("a 80 tcp exe:", "t.conf:1:14: error: exe: needs an absolute path, not ''"),
        ("a 80 tcp unit:foo", "t.conf:1:15: error: invalid unit name 'foo' (expected a name with a unit type, e.g. 'freeradius.service')"),
        ("a 80 tcp unit:.service", "t.conf:1:15: error: invalid unit name '.service' (expected a name with a unit type, e.g. 'freeradius.service')"),
        ("a 80 tcp unit:a/b.service", "t.conf:1:16: error: invalid character '/' in unit name 'a/b.service'"),
        ("a 80 tcp user:", "t.conf:1:15: error: user: needs a user name or uid"),
        ("a 80 tcp user:007", "t.conf:1:15: error: uid '007' has a leading zero: write uids in decimal"),
        ("a 80 tcp user:4294967295", "t.conf:1:15: error: uid 4294967295 is out of range 0-4294967294"),
        ("a 80 tcp user:bad/name", "t.conf:1:18: error: invalid character '/' in user name 'bad/name'"),
        ("a 80 tcp user:-x", "t.conf:1:15: error: user name must not start with '-'"),
        ("-a 80", "t.conf:1:1: error: NAME must start with a letter or digit, not '-'"),
        ("a#b 80", "t.conf:1:2: error: invalid character '#' in NAME (allowed: letters, digits, '-', '_', '.', '@')"),
        ("é 80", "t.conf:1:1: error: NAME must start with a letter or digit, not 'é'"),
        ("aé 80", "t.conf:1:2: error: invalid character 'é' in NAME (allowed: letters, digits, '-', '_', '.', '@')"),
        ("a 80\u{1}", "t.conf:1:5: error: control character 0x01"),
        ("a\u{B}80", "t.conf:1:2: error: control character 0x0B"),
        ("a 80\r\r", "t.conf:1:5: error: control character 0x0D"),
    ])
    func errorKinds(line: String, expected: String) {
        let result = parse(line)
        #expect(result.diagnostics.map(\.description) == [expected])
        #expect(result.entries.isEmpty)
        #expect(result.hasErrors)
    }

    @Test("invalid bytes", arguments: [
        ([0x61, 0x20, 0x38, 0x00, 0x30] as [UInt8], "t.conf:1:4: error: NUL byte"),
        ([0x61, 0x20, 0xFF], "t.conf:1:3: error: invalid UTF-8 byte 0xFF"),
        ([0x61, 0x20, 0xC0, 0x80], "t.conf:1:3: error: invalid UTF-8 byte 0xC0"), // overlong NUL
        ([0x61, 0x20, 0xED, 0xA0, 0x80], "t.conf:1:3: error: invalid UTF-8 byte 0xED"), // surrogate
        ([0x61, 0x20, 0xE2, 0x82], "t.conf:1:3: error: invalid UTF-8 byte 0xE2"), // truncated
        ([0x23, 0x20, 0xF5, 0x80, 0x80, 0x80], "t.conf:1:3: error: invalid UTF-8 byte 0xF5"), // even in a comment
    ])
    func invalidBytes(bytes: [UInt8], expected: String) {
        let result = parse(bytes: bytes)
        #expect(result.diagnostics.map(\.description) == [expected])
        #expect(result.entries.isEmpty)
    }

    @Test func validUTF8InCommentsAndPaths() {
        let result = parse("# café ☕ 🚀\nx 80 tcp exe:/opt/café/bin/x\n")
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.map(\.entry.owner) == [.exe("/opt/café/bin/x")])
    }

    @Test func collectsEveryErrorOfEveryLine() {
        let result = parse("""
            ok 80
            bad1 0
            # comment
            b@d:2 80 tcpp
            ok2 81 tcp user:
            """)
        #expect(result.diagnostics.map(\.description) == [
            "t.conf:2:6: error: port 0 is out of range 1-65535",
            "t.conf:4:4: error: invalid character ':' in NAME (allowed: letters, digits, '-', '_', '.', '@')",
            "t.conf:4:10: error: unknown protocol 'tcpp' (expected tcp, udp, sctp, or - for all)",
            "t.conf:5:17: error: user: needs a user name or uid",
        ])
        #expect(result.entries.map(\.entry.name) == ["ok"])
    }

    /// A port named twice in one entry's PORTS column is a warning at the repeating item
    /// (the entry is kept, the port reserved once); adjacent ranges and a service name that
    /// maps to the same port for two protocols are not repeats.
    @Test("ports listed twice in one entry", arguments: [
        ("x 9000-9005,9003", "t.conf:1:13: warning: port 9003 is listed twice in the PORTS column (already in '9000-9005' at column 3); reserved once"),
        ("x 9003,9000-9005", "t.conf:1:8: warning: port 9003 is listed twice in the PORTS column (already in '9003' at column 3); reserved once"),
        ("x 40000-40100,40050-40200 tcp", "t.conf:1:15: warning: ports 40050-40100 are listed twice in the PORTS column (already in '40000-40100' at column 3); reserved once"),
        ("x 873,rsync", "t.conf:1:7: warning: port 873 is listed twice in the PORTS column (already in '873' at column 3); reserved once"),
        ("x 80,80,81,81", "t.conf:1:6: warning: port 80 is listed twice in the PORTS column (already in '80' at column 3); reserved once"),
    ])
    func repeatedPortsWarn(line: String, expected: String) {
        let result = parse(line)
        #expect(result.diagnostics.map(\.description) == [expected])
        #expect(!result.hasErrors)
        #expect(result.entries.count == 1)
    }

    /// A protocol named twice: a warning at the repeat (trial by a new user: `tcp,tcp` was
    /// accepted silently while a repeated port warned).
    @Test("protocols listed twice", arguments: [
        ("n 8006 tcp,tcp", "t.conf:1:12: warning: protocol 'tcp' is listed twice in the PROTOCOLS column"),
        ("n 8006 udp,tcp,udp,tcp", "t.conf:1:16: warning: protocol 'udp' is listed twice in the PROTOCOLS column"),
    ])
    func repeatedProtocolsWarn(line: String, expected: String) {
        let result = parse(line)
        #expect(result.diagnostics.map(\.description) == [expected])
        #expect(!result.hasErrors && result.entries.count == 1)
    }

    @Test("no repeat", arguments: ["x 9000-9005,9006", "x rsync", "x http tcp,udp,sctp", "x 1,3,2,5-6,4"])
    func distinctPortsDoNotWarn(line: String) {
        #expect(parse(line).diagnostics.isEmpty)
    }

    /// `ack=` columns (issue 11 item 13): last on the line, after any PROTOCOLS and OWNER,
    /// which may then be omitted; an owner path containing '=' is still an owner.
    @Test("ack= options", arguments: [
        ("a 1645-1646 udp unit:freeradius.service ack=outside-range", PortEntry.AcknowledgedWarnings.outsideRange),
        ("a 873 ack=outside-range,rpc-range", [.outsideRange, .rpcRange]),
        ("a 873 tcp ack=rpc-range", .rpcRange),
        ("a 873 tcp exe:/opt/a=b", []),
        ("a 873 tcp exe:/opt/a=b ack=rpc-range  # comment", .rpcRange),
    ] as [(String, PortEntry.AcknowledgedWarnings)])
    func ackOptions(line: String, expected: PortEntry.AcknowledgedWarnings) {
        let result = parse(line)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.entries.map(\.entry.acknowledged) == [expected])
    }

    @Test func goodLines() {
        let result = parse("""
            # RADIUS
            radius        1812-1813     udp       unit:freeradius.service
            radius-legacy 1645-1646     udp       unit:freeradius.service
            rsync         rsync         tcp       exe:/usr/bin/rsync
            keystone      35357         tcp       user:keystone
            nodeports     30000-32767   tcp,udp   -
            mysqlx 33060 tcp -
            root_svc@1.x  1,3,2,5-6,4   sctp,tcp  user:0
            bare	65535
            """, file: "/etc/portward/ports.conf")
        #expect(result.diagnostics.isEmpty)
        let entries = result.entries.map(\.entry)
        #expect(entries.map(\.name) == ["radius", "radius-legacy", "rsync", "keystone", "nodeports", "mysqlx",
                                        "root_svc@1.x", "bare"])
        #expect(entries.map(\.ports.description) == ["1812-1813", "1645-1646", "873", "35357", "30000-32767",
                                                     "33060", "1-6", "65535"])
        #expect(entries.map(\.portsText) == ["1812-1813", "1645-1646", "rsync", "35357", "30000-32767", "33060",
                                             "1,3,2,5-6,4", "65535"])
        #expect(entries.map(\.protocols) == [.udp, .udp, .tcp, .tcp, [.tcp, .udp], .tcp, [.tcp, .sctp], .all])
        #expect(entries.map(\.owner) == [.unit("freeradius.service"), .unit("freeradius.service"),
                                         .exe("/usr/bin/rsync"), .user(.name("keystone")), .any, .any,
                                         .user(.uid(0)), .any])
        #expect(entries.map(\.location.description) == (2...9).map { "/etc/portward/ports.conf:\($0):1" })
        #expect(result.entries.map(\.portsLocation.column) == [15, 15, 15, 15, 15, 8, 15, 6])
        #expect(result.entries[6].ranges == [PortRange(1, 6)])
    }

    @Test("service names", arguments: [
        ("s rsync tcp", "873"),
        ("s rsync", "873"), // resolves for tcp and udp, not sctp: fine
        ("s radius", "1812"), // udp only
        ("s split", "100,200"), // a different port per protocol: each is taken
        ("s split udp", "200"),
        ("s split -", "100,200"),
        ("s http,rsync,1000-1001", "80,873,1000-1001"),
    ])
    func serviceNames(line: String, ports: String) {
        let result = parse(line)
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.first?.entry.ports.description == ports)
    }

    @Test func serviceNameWithBadProtocolsReportsOnlyTheProtocol() {
        let result = parse("s nosuch xyz")
        #expect(result.diagnostics.map(\.description) == [
            "t.conf:1:10: error: unknown protocol 'xyz' (expected tcp, udp, sctp, or - for all)",
        ])
    }

    @Test func crlfLineEndings() {
        let result = parse("a 80\r\nb 90 udp\r\n\r\nc 0\r\nd 91 tcp -\r\n")
        #expect(result.entries.map(\.entry.name) == ["a", "b", "d"])
        #expect(result.entries.map(\.entry.owner) == [.any, .any, .any])
        #expect(result.entries[1].entry.protocols == .udp)
        #expect(result.diagnostics.map(\.description) == ["t.conf:4:3: error: port 0 is out of range 1-65535"])
    }

    @Test func byteOrderMarkIsSkippedAndNotCounted() {
        let result = parse(bytes: [0xEF, 0xBB, 0xBF] + Array("a 0\nb 1\n".utf8))
        #expect(result.diagnostics.map(\.description) == ["t.conf:1:3: error: port 0 is out of range 1-65535"])
        #expect(result.entries.map(\.entry.name) == ["b"])
        #expect(parse(bytes: [0xEF, 0xBB, 0xBF] + Array("a 1".utf8)).entries.map(\.entry.location.column) == [1])
    }

    @Test func byteOrderMarkElsewhereIsAnError() {
        let result = parse("a 1\n\u{FEFF}b 2\n")
        #expect(result.diagnostics.map(\.description) == [
            "t.conf:2:1: error: NAME must start with a letter or digit, not '\u{FEFF}'",
        ])
    }

    @Test func commentsAndBlankLines() {
        let result = parse("""
            # whole line
               # indented
            \t
            a 80 # after whitespace
            b 81 tcp user:x\t# after a tab, four columns
            c 82 tcp #owner column is a comment

            """)
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.map(\.entry.name) == ["a", "b", "c"])
        #expect(result.entries.map(\.entry.location.line) == [4, 5, 6])
        #expect(result.entries[2].entry.owner == .any)
    }

    @Test func emptyInputs() {
        #expect(parse("").entries.isEmpty && parse("").diagnostics.isEmpty)
        #expect(parse("\n\n").diagnostics.isEmpty)
        #expect(parse(bytes: [0xEF, 0xBB, 0xBF]).diagnostics.isEmpty)
    }

    @Test func lastLineWithoutNewline() {
        #expect(parse("a 1\nb 2").entries.map(\.entry.location.line) == [1, 2])
    }

    @Test func stringAndBytesAgree() {
        let text = "x 1-3 tcp unit:x.service\ny 0\n"
        #expect(parse(text) == parse(bytes: Array(text.utf8)))
    }

    @Test func fiveThousandEntries() {
        var text = "# generated\n"
        for i in 1...5_000 { text += "svc\(i)  \(10_000 + i)  tcp,udp  unit:svc\(i).service\n" }
        let result = parse(text)
        #expect(result.diagnostics.isEmpty)
        #expect(result.entries.count == 5_000)
        #expect(result.entries.last?.entry.ports.description == "15000")
    }
}
