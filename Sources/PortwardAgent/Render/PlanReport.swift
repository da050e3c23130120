import PortwardCore

/// Human-readable rendering of a configuration and a plan (`check`).
public enum PlanReport {
    /// The entries table: ENTRY, PORTS, PROTO, OWNER, GUARD (`guarded`, `report-only`, `-`:
    /// the entry's protection by the owner guard, from `protections` by entry name), NETNS
    /// (the entry's `netns=` scope, e.g. `host`, `all`, `pods`, `host,vpn-*`, only when some
    /// entry is not scoped `host` only), SOURCE (`file:line`).
    public static func entries(_ configuration: Configuration, protections: [String: EntryProtection] = [:]) -> String {
        let scoped = configuration.hasScopes
        let rows = configuration.entries.map { entry in
            [entry.name, entry.portsDescription, entry.protocols.description, entry.owner.description,
             GuardReport.cell(protections[entry.name])]
                + (scoped ? [entry.scope.description] : [])
                + [entry.location.file + ":" + String(entry.location.line)]
        }
        return Table.render(header: ["ENTRY", "PORTS", "PROTO", "OWNER", "GUARD"] + (scoped ? ["NETNS"] : []) + ["SOURCE"],
                            rows: rows)
    }

    /// Which namespaces the entries reach now, after an empty line: one row per namespace
    /// that some entry selects (`host` first, then the `discovered` ones other than the
    /// daemon's own, by identity), then `pods` when some entry is added by the CNI plugin.
    /// Columns NETNS (`host`, `net:[INODE] NAME-OR-PATH`, `pods (CNI)`) and ENTRIES (names,
    /// comma-separated, in reading order).
    public static func namespaces(_ configuration: Configuration, discovered: [DiscoveredNetns]) -> String {
        var rows: [[String]] = []
        func names(_ entries: [PortEntry]) -> String { entries.map(\.name).joined(separator: ",") }
        let host = configuration.entries.filter(\.scope.includesHost)
        if !host.isEmpty { rows.append(["host", names(host)]) }
        for netns in discovered where !netns.isOwn {
            let reaching = configuration.scoped(to: netns).entries
            guard !reaching.isEmpty else { continue }
            rows.append(["\(netns.identity) \((netns.names.first ?? netns.path).escapingControlCharacters)", names(reaching)])
        }
        let pods = configuration.entries.filter(\.scope.includesPods)
        if !pods.isEmpty { rows.append(["pods (CNI)", names(pods)]) }
        return "\nnamespaces reached now:\n" + Table.render(header: ["NETNS", "ENTRIES"], rows: rows)
    }

    /// The plan: declared, kernel now, reserved by others, to add, to release, new value;
    /// after an empty line.
    public static func plan(_ plan: Plan) -> String {
        func show(_ set: PortSet) -> String { set.isEmpty ? "-" : set.description }
        return """

            declared:          \(show(plan.declared)) (\(plan.declared.count) ports)
            kernel now:        \(show(plan.current))
            reserved by others: \(show(plan.foreign.subtracting(plan.declared)))
            to add:            \(show(plan.added))
            to release:        \(show(plan.released))
            \(plan.isNoop ? "the kernel already holds the planned value" : "new value:         \(show(plan.target))")

            """
    }
}
