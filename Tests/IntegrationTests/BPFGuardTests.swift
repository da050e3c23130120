import Foundation
import Testing

/// The BPF owner guard against the real kernel, in the box of BPFBox (a throwaway cgroup as
/// the cgroup namespace root, private netns and bpffs): programs are attached at the box's
/// root cgroup only. Needs root; skipped otherwise, or when the guard cannot load here.
@Suite(.enabled(if: BPFBox.guardAvailable, "\(BPFBox.unavailableReason ?? "")"))
struct BPFGuardTests {
    /// Shell helpers for the scripts: `as WHO ARGS...` runs guard_bind.py ARGS and prefixes
    /// its lines with WHO; `say NAME CMD...` prints `NAME: <output of CMD>`.
    static let prologue = """
        as() { local who=$1; shift; python3 "$BIND" "$@" | sed "s|^|$who |"; }
        say() { local name=$1; shift; echo "$name: $("$@" 2>&1 | tr '\\n' ' ' | sed 's/ *$//')"; }
        mkdir -p "$CG/owner/child" "$CG/other"

        """

    static let families = ["4", "6", "6only", "mapped"]

    @Test("an outsider's bind gets EADDRINUSE; the owner's cgroup, its children and the owner uid bind (tcp, udp; v4, v6, v4-mapped)")
    func outsiderDeniedOwnerBinds() throws {
        let specs = { (port: Int) in Self.families.flatMap { f in ["tcp", "udp"].map { "\(f)/\($0)/\(port)" } } }
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            for proto in tcp udp; do
                $TOOL set 7001 $proto --owner-cgroup "$CG/owner"
                $TOOL set 7002 $proto --uid 4242
                $TOOL set 7004 $proto --owner-cgroup "$CG/owner" --uid 4242
            done
            as other --cgroup "$CG/other" bind \(specs(7001).joined(separator: " ")) \(specs(7002).joined(separator: " ")) \(specs(7003).joined(separator: " ")) \(specs(7004).joined(separator: " ")) 4/tcp/0 6/udp/0
            as owner --cgroup "$CG/owner" bind \(specs(7001).joined(separator: " ")) \(specs(7004).joined(separator: " "))
            as child --cgroup "$CG/owner/child" bind \(specs(7001).joined(separator: " "))
            as uid --cgroup "$CG/other" --uid 4242 bind \(specs(7002).joined(separator: " ")) \(specs(7004).joined(separator: " ")) \(specs(7001).joined(separator: " "))
            as uid2 --cgroup "$CG/other" --uid 4243 bind \(specs(7002).joined(separator: " "))
            say counters $TOOL counters
            say events sh -c '$TOOL events | wc -l'
            """)
        for spec in specs(7001) {
            #expect(v["other \(spec)"] == "EADDRINUSE", "\(spec)")
            #expect(v["owner \(spec)"] == "bound", "\(spec)")
            #expect(v["child \(spec)"] == "bound", "\(spec)")
            #expect(v["uid \(spec)"] == "EADDRINUSE", "uid owner of nothing at \(spec)")
        }
        for spec in specs(7002) {
            #expect(v["other \(spec)"] == "EADDRINUSE", "root is not uid 4242: \(spec)")
            #expect(v["uid \(spec)"] == "bound", "\(spec)")
            #expect(v["uid2 \(spec)"] == "EADDRINUSE", "\(spec)")
        }
        for spec in specs(7003) { #expect(v["other \(spec)"] == "bound", "unguarded \(spec)") }
        for spec in specs(7004) {
            #expect(v["other \(spec)"] == "EADDRINUSE", "\(spec)")
            #expect(v["owner \(spec)"] == "bound", "cgroup half of a cgroup+uid entry: \(spec)")
            #expect(v["uid \(spec)"] == "bound", "uid half of a cgroup+uid entry: \(spec)")
        }
        #expect(v["other 4/tcp/0"] == "bound")
        #expect(v["other 6/udp/0"] == "bound")
        // Denials: 8 at 7001, 8 at 7002, 8 at 7004 (other), 8 at 7001 (uid), 8 at 7002 (uid2).
        #expect(v["counters"] == "denied=40 reported=0 dropped=0")
        #expect(v["events"] == "40")
    }

    @Test("a denial event names the process, its uid, cgroup, port, protocol and family")
    func denialEvent() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            $TOOL set 7001 udp --owner-cgroup "$CG/owner"
            say other-cgroup $TOOL cgroup-id "$CG/other"
            say cookie $TOOL cookie
            # The denied process stays alive while the event is read (its name comes from /proc).
            out=$(mktemp)
            trap 'rm -f "$out"' EXIT
            python3 "$BIND" --cgroup "$CG/other" --uid 4243 --linger 60 bind 6/udp/7001 >"$out" &
            taker=$!
            for _ in $(seq 1000); do [ -s "$out" ] && break; sleep 0.01; done
            sed 's/^/other /' "$out"
            say event $TOOL events --wait-ms 5000
            kill $taker
            """)
        #expect(v["other 6/udp/7001"] == "EADDRINUSE")
        let event = v["event"] ?? ""
        #expect(event.hasPrefix("denied port=7001 proto=udp family=6 pid="), "\(event)")
        #expect(event.contains(" uid=4243 "), "\(event)")
        #expect(event.contains(" cgroup=\(v["other-cgroup"] ?? "?") "), "\(event)")
        #expect(event.contains(" netns=\(v["cookie"] ?? "?") "), "\(event)")
        #expect(event.hasSuffix(" comm=python3"), "\(event)")
    }

    @Test("another network namespace, and a process outside the box's cgroup, are not affected")
    func otherNetnsAndOutsiderUntouched() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            $TOOL set 7001 tcp --owner-cgroup "$CG/owner"
            $TOOL set 7001 udp --owner-cgroup "$CG/owner"
            as box --cgroup "$CG/other" bind 4/tcp/7001 6/udp/7001
            # Same cgroup, another network namespace: another netns cookie, no entry.
            unshare -n python3 "$BIND" --cgroup "$CG/other" bind 4/tcp/7001 6/udp/7001 | sed 's/^/netns /'
            # The box's network namespace, but the cgroup bpf-box.sh runs in: no program there.
            outside "python3 '$BIND' bind 4/tcp/7001 6/udp/7001" | sed 's/^/outside /'
            """)
        #expect(v["box 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["box 6/udp/7001"] == "EADDRINUSE")
        #expect(v["netns 4/tcp/7001"] == "bound")
        #expect(v["netns 6/udp/7001"] == "bound")
        #expect(v["outside 4/tcp/7001"] == "bound")
        #expect(v["outside 6/udp/7001"] == "bound")
    }

    @Test("libtirpc's real bindresvport() and a bind-until-free loop move on past a guarded port")
    func bindresvportMovesOn() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            say before python3 "$BIND" --cgroup "$CG/other" resvport 749 750
            $TOOL set 749 tcp --owner-cgroup "$CG/owner"
            say after python3 "$BIND" --cgroup "$CG/other" resvport 749 750
            $TOOL set 7001-7003 udp --owner-cgroup "$CG/owner"
            say loop python3 "$BIND" --cgroup "$CG/other" loop 7001 7010 udp
            say owner-loop python3 "$BIND" --cgroup "$CG/owner" loop 7001 7010 udp
            """)
        #expect(v["before"] == "749", "control: without the entry bindresvport takes 749")
        #expect(v["after"] == "750")
        #expect(v["loop"] == "7004")
        #expect(v["owner-loop"] == "7001")
    }

    @Test("pins outlive the loader; a second install takes over without attaching twice; lost pins are replaced")
    func pinsSurviveAndTakeOver() throws {
        let v = try BPFBox.values(Self.prologue + """
            attached() { bpftool cgroup show "$CG" | grep -c portward_bind || true; }
            say first $TOOL install
            $TOOL set 7001 tcp --owner-cgroup "$CG/owner"
            as after-exit --cgroup "$CG/other" bind 4/tcp/7001
            say second $TOOL install
            say attached attached
            say entries $TOOL list
            say owner-cgroup $TOOL cgroup-id "$CG/owner"
            say counters $TOOL counters
            as after-takeover --cgroup "$CG/other" bind 4/tcp/7001
            # Pins lost (bpffs remounted, say): the programs stay attached and are found by name.
            rm /sys/fs/bpf/portward/bind4 /sys/fs/bpf/portward/bind6
            say third $TOOL install
            say attached-after-third attached
            as after-third --cgroup "$CG/other" bind 4/tcp/7001
            say pins ls /sys/fs/bpf/portward
            """)
        #expect(v["first"]?.hasSuffix("took-over=no replaced=0") == true, "\(v["first"] ?? "")")
        #expect(v["after-exit 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["second"]?.hasSuffix("took-over=yes replaced=0") == true, "\(v["second"] ?? "")")
        #expect(v["attached"] == "2")
        #expect(v["entries"]?.hasSuffix("cgroup \(v["owner-cgroup"] ?? "?")") == true, "\(v["entries"] ?? "")")
        #expect(v["counters"] == "denied=1 reported=0 dropped=0")
        #expect(v["after-takeover 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["third"]?.hasSuffix("took-over=no replaced=2") == true, "\(v["third"] ?? "")")
        #expect(v["attached-after-third"] == "2")
        #expect(v["after-third 4/tcp/7001"] == "EADDRINUSE", "the entry survived: maps are pinned apart")
        #expect(v["pins"] == "bind4 bind6 guard_declared guard_events guard_owners guard_stats post_bind4 post_bind6 sysctl")
    }

    @Test("uninstall detaches and unpins everything, and is idempotent")
    func uninstallRemovesEverything() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            $TOOL set 7001 tcp --owner-cgroup "$CG/owner"
            as before --cgroup "$CG/other" bind 4/tcp/7001
            say uninstall $TOOL uninstall
            say attached sh -c 'bpftool cgroup show "$CG" | grep -c portward_bind || true'
            say pin-dir sh -c 'test -e /sys/fs/bpf/portward && echo present || echo gone'
            as after --cgroup "$CG/other" bind 4/tcp/7001
            say again $TOOL uninstall
            """)
        #expect(v["before 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["uninstall"] == "detached 5", "bind4, bind6, post_bind4, post_bind6, sysctl")
        #expect(v["attached"] == "0")
        #expect(v["pin-dir"] == "gone")
        #expect(v["after 4/tcp/7001"] == "bound")
        #expect(v["again"] == "detached 0")
    }

    @Test("fail open: an empty map, an entry without an owner, a report-only entry allow the bind")
    func failOpen() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            as empty --cgroup "$CG/other" bind 4/tcp/7001 6/udp/7001
            $TOOL set 7001 tcp
            $TOOL set 7002 tcp --owner-cgroup "$CG/owner" --report-only
            as other --cgroup "$CG/other" bind 4/tcp/7001 4/tcp/7002 6/tcp/7002
            say counters $TOOL counters
            say events sh -c '$TOOL events | cut -d" " -f1-4 | sort | uniq -c | sed "s/^ *//"'
            say list $TOOL list
            """)
        #expect(v["empty 4/tcp/7001"] == "bound")
        #expect(v["empty 6/udp/7001"] == "bound")
        #expect(v["other 4/tcp/7001"] == "bound", "an entry without cgroup or uid allows everyone")
        #expect(v["other 4/tcp/7002"] == "bound")
        #expect(v["other 6/tcp/7002"] == "bound")
        #expect(v["counters"] == "denied=0 reported=2 dropped=0")
        #expect(v["events"] == "1 reported port=7002 proto=tcp family=4 1 reported port=7002 proto=tcp family=6")
        #expect(v["list"]?.contains("7001/tcp netns=") == true && v["list"]?.contains(" anyone") == true, "\(v["list"] ?? "")")
    }

    @Test("unavailable: no bpffs, no cgroup2 directory, missing capabilities: exit 3 with the reason; CAP_BPF+CAP_NET_ADMIN suffice")
    func unavailableIsReported() throws {
        let v = try BPFBox.values(Self.prologue + """
            st() { "$@" >/dev/null 2>&1; echo $?; }
            say nobpffs-status st $TOOL install --pin-dir /tmp/portward-not-bpffs/portward
            say nobpffs $TOOL install --pin-dir /tmp/portward-not-bpffs/portward || true
            say nocgroup $TOOL install --cgroup /tmp || true
            say nocaps setpriv --bounding-set=-all --inh-caps=-all $TOOL install --pin-dir /sys/fs/bpf/other || true
            say nocaps-probe setpriv --bounding-set=-all --inh-caps=-all $TOOL probe || true
            say nocaps-status st setpriv --bounding-set=-all --inh-caps=-all $TOOL install --pin-dir /sys/fs/bpf/other
            say attached sh -c 'bpftool cgroup show "$CG" | grep -c portward_bind || true'
            # What the unit needs: CAP_BPF + CAP_NET_ADMIN suffice (no CAP_SYS_ADMIN, no
            # CAP_PERFMON); either alone does not. Map updates need CAP_BPF only.
            say bpf-only setpriv --bounding-set=-all,+bpf --inh-caps=-all $TOOL install --pin-dir /sys/fs/bpf/bpf-only || true
            say netadmin-only setpriv --bounding-set=-all,+net_admin --inh-caps=-all $TOOL install --pin-dir /sys/fs/bpf/na-only || true
            say capped setpriv --bounding-set=-all,+bpf,+net_admin --inh-caps=-all $TOOL install --pin-dir /sys/fs/bpf/capped
            setpriv --bounding-set=-all,+bpf --inh-caps=-all $TOOL set 7001 tcp --uid 4242 --pin-dir /sys/fs/bpf/capped
            as capped --cgroup "$CG/other" bind 4/tcp/7001
            say capped-events setpriv --bounding-set=-all,+bpf --inh-caps=-all $TOOL events --pin-dir /sys/fs/bpf/capped
            say capped-uninstall setpriv --bounding-set=-all,+bpf,+net_admin --inh-caps=-all $TOOL uninstall --pin-dir /sys/fs/bpf/capped
            """)
        #expect(v["bpf-only"]?.contains("unavailable: permission denied") == true, "\(v["bpf-only"] ?? "")")
        #expect(v["netadmin-only"]?.contains("unavailable: permission denied") == true, "\(v["netadmin-only"] ?? "")")
        #expect(v["capped"]?.hasPrefix("installed ") == true, "\(v["capped"] ?? "")")
        #expect(v["capped 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["capped-events"]?.hasPrefix("denied port=7001 proto=tcp family=4") == true, "\(v["capped-events"] ?? "")")
        #expect(v["capped-uninstall"] == "detached 5")
        #expect(v["nobpffs-status"] == "3")
        #expect(v["nobpffs"]?.contains("unavailable: no BPF filesystem") == true, "\(v["nobpffs"] ?? "")")
        #expect(v["nocgroup"]?.contains("unavailable: no cgroup v2") == true, "\(v["nocgroup"] ?? "")")
        #expect(v["nocaps"]?.contains("unavailable: permission denied") == true, "\(v["nocaps"] ?? "")")
        #expect(v["nocaps-probe"]?.contains("unavailable: permission denied") == true, "\(v["nocaps-probe"] ?? "")")
        #expect(v["nocaps-status"] == "3")
        #expect(v["attached"] == "0")
    }

    @Test("the box cleans up after a failing script: processes killed, cgroup removed, nothing attached on the host")
    func boxCleansUpAfterFailure() throws {
        let result = try BPFBox.run("""
            $TOOL install >/dev/null
            mkdir "$CG/left-behind"
            sh -c 'echo $$ >"$CG/left-behind/cgroup.procs"; exec sleep 1000' &
            echo "box: $BOX_HOST"
            exit 7
            """)
        #expect(result.status == 7)
        let box = result.stdout.split(separator: "\n").first { $0.hasPrefix("box: ") }.map { String($0.dropFirst(5)) }
        #expect(box?.contains("portward-test-box") == true, "\(result.stdout)")
        if let box { #expect(!FileManager.default.fileExists(atPath: box), "\(box) removed") }
        // The host's cgroup2 root has no guard program (other tests' boxes, running in
        // parallel, have theirs in their own cgroups).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portward-host-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        let status = try Netns.spawnAndWait(
            ["/bin/bash", "-c", #"cg=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit } break } }' /proc/self/mountinfo); bpftool cgroup show "$cg" | grep -c portward_bind || true"#],
            environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], stdout: out, stderr: "/dev/null")
        #expect(status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "0\n", "no portward program attached at the host's cgroup root")
    }

    @Test("replaceEntries writes new and changed entries, removes stale ones, and leaves equal ones alone")
    func replaceEntries() throws {
        let v = try BPFBox.values(Self.prologue + """
            $TOOL install >/dev/null
            say first $TOOL sync 7001-7003/tcp=uid:4242 7001/udp=cgroup:"$CG/owner"
            as first --cgroup "$CG/other" bind 4/tcp/7002 4/udp/7001
            say second $TOOL sync 7001/tcp=uid:4242 7002/tcp=uid:4243 7001/udp=cgroup:"$CG/owner" 7010/tcp=anyone
            say list $TOOL list
            as second --cgroup "$CG/other" --uid 4243 bind 4/tcp/7001 4/tcp/7002 4/tcp/7003 4/tcp/7010
            say empty $TOOL sync
            say list-empty $TOOL list
            as third --cgroup "$CG/other" bind 4/tcp/7001 4/udp/7001
            """)
        #expect(v["first"] == "written=4 removed=0")
        #expect(v["first 4/tcp/7002"] == "EADDRINUSE")
        #expect(v["first 4/udp/7001"] == "EADDRINUSE")
        #expect(v["second"] == "written=2 removed=1", "7002/tcp changed, 7010/tcp new, 7003/tcp stale")
        #expect(v["second 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["second 4/tcp/7002"] == "bound")
        #expect(v["second 4/tcp/7003"] == "bound")
        #expect(v["second 4/tcp/7010"] == "bound")
        #expect(v["empty"] == "written=0 removed=4")
        #expect(v["list-empty"] == "")
        #expect(v["third 4/tcp/7001"] == "bound")
        #expect(v["third 4/udp/7001"] == "bound")
    }

    @Test("a new program replaces a pinned one on other maps (an upgrade), with CAP_BPF+CAP_NET_ADMIN only")
    func upgradeReplacesPinnedPrograms() throws {
        let v = try BPFBox.values(Self.prologue + """
            capped() { setpriv --bounding-set=-all,+bpf,+net_admin --inh-caps=-all "$@"; }
            capped $TOOL install >/dev/null
            $TOOL set 7001 tcp --uid 4242
            as old --cgroup "$CG/other" bind 4/tcp/7001
            # The maps' pins go (as if the new version's maps had new names): the old programs
            # still hold their maps, with the 7001 entry.
            rm /sys/fs/bpf/portward/guard_owners /sys/fs/bpf/portward/guard_stats /sys/fs/bpf/portward/guard_events /sys/fs/bpf/portward/guard_declared
            say reinstall capped $TOOL install
            say attached sh -c 'bpftool cgroup show "$CG" | grep -c portward_bind || true'
            as new --cgroup "$CG/other" bind 4/tcp/7001
            say list $TOOL list
            """)
        #expect(v["old 4/tcp/7001"] == "EADDRINUSE")
        #expect(v["reinstall"]?.hasSuffix("took-over=no replaced=5") == true, "every program used a replaced map: \(v["reinstall"] ?? "")")
        #expect(v["attached"] == "2")
        #expect(v["new 4/tcp/7001"] == "bound", "the old programs (with the old entry) are detached")
        #expect(v["list"] == "")
    }
}
