import PortwardCore

/// Human-readable rendering of a configuration and a plan (used by check, apply, run).
enum PlanReport {
    static func printEntries(_ configuration: Configuration) {
        let rows = configuration.entries.map { entry in
            [entry.name, entry.portsDescription, entry.protocols.description,
             entry.owner.description, entry.location.file + ":" + String(entry.location.line)]
        }
        print(Table.render(header: ["ENTRY", "PORTS", "PROTO", "OWNER", "SOURCE"], rows: rows), terminator: "")
    }

    static func printPlan(_ plan: Plan) {
        func show(_ set: PortSet) -> String { set.isEmpty ? "-" : set.description }
        print("")
        print("declared:          \(show(plan.declared)) (\(plan.declared.count) ports)")
        print("kernel now:        \(show(plan.current))")
        print("reserved by others: \(show(plan.foreign.subtracting(plan.declared)))")
        print("to add:            \(show(plan.added))")
        print("to release:        \(show(plan.released))")
        print(plan.isNoop ? "the kernel already holds the planned value" : "new value:         \(show(plan.target))")
    }

    /// One-line summary for STATUS= and logs: "reserved N ports for M services".
    static func summary(_ plan: Plan, _ configuration: Configuration) -> String {
        "reserved \(plan.declared.count) ports for \(configuration.entries.count) services"
    }
}
