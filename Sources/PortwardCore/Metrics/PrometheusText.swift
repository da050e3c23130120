/// The Prometheus text exposition format (version 0.0.4), as node_exporter's textfile
/// collector reads it: `# HELP` and `# TYPE` before each metric family, one sample per
/// line, no timestamps, a trailing newline.
/// Source: https://prometheus.io/docs/instrumenting/exposition_formats/
public enum PrometheusText {
    /// The textfile for `snapshot`. Metric names, labels and types: docs/metrics.md.
    ///
    /// Every family is present, also when empty of samples (HELP and TYPE only), so the
    /// file always documents itself. Entries duplicated by (name, protocol) keep the first;
    /// conflict holders past `snapshot.conflictSeriesLimit` (negative counts as 0) are folded
    /// per entry and protocol into `portward_conflict_omitted_sockets`, and their number is
    /// `portward_conflict_omitted_holders`.
    public static func render(_ snapshot: MetricsSnapshot) -> String {
        var out = Writer()
        // About 780 bytes per entry and protocol (11 series), plus the fixed families.
        out.text.reserveCapacity(snapshot.entries.count * 800 + (snapshot.conflicts.count + 20) * 200)
        out.family("portward_build_info", .gauge, "portward's version, in the labels; always 1.")
        out.sample("portward_build_info", [("version", snapshot.version)], 1)

        var seen: Set<EntryKey> = []
        let entries = snapshot.entries.filter { seen.insert(EntryKey(name: $0.name, transport: $0.transport)).inserted }
        // Each entry's labels escaped once, not once per series (65,535 entries: 720,000 series).
        let labels = entries.map { "entry=\"\(escapeLabelValue($0.name))\",protocol=\"\($0.transport.rawValue)\"" }
        out.family("portward_entry_reserved", .gauge,
                   "1 when every declared port of the entry is in net.ipv4.ip_local_reserved_ports, else 0.")
        for (e, l) in zip(entries, labels) { out.sample("portward_entry_reserved", escapedLabels: l, e.reserved ? "1" : "0") }
        out.family("portward_entry_state", .gauge,
                   "1 for the entry's current state (ok, free, conflict, unreserved, unverified), 0 for the others.")
        for (e, l) in zip(entries, labels) {
            for state in MetricsSnapshot.EntryState.allCases {
                out.sample("portward_entry_state", escapedLabels: l, extra: ("state", state.rawValue),
                           e.state == state ? "1" : "0")
            }
        }
        out.family("portward_entry_protection", .gauge,
                   "1 for how the entry's ports are protected (guarded, held, report-only, none), 0 for the others.")
        for (e, l) in zip(entries, labels) {
            for protection in MetricsSnapshot.Protection.allCases {
                out.sample("portward_entry_protection", escapedLabels: l, extra: ("protection", protection.rawValue),
                           e.protection == protection ? "1" : "0")
            }
        }
        out.family("portward_entry_holders", .gauge,
                   "Processes holding a socket on the entry's declared ports for this protocol.")
        for (e, l) in zip(entries, labels) { out.sample("portward_entry_holders", escapedLabels: l, String(e.holders)) }

        // Conflicts: merge duplicates (same labels), cap the series, fold the rest.
        var holders: [HolderKey: Int] = [:]
        var holderOrder: [HolderKey] = []
        for c in snapshot.conflicts {
            let key = HolderKey(entry: c.entry, transport: c.transport, ports: c.ports, command: c.command, unit: c.unit)
            if holders[key] == nil { holderOrder.append(key) }
            holders[key, default: 0] += c.sockets
        }
        let limit = max(0, snapshot.conflictSeriesLimit)
        out.family("portward_conflict_sockets", .gauge,
                   "Sockets on an entry's declared ports held by the wrong process, per holder command and unit "
                   + "(at most portward_conflict_series_limit series).")
        for key in holderOrder.prefix(limit) {
            out.sample("portward_conflict_sockets",
                       [("entry", key.entry), ("protocol", key.transport.rawValue), ("ports", key.ports),
                        ("holder_command", key.command), ("holder_unit", key.unit)],
                       Double(holders[key]!))
        }
        var omitted: [OmittedKey: Int] = [:]
        var omittedOrder: [OmittedKey] = []
        for key in holderOrder.dropFirst(limit) {
            let group = OmittedKey(entry: key.entry, transport: key.transport, ports: key.ports)
            if omitted[group] == nil { omittedOrder.append(group) }
            omitted[group, default: 0] += holders[key]!
        }
        out.family("portward_conflict_omitted_sockets", .gauge,
                   "Conflicting sockets of holders past the series limit, summed per entry and protocol.")
        for group in omittedOrder {
            out.sample("portward_conflict_omitted_sockets",
                       [("entry", group.entry), ("protocol", group.transport.rawValue), ("ports", group.ports)],
                       Double(omitted[group]!))
        }
        out.family("portward_conflict_omitted_holders", .gauge,
                   "Conflict holder series left out because of the series limit (0: every holder has its series).")
        out.sample("portward_conflict_omitted_holders", [], Double(max(0, holderOrder.count - limit)))
        out.family("portward_conflict_series_limit", .gauge,
                   "The most portward_conflict_sockets series portward writes.")
        out.sample("portward_conflict_series_limit", [], Double(limit))

        let c = snapshot.counters
        out.counter("portward_drift_repairs_total",
                    "Times declared ports were found missing from the kernel value and written back.", c.driftRepairs)
        out.counter("portward_guard_denials_total",
                    "bind() calls on a declared port the guard denied to a process that is not the owner.",
                    c.guardDenials)
        out.counter("portward_conflicts_started_total",
                    "Conflicts first seen: a socket on a declared port appearing in the wrong hands.",
                    c.conflictsStarted)
        out.counter("portward_events_dropped_total",
                    "Kernel events lost (buffer full) and caught up by a poll.", c.eventsDropped)
        out.counter("portward_config_reload_errors_total",
                    "Configuration reloads rejected for errors (the previous configuration stayed in force).",
                    c.configurationErrors)

        out.family("portward_last_successful_check_timestamp_seconds", .gauge,
                   "When the last check of the reserved ports and sockets succeeded, seconds since the Unix epoch.")
        if let at = snapshot.lastSuccessfulCheck {
            out.sample("portward_last_successful_check_timestamp_seconds", [], at)
        }
        out.family("portward_config_valid", .gauge,
                   "1 when the configuration loaded last had no errors, 0 when it was rejected.")
        out.sample("portward_config_valid", [], snapshot.configurationValid ? 1 : 0)
        out.family("portward_watch_mode", .gauge,
                   "1 for how portward sees changes (events, polling), 0 for the other.")
        for mode in MetricsSnapshot.WatchMode.allCases {
            out.sample("portward_watch_mode", [("mode", mode.rawValue)], snapshot.watchMode == mode ? 1 : 0)
        }
        out.family("portward_network_namespaces", .gauge,
                   "Network namespaces whose reserved ports portward manages.")
        out.sample("portward_network_namespaces", [], Double(snapshot.networkNamespaces))
        return out.text
    }

