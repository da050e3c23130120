import Foundation
import Testing

/// The guard's event programs (post_bind4, post_bind6, cgroup/sysctl; docs/events.md) against
/// the real kernel, in the box of BPFBox: attached at the box's root cgroup only, events read
/// with portward-guard-tool. Needs root; skipped otherwise, or when the guard cannot load here.
@Suite(.enabled(if: BPFBox.guardAvailable, "\(BPFBox.unavailableReason ?? "")"))
struct BPFEventTests {
    /// `exitbind FAMILY PROTO PORT`: a process binds and exits at once (os._exit right after
    /// bind, nothing read from /proc before it is gone).
    static let prologue = BPFGuardTests.prologue + """
        exitbind() { python3 -c "
        import os, socket, sys
        s = socket.socket(socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET, socket.SOCK_DGRAM if sys.argv[2] == 'udp' else socket.SOCK_STREAM)
        s.bind(('::' if sys.argv[1] == '6' else '0.0.0.0', int(sys.argv[3])))
        print(s.getsockname()[1], flush=True)
        os._exit(0)" "$@"; }

        """

    @Test("post_bind reports every successful bind to a declared port, with pid, uid, cgroup and command, also when the process exits at once and for bind(0); it changes no outcome")
    func bindsAreReported() throws {
        let w = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            $TOOL declare 7001/tcp 7001/udp 7003/tcp 7007/tcp
            $TOOL set 7003 tcp --uid 4242
            as other --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 6/udp/7001 4/tcp/7002 4/udp/7003 4/tcp/7003
            as owner --cgroup "$CG/other" --uid 4242 bind 4/tcp/7003
            pid=$(sh -c 'echo $$ >"$CG/other/cgroup.procs"; exec python3 -c "
            import os, socket
            s = socket.socket(); s.bind((\\"0.0.0.0\\", 7001)); print(os.getpid(), flush=True); os._exit(0)"')
            say exited-pid echo "$pid"
            echo "7007 7007" >/proc/sys/net/ipv4/ip_local_port_range
            say any-port exitbind 6 tcp 0
            say other-cgroup $TOOL cgroup-id "$CG/other"
            say cookie $TOOL cookie
            $TOOL events | sed 's/^/event: /' | nl -s ': ' -w1 | sed 's/^\\([0-9]*\\): event: /event\\1: /'
            say counters $TOOL counters --with-bound
            """)
        let cgroup = w["other-cgroup"] ?? "?", cookie = w["cookie"] ?? "?"
        #expect(w["other 4/tcp/7001"] == "bound")
        #expect(w["other 6/udp/7001"] == "bound")
        #expect(w["other 4/tcp/7002"] == "bound")
        #expect(w["other 4/tcp/7003"] == "EADDRINUSE", "the guard still denies")
        #expect(w["owner 4/tcp/7003"] == "bound")
        #expect(w["any-port"] == "7007")
        let events = (1...20).compactMap { w["event\($0)"] }
        let bound = events.filter { $0.hasPrefix("bound ") }
        // 7001/tcp and 7001/udp by the outsider, 7003/tcp by the owner, 7001/tcp by the
        // process that exited at once, 7007/tcp by bind(0). Not 7002 (undeclared), not
        // 7003/udp (undeclared protocol), not the denied bind.
        #expect(bound.count == 5, "\(events)")
        #expect(bound.contains { $0.hasPrefix("bound port=7001 proto=tcp family=4 pid=") && $0.hasSuffix("uid=4243 cgroup=\(cgroup) netns=\(cookie) comm=python3") }, "\(bound)")
        #expect(bound.contains { $0.hasPrefix("bound port=7001 proto=udp family=6 ") && $0.contains("uid=4243") }, "\(bound)")
        #expect(bound.contains { $0.hasPrefix("bound port=7003 proto=tcp family=4 ") && $0.contains("uid=4242") }, "\(bound)")
        let pid = w["exited-pid"] ?? "?"
        #expect(bound.contains { $0 == "bound port=7001 proto=tcp family=4 pid=\(pid) uid=0 cgroup=\(cgroup) netns=\(cookie) comm=python3" },
                "the command of a process gone before the event was read comes from the program: \(bound)")
        #expect(bound.contains { $0.hasPrefix("bound port=7007 proto=tcp family=6 ") && $0.hasSuffix("comm=python3") }, "\(bound)")
        #expect(events.filter { $0.hasPrefix("denied port=7003 proto=tcp") && $0.hasSuffix("comm=python3") }.count == 1,
                "the denied process exited before the read: its name comes from the bind4 build with the command: \(events)")
        #expect(w["counters"] == "denied=1 reported=0 dropped=0 bound=5")
    }

    @Test("pids are as the loader's pid namespace sees them: a process there by its pid there; one in another pid namespace as pid 0 (unknown), never a pid that names someone else (a daemon in a container)")
    func pidsAreThoseOfTheLoadersPidNamespace() throws {
        let v = try BPFBox.values(Self.prologue + """
            # The loader in a pid namespace of its own, as a daemon in a container.
            unshare --pid --fork --mount-proc sh -c '
                "$0" install >/dev/null && "$0" declare 7001/tcp
                python3 -c "
            import os, socket
            s = socket.socket(); s.bind((\\"0.0.0.0\\", 7001)); print(\\"inner:\\", os.getpid(), flush=True)"
            ' "$TOOL"
            # The same bind from the box's own pid namespace (the container's host).
            python3 -c "
            import os, socket
            s = socket.socket(); s.bind((\\"0.0.0.0\\", 7001)); print(\\"outer:\\", os.getpid(), flush=True)"
            $TOOL events | grep '^bound port=7001 ' | sed 's/ uid=.*//' | nl -s ': ' -w1 | sed 's/^/event/'
            """)
        let inner = try #require(v["inner"]), outer = try #require(v["outer"])
        #expect(Int(inner).map { $0 < 10 } == true, "a pid of the new namespace: \(inner)")
        #expect(v["event1"] == "bound port=7001 proto=tcp family=4 pid=\(inner)", "\(v)")
        #expect(v["event2"] == "bound port=7001 proto=tcp family=4 pid=0", "not \(outer): \(v)")
    }

    @Test("cgroup/sysctl reports writes of ip_local_reserved_ports and ip_local_port_range with the writer's pid, command and netns; reads are not reported, the value is stored")
    func keyWritesAreReported() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            cat /proc/sys/net/ipv4/ip_local_reserved_ports >/dev/null
            sh -c 'echo 7001,7005 >/proc/sys/net/ipv4/ip_local_reserved_ports'
            bash -c 'exec -a keywriter python3 -c "
            import time
            open(\\"/proc/sys/net/ipv4/ip_local_port_range\\", \\"w\\").write(\\"40000 50000\\")
            time.sleep(5)"' &
            writer=$!
            sleep 0.5
            echo 1 >/proc/sys/net/ipv4/ip_forward
            say reserved cat /proc/sys/net/ipv4/ip_local_reserved_ports
            say netns sh -c 'stat -L -c %i /proc/self/ns/net'
            say writer-pid echo $writer
            $TOOL events | nl -s ': ' -w1 | sed 's/^/event/'
            kill $writer
            """)
        #expect(v["reserved"] == "7001,7005")
        let events = (1...10).compactMap { v["event\($0)"] }
        #expect(events.count == 2, "one per write of the two keys, none for reads or other keys: \(events)")
        #expect(events.first?.hasPrefix("sysctl key=ip_local_reserved_ports pid=") == true, "\(events)")
        #expect(events.first?.hasSuffix("comm=sh") == true, "\(events)")
        #expect(events.last == "sysctl key=ip_local_port_range pid=\(v["writer-pid"] ?? "?") uid=0 cgroup=\(events.last?.split(separator: " ").first { $0.hasPrefix("cgroup=") }?.dropFirst(7) ?? "?") netns-inode=\(v["netns"] ?? "?") comm=python3",
                "the writer still runs: its netns is read from /proc: \(events)")
    }

    @Test("ring-buffer overflow: records the buffer cannot take are counted, the binds still succeed")
    func overflowIsCounted() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            $TOOL declare 7001/udp
            say binds python3 -c "
            import socket
            ok = 0
            for _ in range(3000):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(('0.0.0.0', 7001)); s.close(); ok += 1
            print(ok)"
            say counters $TOOL counters --with-bound
            say read sh -c '$TOOL events | wc -l'
            """)
        #expect(v["binds"] == "3000")
        let counters = v["counters"] ?? ""
        let dropped = counters.split(separator: " ").first { $0.hasPrefix("dropped=") }.flatMap { Int($0.dropFirst(8)) } ?? -1
        let read = Int(v["read"] ?? "") ?? -1
        #expect(counters.hasSuffix("bound=3000"), "\(counters)")
        #expect(dropped > 0, "64 KiB hold about 1170 records: \(counters)")
        #expect(read + dropped == 3000, "every bind is either read or counted as dropped: read \(read), \(counters)")
    }

    @Test("without CAP_PERFMON the builds without bpf_get_current_comm() load: the command comes from /proc while the process lives; --no-events installs the guard alone")
    func withoutPerfmon() throws {
        let v = try BPFBox.values(Self.prologue + """
            capped() { setpriv --bounding-set=-all,+bpf,+net_admin --inh-caps=-all "$@"; }
            say capped capped $TOOL install
            say programs sh -c 'bpftool cgroup show "$CG" | awk "NR > 1 { print \\$NF }" | sort | tr "\\n" " "'
            capped $TOOL declare 7001/tcp
            python3 "$BIND" --linger 30 bind 4/tcp/7001 >/dev/null &
            lingering=$!
            sleep 0.5
            say lingering-event capped $TOOL events
            exitbind 4 tcp 7001 >/dev/null
            say exited-event capped $TOOL events
            kill $lingering
            $TOOL uninstall >/dev/null
            say no-events $TOOL install --no-events
            say programs-no-events sh -c 'bpftool cgroup show "$CG" | awk "NR > 1 { print \\$NF }" | sort | tr "\\n" " "'
            """)
        #expect(v["capped"]?.contains("events=yes") == true, "\(v["capped"] ?? "")")
        #expect(v["programs"] == "portward_bind4_n portward_bind6_n portward_pb4_n portward_pb6_n portward_sysctl_n", "\(v["programs"] ?? "")")
        #expect(v["lingering-event"]?.hasSuffix("comm=python3") == true, "\(v["lingering-event"] ?? "")")
        #expect(v["exited-event"]?.hasSuffix("comm=?") == true, "gone before the read, no CAP_PERFMON: no command \(v["exited-event"] ?? "")")
        #expect(v["no-events"]?.contains("events=no (not requested)") == true, "\(v["no-events"] ?? "")")
        #expect(v["programs-no-events"] == "portward_bind4 portward_bind6", "\(v["programs-no-events"] ?? "")")
    }
}
