import Foundation
import Testing

/// The built binary against the real kernel, each test in its own network namespace.
@Suite(.enabled(if: Netns.available, "needs root and unshare(1) for a private network namespace"))
struct ApplyIntegrationTests {
    static let example = Netns.packageRoot.appendingPathComponent("etc/portward/ports.conf").path

    @Test func appliesTheShippedExample() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": try String(contentsOfFile: Self.example, encoding: .utf8)])
        let r = try Netns.run("""
            "$PORTWARD" apply --root "$ROOT"
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("873,1645-1646,1812-1813,30000-32767,33060,35357\n"), "\(r.stdout)")
        // The state file records what portward added, and from where.
        let state = try String(contentsOfFile: root + "/run/portward/state.json", encoding: .utf8)
        #expect(state.contains("\"entry\" : \"radius\""))
        #expect(state.contains("ports.conf"))
    }

    /// Another portward holds /run/portward/lock (simulated with flock(1)) and writes the key
    /// while holding it: apply waits, then plans from that value and keeps its port. Without
    /// the lock, apply would write first and the holder's replace would drop port 40000.
    @Test func applyWaitsForTheReconcileLock() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n", "run/portward/.keep": ""])
        let r = try Netns.run("""
            flock "$ROOT/run/portward/lock" sh -c "touch '$ROOT/held'; sleep 1; echo 50000 > '$KEY'" &
            HOLDER=$!
            for _ in $(seq 600); do [ -e "$ROOT/held" ] && break; sleep 0.05; done
            "$PORTWARD" apply --root "$ROOT" -q
            wait $HOLDER
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "40000,50000\n", "\(r.stdout)")
    }

    /// A lock held past the 5 s timeout: apply gives up with a message, writes nothing.
    @Test func applyGivesUpOnABusyLock() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 40000 tcp\n", "run/portward/.keep": ""])
        let r = try Netns.run("""
            flock "$ROOT/run/portward/lock" sh -c "touch '$ROOT/held'; sleep 7" &
            HOLDER=$!
            for _ in $(seq 600); do [ -e "$ROOT/held" ] && break; sleep 0.05; done
            status=0; "$PORTWARD" apply --root "$ROOT" -q || status=$?
            echo "exit=$status value=$(cat "$KEY")"
            wait $HOLDER
            """, env: ["ROOT": root])
        #expect(r.stdout == "exit=1 value=\n", "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("another portward process is changing the reservation"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/run/portward/state.json"))
    }

    @Test func foreignReservationSurvivesApplyAndRemoval() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 1812-1813 udp\nb 35357 tcp\n"])
        let r = try Netns.run("""
            echo 5000,35357 > "$KEY"           # someone else's, overlapping one of ours
            "$PORTWARD" apply --root "$ROOT" -q
            cat "$KEY"
            echo 'a 1812-1813 udp' > "$ROOT/etc/portward/ports.conf"    # drop entry b
            "$PORTWARD" apply --root "$ROOT" -q
            cat "$KEY"
            : > "$ROOT/etc/portward/ports.conf"                          # drop everything
            "$PORTWARD" apply --root "$ROOT" -q
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr)")
        // 35357 was reserved before portward declared it: it is foreign and stays.
        #expect(r.stdout == "1812-1813,5000,35357\n1812-1813,5000,35357\n5000,35357\n", "\(r.stdout)")
    }

    @Test func removingAnEntryRemovesOnlyItsPorts() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "a 1812 udp\nb 873 tcp\n"])
        let r = try Netns.run("""
            "$PORTWARD" apply --root "$ROOT" -q
            printf '%s' "$(cat "$KEY"),9999" > "$KEY"                 # someone adds 9999 later
            echo 'a 1812 udp' > "$ROOT/etc/portward/ports.conf"
            "$PORTWARD" apply --root "$ROOT" -q
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "1812,9999\n", "\(r.stdout)")
    }

    @Test func badConfigurationChangesNothing() throws {
        let root = try Netns.makeRoot([
            "etc/portward/ports.conf": "good 1812 udp\nbad 70000 tcp\nreversed 20-10\n",
        ])
        let r = try Netns.run("""
            echo 4242 > "$KEY"
            status=0; "$PORTWARD" apply --root "$ROOT" || status=$?
            echo "status=$status"
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.stdout == "status=2\n4242\n", "\(r.stdout)")
        let path = root + "/etc/portward/ports.conf"
        #expect(r.stderr.contains("\(path):2:"), "\(r.stderr)")
        #expect(r.stderr.contains("\(path):3:"), "all errors are reported: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/run/portward/state.json"))
    }

    @Test func scatteredPortsPastOneKernelWriteRoundTrip() throws {
        // 65,000 scattered single ports, one entry per line: the encoded value is far
        // past the 4,095 bytes the kernel parses per write().
        var ports = Set<Int>()
        var x: UInt32 = 7
        while ports.count < 65_000 {
            x = x &* 1_103_515_245 &+ 12345
            let p = Int(x >> 8) & 0xffff
            if p >= 1 { ports.insert(p) }
        }
        let sorted = ports.sorted()
        let config = sorted.map { "p\($0) \($0) tcp\n" }.joined()
        let root = try Netns.makeRoot(["etc/portward/ports.conf": config])
        let r = try Netns.run("""
            "$PORTWARD" apply --root "$ROOT" --force -q 2>/dev/null
            cat "$KEY"
            """, env: ["ROOT": root])
        #expect(r.status == 0, "\(r.stderr.prefix(2000))")
        #expect(r.stdout.utf8.count > 4095)
        #expect(r.stdout == expectedValue(sorted) + "\n")
    }

    private func expectedValue(_ sorted: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count, sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    @Test func safetyRailRefusesToStarveTheEphemeralRange() throws {
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "big 30000-60000 tcp\n"])
        let r = try Netns.run("""
            status=0; "$PORTWARD" apply --root "$ROOT" -q || status=$?
            echo "status=$status value=$(cat "$KEY")"
            "$PORTWARD" apply --root "$ROOT" -q --force 2>/dev/null
            echo "forced value=$(cat "$KEY")"
            """, env: ["ROOT": root])
        #expect(r.stdout == "status=4 value=\nforced value=30000-60000\n", "\(r.stdout)")
        #expect(r.stderr.contains("more than half"), "\(r.stderr)")
    }

    @Test func reservedPortIsNeverHandedOutButExplicitBindWorks() throws {
        // Pin the ephemeral range to a small window around a reserved port: outbound
        // connects and autobinds must never get it, an explicit bind must.
        let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path
        let root = try Netns.makeRoot(["etc/portward/ports.conf": "svc 40005 tcp,udp\n"])
        let r = try Netns.run("""
            echo "40000 40009" > "$RANGE"
            "$PORTWARD" apply --root "$ROOT" --force -q 2>/dev/null
            python3 "$PROBE" hammer 5000 300
            python3 "$PROBE" bind tcp 40005
            python3 "$PROBE" bind udp 40005
            """, env: ["ROOT": root, "PROBE": probe])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let chosen = lines.compactMap { line -> Int? in
            let f = line.split(separator: " ")
            return f.count == 2 ? Int(f[1]) : nil
        }
        #expect(chosen.count >= 1000, "the hammer got ports: \(lines.prefix(10))")
        #expect(!chosen.contains(40005))
        #expect(Set(chosen).isSubset(of: Set(40000...40009)))
        #expect(lines.suffix(2) == ["bound", "bound"])
    }

    @Test func withoutReservationThePinnedPortIsTaken() throws {
        // The control for the test above: the same pin without portward gives the
        // port away, so the service's later bind fails.
        let probe = Netns.packageRoot.appendingPathComponent("Tests/IntegrationTests/Support/sockets.py").path
        let r = try Netns.run("""
            echo "40005 40005" > "$RANGE"
            python3 - <<'PY'
            import socket, errno
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.sendto(b"x", ("127.0.0.1", 9))
            print("client", c.getsockname()[1])
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", 40005)); print("bound")
            except OSError as e:
                print(errno.errorcode[e.errno])
            PY
            """, env: ["PROBE": probe])
        #expect(r.stdout == "client 40005\nEADDRINUSE\n", "\(r.stdout) \(r.stderr)")
    }
}