    /// A label value escaped for the text format: backslash, double quote and line feed
    /// become `\\`, `\"` and `\n`; everything else (UTF-8) is kept.
    public static func escapeLabelValue(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return value }
        var result = ""
        result.reserveCapacity(value.utf8.count + 8)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// HELP text escaped for the text format: backslash and line feed become `\\` and `\n`.
    public static func escapeHelp(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// A sample value: integers without a fraction (`3`, not `3.0`), `NaN`, `+Inf`, `-Inf`.
    public static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    enum MetricType: String {
        case gauge, counter
    }

    private struct Writer {
        var text = ""

        mutating func family(_ name: String, _ type: MetricType, _ help: String) {
            text += "# HELP \(name) \(PrometheusText.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            sample(name, labels, PrometheusText.formatValue(value))
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
            text += name
            if !labels.isEmpty {
                text += "{"
                for (i, (label, labelValue)) in labels.enumerated() {
                    if i > 0 { text += "," }
                    text += label + "=\"" + PrometheusText.escapeLabelValue(labelValue) + "\""
                }
                text += "}"
            }
            text += " " + value + "\n"
        }

        /// `name{LABELS[,LABEL="VALUE"]} value`: `escapedLabels` already escaped, the extra
        /// label's value one of portward's own identifiers (nothing to escape).
        mutating func sample(_ name: String, escapedLabels: String, extra: (label: String, value: String)? = nil,
                             _ value: String) {
            text += name
            text += "{"
            text += escapedLabels
            if let extra {
                text += ","
                text += extra.label
                text += "=\""
                text += extra.value
                text += "\""
            }
            text += "} "
            text += value
            text += "\n"
        }

        mutating func counter(_ name: String, _ help: String, _ value: UInt64) {
            family(name, .counter, help)
            sample(name, [], String(value))
        }
    }

    private struct EntryKey: Hashable {
        let name: String
        let transport: TransportProtocol
    }

    private struct HolderKey: Hashable {
        let entry: String
        let transport: TransportProtocol
        let ports: String
        let command: String
        let unit: String
    }

    private struct OmittedKey: Hashable {
        let entry: String
        let transport: TransportProtocol
        let ports: String
    }
}
