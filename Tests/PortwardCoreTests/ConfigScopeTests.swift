import Testing
import PortwardCore

/// The `netns=` scope option and scope lines (issue 14; portward.conf(5)).
@Suite struct ConfigScopeTests {
    @Test("netns= columns", arguments: [
        ("a 80", "host"),
        ("a 80 netns=host", "host"),
        ("a 80 udp netns=all", "all"),
        ("a 80 udp - netns=pods", "pods"),
        ("a 80 netns=vpn-*,blue", "vpn-*,blue"),
        ("a 80 netns=pods,vpn-*,host,vpn-*", "host,vpn-*,pods"),
        ("a 80 tcp exe:/opt/x ack=rpc-range netns=[h]ost  # c", "[h]ost"),
        ("a 80 netns=host ack=rpc-range", "host"),
    ])
    func scopes(line: String, expected: String) {
        let result = parse(line)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.entries.map(\.entry.scope.description) == [expected])
    }

    @Test("netns= errors, with exact location and message", arguments: [
        ("a 80 netns=", "t.conf:1:11: error: netns= needs a scope (host, all, pods, or ip netns name patterns such as vpn-*)"),
        ("a 80 netns=a,,b", "t.conf:1:14: error: empty item in netns list"),
        ("a 80 netns=a,", "t.conf:1:13: error: empty item in netns list"),
        ("a 80 netns=host,all", "t.conf:1:17: error: netns=all already reaches every namespace; it cannot be combined with other items"),
        ("a 80 netns=/run/netns/blue", "t.conf:1:12: error: invalid character '/' in netns name pattern '/run/netns/blue' (patterns match ip netns names, the files in /run/netns)"),
        ("a 80 netns=a#b", "t.conf:1:13: error: invalid character '#' in netns name pattern 'a#b' (patterns match ip netns names, the files in /run/netns)"),
        ("a 80 netns=host netns=all", "t.conf:1:17: error: option 'netns' given twice"),
        ("a 80 netns=host tcp", "t.conf:1:17: error: expected OPTION=VALUE after an option, not 'tcp' (options come after NAME PORTS [PROTOCOLS] [OWNER])"),
        ("netns=all a 80", "t.conf:1:11: error: a netns= line sets the scope of the entries after it and holds nothing else (to scope one entry, end its line with netns=...)"),
        ("netns=", "t.conf:1:6: error: netns= needs a scope (host, all, pods, or ip netns name patterns such as vpn-*)"),
    ])
    func errors(line: String, expected: String) {
        let result = parse(line)
        #expect(result.diagnostics.map(\.description) == [expected])
        #expect(result.entries.isEmpty)
    }

    /// A `netns=` line scopes the entries after it in its file, until the next one; an
    /// entry's own column replaces it.
    @Test func scopeLines() {
        let result = parse("""
            first   1
            netns=all
            second  2
            third   3   netns=pods
              netns=blue,host   # comment
            fourth  4
            netns=host
            fifth   5
            """)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.entries.map { "\($0.entry.name)=\($0.entry.scope)" }
                == ["first=host", "second=all", "third=pods", "fourth=host,blue", "fifth=host"])
    }

    /// An invalid scope line is an error and does not change the scope after it.
    @Test func invalidScopeLineKeepsThePreviousScope() {
        let result = parse("netns=pods\nnetns=all,x\na 1\n")
        #expect(result.hasErrors)
        #expect(result.entries.map(\.entry.scope) == [EntryScope([.pods])])
    }

    /// The host's configuration is the `host` and `all` entries; the CNI plugin's ports
    /// are the `pods` and `all` ones; discovery selects by scope.
    @Test func configurationViews() {
        let result = parse("""
            h 1
            a 2 netns=all
            p 3 netns=pods
            n 4 netns=vpn-*
            hp 5 netns=host,pods
            """)
        let (configuration, diagnostics) = Configuration.merge([result])
        #expect(diagnostics.isEmpty)
        #expect(configuration.hostScoped.entries.map(\.name) == ["h", "a", "hp"])
        #expect(configuration.hostScoped.declaredPorts == PortSet([1, 2, 5]))
        #expect(configuration.podPorts == PortSet([2, 3, 5]))
        #expect(configuration.followsNamespaces && configuration.hasScopes)
        let vpn = DiscoveredNetns(identity: .init(device: 4, inode: 9),
                                  references: [.bindMount(path: "/run/netns/vpn-1", folder: .named)],
                                  owner: nil, isOwn: false)
        #expect(configuration.scoped(to: vpn).entries.map(\.name) == ["a", "n"])
        let hostOnly = Configuration.merge([parse("h 1\nx 2 netns=host")]).configuration
        #expect(hostOnly.hostScoped == hostOnly && !hostOnly.hasScopes && !hostOnly.followsNamespaces)
    }
}
