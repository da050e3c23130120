import PortwardCore
import Testing

@Suite struct NetnsGlobTests {
    @Test(arguments: [
        ("blue", "blue", true), ("blue", "blues", false), ("*", "", true), ("*", "anything", true),
        ("cni-*", "cni-1234", true), ("cni-*", "netns-1", false), ("?", "a", true), ("?", "", false),
        ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false), ("*-test-*", "portward-test-1", true),
        ("[abc]x", "bx", true), ("[abc]x", "dx", false), ("[a-c]1", "c1", true), ("[!a-c]1", "c1", false),
        ("[!a-c]1", "d1", true), ("[^a]", "b", true), ("[]]", "]", true), ("[", "[", true), ("[a", "[a", true),
        ("\\*", "*", true), ("\\*", "x", false), ("**", "ab", true), ("a*", "a", true),
    ])
    func matching(pattern: String, name: String, expected: Bool) {
        #expect(NetnsGlob.matches(pattern, name) == expected)
    }

    @Test func wildcardDetection() {
        #expect(NetnsGlob.hasWildcard("cni-*"))
        #expect(NetnsGlob.hasWildcard("a?"))
        #expect(!NetnsGlob.hasWildcard("blue"))
    }

    @Test func longStarPatternsStayLinear() {
        // A naive recursive matcher takes exponential time on this; the iterative one is
        // quadratic at worst.
        let name = String(repeating: "a", count: 200)
        #expect(!NetnsGlob.matches(String(repeating: "*a", count: 30) + "b", name))
    }
}

@Suite struct NetnsDeduplicationTests {
    let host = NetnsIdentity(device: 4, inode: 4026531840)
    let blue = NetnsIdentity(device: 4, inode: 4026532500)
    let pod = NetnsIdentity(device: 4, inode: 4026532600)

    @Test func mergesByIdentityAndSortsReferences() {
        let owner = NetnsOwner(runtime: "containerd", container: String(repeating: "a", count: 64), pod: "1-2")
        let result = NetnsDeduplication.merge([
            .init(identity: pod, reference: .process(pid: 900, command: "app")),
            .init(identity: blue, reference: .process(pid: 50, command: "sleep")),
            .init(identity: host, reference: .process(pid: 1, command: "init")),
            .init(identity: pod, reference: .bindMount(path: "/run/netns/cni-1", folder: .named)),
            .init(identity: pod, reference: .process(pid: 800, command: "pause"), owner: owner),
            .init(identity: blue, reference: .bindMount(path: "/run/netns/blue", folder: .named)),
            .init(identity: blue, reference: .bindMount(path: "/run/netns/blue", folder: .named)),
            .init(identity: host, reference: .bindMount(path: "/run/docker/netns/default", folder: .docker)),
        ], own: host)
        #expect(result.map(\.identity) == [host, blue, pod])
        #expect(result[0].isOwn && !result[1].isOwn && !result[2].isOwn)
        #expect(result[1].references == [.bindMount(path: "/run/netns/blue", folder: .named),
                                         .process(pid: 50, command: "sleep")])
        #expect(result[1].names == ["blue"])
        #expect(result[1].path == "/run/netns/blue")
        #expect(result[2].pids == [800, 900])
        #expect(result[2].owner == owner)
        #expect(result[0].names == [])  // a docker folder file is not an ip netns name
        #expect(result[0].path == "/run/docker/netns/default")
    }

    @Test func processOnlyNamespaceOpensThroughProc() {
        let result = NetnsDeduplication.merge([.init(identity: blue, reference: .process(pid: 77, command: "x"))], own: nil)
        #expect(result.count == 1)
        #expect(result[0].path == "/proc/77/ns/net")
        #expect(result[0].description == "net:[4026532500] pid 77 (x)")
    }

    @Test func scopeSelection() {
        let named = DiscoveredNetns(identity: blue, references: [.bindMount(path: "/run/netns/portward-test-1", folder: .named)], owner: nil, isOwn: false)
        let own = DiscoveredNetns(identity: host, references: [.process(pid: 1, command: "init")], owner: nil, isOwn: true)
        #expect(NetnsScope.host.selects(own) && !NetnsScope.host.selects(named))
        #expect(NetnsScope.all.selects(own) && NetnsScope.all.selects(named))
        #expect(NetnsScope.named(["portward-*"]).selects(named))
        #expect(!NetnsScope.named(["blue", "cni-*"]).selects(named))
        #expect(!NetnsScope.pods.selects(named))
    }
}

@Suite struct ContainerCgroupTests {
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

    @Test func runtimes() {
        #expect(ContainerCgroup.owner(cgroupPath: "/system.slice/docker-\(id).scope")
                == NetnsOwner(runtime: "docker", container: id))
        #expect(ContainerCgroup.owner(cgroupPath: "/docker/\(id)") == NetnsOwner(runtime: "docker", container: id))
        #expect(ContainerCgroup.owner(cgroupPath: "/machine.slice/libpod-\(id).scope/container")
                == NetnsOwner(runtime: "podman", container: id))
        #expect(ContainerCgroup.owner(cgroupPath: "/machine.slice/libpod-conmon-\(id).scope") == nil)
        #expect(ContainerCgroup.owner(cgroupPath:
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1a2b_3c4d.slice/cri-containerd-\(id).scope")
                == NetnsOwner(runtime: "containerd", container: id, pod: "1a2b-3c4d"))
        #expect(ContainerCgroup.owner(cgroupPath: "/kubepods/burstable/pod1a2b-3c4d/\(id)")
                == NetnsOwner(runtime: "kubernetes", container: id, pod: "1a2b-3c4d"))
        #expect(ContainerCgroup.owner(cgroupPath: "/kubepods.slice/kubepods-pod99.slice/crio-\(id).scope")
                == NetnsOwner(runtime: "cri-o", container: id, pod: "99"))
        #expect(ContainerCgroup.owner(cgroupPath: "/machine.slice/systemd-nspawn@web\\x2d1.service/payload")
                == NetnsOwner(runtime: "nspawn", container: "web-1"))
        #expect(ContainerCgroup.owner(cgroupPath: "/machine.slice/machine-web.scope") == NetnsOwner(runtime: "nspawn", container: "web"))
    }

    @Test func notContainers() {
        #expect(ContainerCgroup.owner(cgroupPath: "/system.slice/ssh.service") == nil)
        #expect(ContainerCgroup.owner(cgroupPath: "/") == nil)
        #expect(ContainerCgroup.owner(cgroupPath: "/system.slice/docker-1234.scope") == nil)  // not a 64-hex id
        #expect(ContainerCgroup.owner(cgroupPath: "/user.slice/user-0.slice/session-1.scope") == nil)
    }

    @Test func unifiedLine() {
        #expect(ContainerCgroup.unifiedPath(procCgroup: "0::/system.slice/x.service\n") == "/system.slice/x.service")
        #expect(ContainerCgroup.unifiedPath(procCgroup: "12:pids:/a\n0::/b\n") == "/b")
        #expect(ContainerCgroup.unifiedPath(procCgroup: "1:name=systemd:/a\n") == nil)
    }
}
