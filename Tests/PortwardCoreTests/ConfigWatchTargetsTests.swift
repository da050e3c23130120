import Testing
import PortwardCore

@Suite struct ConfigWatchTargetsTests {
    static let directories = ["/r/etc/portward", "/r/etc/portward/ports.d", "/r/run/portward/ports.d",
                              "/r/usr/local/lib/portward/ports.d", "/r/usr/lib/portward/ports.d"]

    func resolve(existing: Set<String>) -> [String: ConfigWatchTargets.Interest] {
        ConfigWatchTargets.resolve(Self.directories, root: "/r") { existing.contains($0) }
    }

    @Test func existingDirectoriesAreWatchedForEverything() {
        let all = Set(["/r", "/r/etc", "/r/run", "/r/usr", "/r/usr/local", "/r/usr/local/lib", "/r/usr/lib",
                       "/r/run/portward", "/r/usr/lib/portward", "/r/usr/local/lib/portward"] + Self.directories)
        let watched = resolve(existing: all)
        #expect(watched == Dictionary(uniqueKeysWithValues: Self.directories.map { ($0, .everything) }))
    }

    /// A typical host: only /etc/portward and /run/portward exist. Missing directories are
    /// replaced by their nearest existing ancestor, interested only in the next component;
    /// /etc/portward holds configuration itself, so it stays interested in everything.
    @Test func missingDirectoriesFallBackToTheirNearestAncestor() {
        let watched = resolve(existing: ["/r", "/r/etc", "/r/etc/portward", "/r/run", "/r/run/portward",
                                         "/r/usr", "/r/usr/lib"])
        #expect(watched == [
            "/r/etc/portward": .everything,
            "/r/run/portward": .names(["ports.d"]),
            "/r/usr": .names(["local"]),
            "/r/usr/lib": .names(["portward"]),
        ])
        #expect(watched["/r/run/portward"]?.covers("ports.d") == true)
        #expect(watched["/r/run/portward"]?.covers("daemon.json") == false)
    }

    /// A configuration directory that is a symbolic link: watched (through the link) for
    /// everything, and its parent for the link's name, so re-pointing the link is seen.
    @Test func symbolicLinksAlsoWatchTheirParent() {
        let watched = ConfigWatchTargets.resolve(["/r/etc/portward", "/r/run/portward/ports.d"], root: "/r",
                                                 isDirectory: { _ in true },
                                                 isSymbolicLink: { $0 == "/r/run/portward/ports.d" })
        #expect(watched == ["/r/etc/portward": .everything, "/r/run/portward/ports.d": .everything,
                            "/r/run/portward": .names(["ports.d"])])
    }

    @Test func neverAboveTheRoot() {
        #expect(resolve(existing: ["/", "/r"]) == ["/r": .names(["etc", "run", "usr"])])
        #expect(resolve(existing: ["/"]).isEmpty)
        #expect(ConfigWatchTargets.resolve(["/etc/portward/ports.d"], root: "/") { $0 == "/" } == ["/": .names(["etc"])])
        #expect(ConfigWatchTargets.resolve(["/r/etc/x"], root: "/r/") { $0 == "/r" } == ["/r": .names(["etc"])])
    }
}
