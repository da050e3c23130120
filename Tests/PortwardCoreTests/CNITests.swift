import PortwardCore
import Testing

/// A namespace key in memory, keyed by CNI_NETNS path.
final class FakeNamespaces: CNINamespaceIO {
    var keys: [String: PortSet] = [:]
    var failure: CNIError?
    private(set) var merges = 0

    func merge(_ ports: PortSet, netns: String) throws(CNIError) -> PortSet {
        if let failure { throw failure }
        merges += 1
        keys[netns, default: PortSet()].formUnion(ports)
        return keys[netns]!
    }

    func read(netns: String) throws(CNIError) -> PortSet {
        if let failure { throw failure }
        return keys[netns] ?? PortSet()
    }
}

@Suite struct CNIPluginTests {
    let ports = PortSet(ranges: [PortRange(8080, 8081), PortRange(9100)])
    let prevResult = #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/x","mac":"0a:58:0a:f4:00:05"}], "ips":[{"address":"10.244.0.5/24","gateway":"10.244.0.1","interface":0}],"dns":{}}"#

    func env(_ command: String, netns: String? = "/run/netns/x") -> [String: String] {
        var env = ["CNI_COMMAND": command, "CNI_CONTAINERID": "abc123", "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni:/opt/cni/bin"]
        env["CNI_NETNS"] = netns
        return env
    }

    func config(version: String = "1.0.0", prev: Bool = true) -> [UInt8] {
        Array(#"{"cniVersion":"\#(version)","name":"podnet","type":"portward"\#(prev ? #","prevResult": \#(prevResult)"# : "")}"#.utf8)
    }

    @Test func addMergesAndPassesPrevResultThroughByteForByte() {
        let io = FakeNamespaces()
        io.keys["/run/netns/x"] = PortSet([1812])
        let outcome = CNIPlugin.run(environment: env("ADD"), stdin: config(), ports: ports, io: io)
        #expect(outcome.exitStatus == 0)
        #expect(outcome.stdout == prevResult + "\n")
        #expect(io.keys["/run/netns/x"] == PortSet([1812, 8080, 8081, 9100]))
    }

    @Test func checkComparesSets() {
        let io = FakeNamespaces()
        io.keys["/run/netns/x"] = PortSet(ranges: [PortRange(8000, 9200)])  // a superset, as the kernel merges it
        #expect(CNIPlugin.run(environment: env("CHECK"), stdin: config(), ports: ports, io: io)
                == .init(stdout: "", exitStatus: 0, error: nil))
        io.keys["/run/netns/x"] = PortSet([8080, 8081])
        let outcome = CNIPlugin.run(environment: env("CHECK"), stdin: config(), ports: ports, io: io)
        #expect(outcome.exitStatus == 1)
        #expect(outcome.stdout == #"{"cniVersion":"1.0.0","code":102,"details":"/run/netns/x lacks 9100 in net.ipv4.ip_local_reserved_ports","msg":"reserved ports missing"}"# + "\n")
    }

    @Test func delIsIdempotentAndNeedsNoNamespace() {
        let io = FakeNamespaces()
        io.failure = CNIError(code: 100, msg: "gone")
        for _ in 0..<2 {
            #expect(CNIPlugin.run(environment: env("DEL", netns: nil), stdin: config(prev: false), ports: ports, io: io).exitStatus == 0)
            #expect(CNIPlugin.run(environment: env("DEL"), stdin: [], ports: ports, io: io) == .init(stdout: "", exitStatus: 0, error: nil))
        }
    }

    /// The real binary passes the ports lazily (`CNICommand`): only ADD and CHECK, after
    /// validation, compute them (read the configuration), and their error is the reply.
    @Test func lazyPortsOnlyForAddAndCheck() {
        let io = FakeNamespaces()
        io.keys["/run/netns/x"] = PortSet([1812])
        let invalid = CNIError(code: CNIError.configurationInvalid, msg: "portward's configuration has errors; no port was reserved",
                               details: "a.conf:1:2: error: x")
        var calls = 0
        func failing() throws(CNIError) -> PortSet { calls += 1; throw invalid }
        for command in ["VERSION", "DEL", "STATUS", "GC"] {
            #expect(CNIPlugin.run(environment: env(command), stdin: config(), ports: failing, io: io).exitStatus == 0)
        }
        // A bad request is reported as such before the configuration is read.
        #expect(CNIPlugin.run(environment: env("ADD", netns: nil), stdin: config(), ports: failing, io: io).error?.code == 4)
        #expect(calls == 0)
        for command in ["ADD", "CHECK"] {
            let outcome = CNIPlugin.run(environment: env(command), stdin: config(), ports: failing, io: io)
            #expect(outcome.exitStatus == 1 && outcome.error == invalid)
            #expect(outcome.stdout.contains(#""code":103"#))
        }
        #expect(calls == 2 && io.merges == 0 && io.keys["/run/netns/x"] == PortSet([1812]))
    }

