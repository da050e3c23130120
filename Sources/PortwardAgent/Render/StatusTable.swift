import PortwardCore

/// The human-readable `portward status` table.
public enum StatusTable {
    /// - Parameters:
    ///   - protections: each entry's protection by the owner guard (GUARD column:
    ///     `guarded`, `report-only`, `-`), by entry name.
    ///   - applyCommand: the command the `unreserved:` hint names (with the `--root` given).
    public static func render(_ rows: [EntryStatus], attributionIncomplete: Bool,
                              protections: [String: EntryProtection] = [:],
                              applyCommand: String = "portward apply") -> String {
        let cells = rows.map { row in
            [row.entry.name, row.transport.rawValue, row.entry.portsDescription,
             row.reserved.rawValue, row.state.rawValue, GuardReport.cell(protections[row.entry.name]),
             holders(row, attributionIncomplete: attributionIncomplete)]
        }
        var text = Table.render(header: ["ENTRY", "PROTO", "PORTS", "RESERVED", "STATE", "GUARD", "HOLDERS"], rows: cells)
        let conflicts = rows.flatMap { row in row.findings.filter(\.verdict.isConflict).map { (row, $0) } }
        for (row, finding) in conflicts {
            let state = "\(finding.socket.state)"
            let connection = "\(Conflict.article(state)) \(state) connection to \(finding.socket.remoteAddress):\(finding.socket.remotePort)"
            let why: String
            switch finding.verdict {
            case .ephemeralGrab:
                why = "taken as the local port of \(connection) (an ephemeral grab)"
            case .boundAfterReservation:
                why = "bound explicitly by \(describe(finding)) after the reservation (the kernel key cannot stop an explicit bind), as the local port of \(connection)"
            default:
                if let owners = finding.ownerFamilies {
                    let theirs = Conflict.familyNames(finding.socket.servedFamilies.map(\.description))
                    why = "\(theirs) is held by \(describe(finding)), not by \(row.entry.owner); the owner holds only \(Conflict.familyNames(owners.map(\.description))), so \(theirs) clients reach the wrong process"
                } else {
                    why = "held by \(describe(finding)), not by \(row.entry.owner)"
                }
            }
            text += "conflict: \(finding.socket.localPort)/\(row.transport.rawValue) (\(row.entry.name), \(row.entry.location.file.escapingControlCharacters):\(row.entry.location.line)) \(why)\n"
        }
        for row in rows {
            for finding in row.findings {
                guard let reason = finding.unverifiedReason(owner: row.entry.owner) else { continue }
                text += "unverified: \(finding.socket.localPort)/\(row.transport.rawValue) (\(row.entry.name)) \(row.entry.owner) cannot be checked: \(reason)\n"
            }
        }
        for row in rows where !row.unreserved.isEmpty {
            text += "unreserved: \(row.unreserved)/\(row.transport.rawValue) (\(row.entry.name)) is not in net.ipv4.ip_local_reserved_ports; run \(applyCommand)\n"
        }
        return text
    }

    /// `1812 freeradius[812] freeradius.service uid=106`, several joined by `; `.
    public static func holders(_ row: EntryStatus, attributionIncomplete: Bool) -> String {
        if row.findings.isEmpty { return "-" }
        return row.findings.map { finding in
            var text = "\(finding.socket.localPort) "
            if finding.holders.isEmpty {
                if finding.socket.inode == 0 { text += "\(finding.socket.state) (no process)" }
                else {
                    switch finding.attribution {
                    case .complete: text += "unknown uid=\(finding.socket.uid)"
                    case .needsRoot: text += "unknown (needs root) uid=\(finding.socket.uid)"
                    case .hidepid: text += "unknown (hidden by hidepid) uid=\(finding.socket.uid)"
                    case .procUnreadable: text += "unknown (/proc unreadable) uid=\(finding.socket.uid)"
                    }
                }
            } else {
                text += describe(finding)
            }
            return text
        }.joined(separator: "; ")
    }

    public static func describe(_ finding: SocketFinding) -> String {
        if finding.holders.isEmpty { return "an unknown process (uid \(finding.socket.uid))" }
        return finding.holders.map { h in
            ("\(h.command)[\(h.pid)]" + (h.unit.map { " \($0)" } ?? "")).escapingControlCharacters + " uid=\(h.uid)"
        }.joined(separator: ", ")
    }
}
