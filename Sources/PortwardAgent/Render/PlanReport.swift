import PortwardCore

/// Human-readable rendering of a configuration and a plan (`check`).
public enum PlanReport {
    /// The entries table: ENTRY, PORTS, PROTO, OWNER, GUARD (`guarded`, `report-only`, `-`:
    /// the entry's protection by the owner guard, from `protections` by entry name), SOURCE
    /// (`file:line`).
    public static func entries(_ configuration: Configuration, protections: [String: EntryProtection] = [:]) -> String {
        let rows = configuration.entries.map { entry in
            [entry.name, entry.portsDescription, entry.protocols.description,
             entry.owner.description, GuardReport.cell(protections[entry.name]),
             entry.location.file + ":" + String(entry.location.line)]
        }
        return Table.render(header: ["ENTRY", "PORTS", "PROTO", "OWNER", "GUARD", "SOURCE"], rows: rows)
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