    @Test func versionGolden() {
        let outcome = CNIPlugin.run(environment: ["CNI_COMMAND": "VERSION"], stdin: Array(#"{"cniVersion":"1.0.0"}"#.utf8),
                                    ports: ports, io: FakeNamespaces())
        #expect(outcome.stdout == #"{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"# + "\n")
        let empty = CNIPlugin.run(environment: ["CNI_COMMAND": "VERSION"], stdin: [], ports: ports, io: FakeNamespaces())
        #expect(empty.exitStatus == 0 && empty.stdout.hasPrefix(#"{"cniVersion":"1.1.0","#))
    }

    @Test func missingNetnsIsCode4() {
        let outcome = CNIPlugin.run(environment: env("ADD", netns: nil), stdin: config(), ports: ports, io: FakeNamespaces())
        #expect(outcome.exitStatus == 1)
        #expect(outcome.stdout == #"{"cniVersion":"1.1.0","code":4,"details":"CNI_NETNS","msg":"required environment variables missing"}"# + "\n")
    }

    @Test func environmentErrors() {
        let io = FakeNamespaces()
        #expect(CNIPlugin.run(environment: [:], stdin: config(), ports: ports, io: io).error?.code == 4)
        #expect(CNIPlugin.run(environment: ["CNI_COMMAND": "FROB"], stdin: config(), ports: ports, io: io).error?.code == 4)
        var bad = env("ADD")
        bad["CNI_CONTAINERID"] = "-leading-dash"
        #expect(CNIPlugin.run(environment: bad, stdin: config(), ports: ports, io: io).error?.details.hasPrefix("CNI_CONTAINERID") == true)
        bad = env("ADD")
        bad["CNI_IFNAME"] = "much-too-long-interface"
        #expect(CNIPlugin.run(environment: bad, stdin: config(), ports: ports, io: io).error?.code == 4)
        bad = env("CHECK")
        bad.removeValue(forKey: "CNI_IFNAME"); bad.removeValue(forKey: "CNI_CONTAINERID")
        #expect(CNIPlugin.run(environment: bad, stdin: config(), ports: ports, io: io).error?.details == "CNI_CONTAINERID, CNI_IFNAME")
        #expect(io.merges == 0)
    }

    @Test func badConfigIsCode6() {
        let outcome = CNIPlugin.run(environment: env("ADD"), stdin: Array(#"{"cniVersion": "1.0.0", "#.utf8), ports: ports, io: FakeNamespaces())
        #expect(outcome.stdout == #"{"cniVersion":"1.1.0","code":6,"details":"not valid JSON","msg":"cannot decode the network configuration"}"# + "\n")
        #expect(CNIPlugin.run(environment: env("ADD"), stdin: Array("[1]".utf8), ports: ports, io: FakeNamespaces()).error?.code == 6)
        #expect(CNIPlugin.run(environment: env("ADD"), stdin: [], ports: ports, io: FakeNamespaces()).error?.code == 6)
    }

    @Test func invalidConfigIsCode7() {
        let io = FakeNamespaces()
        #expect(CNIPlugin.run(environment: env("ADD"), stdin: Array(#"{"name":"x"}"#.utf8), ports: ports, io: io).error?.code == 7)
        #expect(CNIPlugin.run(environment: env("ADD"), stdin: Array(#"{"cniVersion":1}"#.utf8), ports: ports, io: io).error?.code == 7)
        #expect(CNIPlugin.run(environment: env("ADD"), stdin: Array(#"{"cniVersion":"1.0.0","prevResult":[]}"#.utf8), ports: ports, io: io).error?.code == 7)
        let first = CNIPlugin.run(environment: env("ADD"), stdin: config(prev: false), ports: ports, io: io)
        #expect(first.error?.code == 7 && first.stdout.contains("chained plugin"))
        #expect(io.merges == 0)
    }

    @Test func unknownVersionIsCode1() {
        let io = FakeNamespaces()
        let outcome = CNIPlugin.run(environment: env("ADD"), stdin: config(version: "9.9.9"), ports: ports, io: io)
        #expect(outcome.stdout == #"{"cniVersion":"9.9.9","code":1,"details":"config is \"9.9.9\", portward supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0","msg":"incompatible CNI versions"}"# + "\n")
        #expect(CNIPlugin.run(environment: env("CHECK"), stdin: config(version: "0.3.1"), ports: ports, io: io).error?.code == 1)
        #expect(CNIPlugin.run(environment: env("ADD"), stdin: config(version: "0.3.1"), ports: ports, io: io).exitStatus == 0)
        #expect(io.merges == 1)
    }

    @Test func ioErrorsPassThrough() {
        let io = FakeNamespaces()
        io.failure = CNIError(code: CNIError.tryAgainLater, msg: "try again later", details: "EBUSY")
        let outcome = CNIPlugin.run(environment: env("ADD"), stdin: config(), ports: ports, io: io)
        #expect(outcome.exitStatus == 1)
        #expect(outcome.stdout == #"{"cniVersion":"1.0.0","code":11,"details":"EBUSY","msg":"try again later"}"# + "\n")
    }

    @Test func prevResultWithEscapedKeysAndNesting() throws {
        let text = #"{"prev\u0052esult" : {"a":"}\"]","b":[{"c":[1,2,{"d":null}]}],"e":-1.5e3} ,"cniVersion":"1.0.0","x":[]}"#
        let config = try CNINetworkConfig.parse(Array(text.utf8))
        #expect(config.prevResult == #"{"a":"}\"]","b":[{"c":[1,2,{"d":null}]}],"e":-1.5e3}"#)
        #expect(config.cniVersion == "1.0.0" && config.name == nil)
    }

    @Test func statusAndGCSucceed() {
        #expect(CNIPlugin.run(environment: ["CNI_COMMAND": "STATUS"], stdin: config(version: "1.1.0"), ports: ports, io: FakeNamespaces()).exitStatus == 0)
        #expect(CNIPlugin.run(environment: ["CNI_COMMAND": "GC"], stdin: config(version: "1.1.0"), ports: ports, io: FakeNamespaces()).exitStatus == 0)
    }
}
