/// Parses one portward configuration file (portward.conf(5)): one service per line,
///
///     NAME  PORTS  [PROTOCOLS]  [OWNER]  [OPTION=VALUE...]
///
/// with columns separated by spaces or tabs, `#` starting a comment at the beginning of a
/// line or after whitespace, and blank lines ignored.
///
/// - NAME: letters, digits, `-`, `_`, `.`, `@`, starting with a letter or digit.
/// - PORTS: comma-separated items, each a decimal port (`873`), a range (`1812-1813`) or a
///   service name looked up for each of the entry's protocols (`rsync`). Ports are 1-65535;
///   leading zeros (`010`, which the kernel would read as octal) and hex (`0x50`) are
///   rejected.
/// - PROTOCOLS: `tcp`, `udp`, `sctp`, comma-combined, or `-`; omitted means all three.
/// - OWNER: `unit:NAME`, `exe:/ABSOLUTE/PATH`, `user:NAME`, `user:UID`, or `-` (omitted
///   means `-`).
/// - OPTION=VALUE columns, last (from the third column on: PROTOCOLS and OWNER may be
///   omitted before them): `ack=outside-range,rpc-range` acknowledges those warnings for
///   the entry; `netns=SCOPE` says where it applies (`EntryScope`: `host`, the default,
///   `all`, `pods`, `ip netns` name globs, comma-combined). Unknown keys are errors, so
///   that new options can be added later.
/// - A line holding only `netns=SCOPE` sets the scope of the entries after it in the same
///   file (a whole drop-in); an entry's own `netns=` replaces it.
///
/// Line endings may be LF or CRLF; a UTF-8 byte order mark at the start of the file is
/// skipped (columns on line 1 do not count it). A line holding a NUL byte, another control
/// character (other than tab) or invalid UTF-8 is an error and is skipped. Every error of
/// every line is reported, as `FILE:LINE:COLUMN: error: message` with 1-based byte columns;
/// a line with any error yields no entry.
///
/// Pure: the services database is reached through the injected resolver. Rules spanning
/// entries (duplicate names, owner conflicts) are checked by `Configuration.merge`.
public enum ConfigParser {
    /// Looks up a service name for one protocol, as getservbyname(3) does: the port in host
    /// byte order, or nil when the name has no entry for that protocol.
    public typealias ServiceResolver = (_ name: String, _ protocol: TransportProtocol) -> UInt16?

    /// An entry together with where its columns are, for diagnostics about it.
    public struct ParsedEntry: Hashable, Sendable {
        public let entry: PortEntry
        /// The entry's ports as sorted, merged ranges (the same set as `entry.ports`).
        public let ranges: [PortRange]
        /// Start of the PORTS column.
        public let portsLocation: SourceLocation
    }

    /// The outcome of parsing one file.
    public struct Result: Hashable, Sendable {
        /// The path given to `parse`, as used in every location.
        public let file: String
        /// The valid entries, in file order.
        public let entries: [ParsedEntry]
        /// Errors, in file order.
        public let diagnostics: [Diagnostic]

        public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    }

    /// Parses `bytes` (the file's contents), naming `file` in locations.
    public static func parse(_ bytes: [UInt8], file: String, resolveService: ServiceResolver) -> Result {
        var parser = LineParser(bytes: bytes, file: file)
        var entries: [ParsedEntry] = []
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        var line = 1
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != newline { end += 1 }
            let next = end + 1
            if end > start, bytes[end - 1] == carriageReturn { end -= 1 }
            if let entry = parser.parseLine(line, start, end, resolveService) { entries.append(entry) }
            if next > bytes.count { break }
            start = next
            line += 1
        }
        return Result(file: file, entries: entries, diagnostics: parser.diagnostics)
    }

    /// Parses `text` (the file's contents), naming `file` in locations.
    public static func parse(_ text: String, file: String, resolveService: ServiceResolver) -> Result {
        parse(Array(text.utf8), file: file, resolveService: resolveService)
    }
}

private let newline = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")
private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let comma = UInt8(ascii: ",")
private let hyphen = UInt8(ascii: "-")

private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
private func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
private func isAlphanumeric(_ b: UInt8) -> Bool { isDigit(b) || isLetter(b) }
private func isNameByte(_ b: UInt8) -> Bool {
    isAlphanumeric(b) || b == hyphen || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "@")
}
private func isServiceNameByte(_ b: UInt8) -> Bool {
    isAlphanumeric(b) || b == hyphen || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: "+")
}
private func isUnitNameByte(_ b: UInt8) -> Bool {
    isAlphanumeric(b) || b == hyphen || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
        || b == UInt8(ascii: "@") || b == UInt8(ascii: ":") || b == UInt8(ascii: "\\")
}
private func isUserNameByte(_ b: UInt8) -> Bool {
    isAlphanumeric(b) || b == hyphen || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
}

/// The unit types systemd knows (unit-name.h), for validating `unit:NAME`.
private let unitTypes = ["service", "socket", "scope", "slice", "target", "mount", "automount",
                         "swap", "timer", "path", "device"]

/// A byte range `[start, end)` of the file.
private struct Span {
    var start: Int
    var end: Int
    var isEmpty: Bool { start == end }
}

private struct LineParser {
    let bytes: [UInt8]
    let file: String
    var diagnostics: [Diagnostic] = []
    /// Offset of the current line's first byte (after a BOM on line 1).
    var lineStart = 0
    var line = 0
    /// Set when the current line has an error.
    var failed = false
    /// The scope of the entries without their own `netns=` column: the last valid
    /// `netns=` line above them in this file, else `host`.
    var fileScope = EntryScope.host

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    func location(_ offset: Int) -> SourceLocation {
        SourceLocation(file: file, line: line, column: offset - lineStart + 1)
    }

    mutating func error(_ message: String, at offset: Int) {
        diagnostics.append(.error(message, at: location(offset)))
        failed = true
    }

    func text(_ span: Span) -> String { String(decoding: bytes[span.start..<span.end], as: UTF8.self) }

    /// The character at `offset` for a message: `'x'`, or `'\t'`/`0x01` style for control
    /// bytes. Only called on lines already checked to be valid UTF-8.
    func character(at offset: Int) -> String {
        let b = bytes[offset]
        if b < 0x80 { return b >= 0x20 && b != 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte \(hex(b))" }
        let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2
        return "'\(String(decoding: bytes[offset..<min(offset + length, bytes.count)], as: UTF8.self))'"
    }

    // MARK: Lines

    mutating func parseLine(_ line: Int, _ start: Int, _ end: Int,
                            _ resolve: ConfigParser.ServiceResolver) -> ConfigParser.ParsedEntry? {
        self.line = line
        lineStart = start
        failed = false
        guard checkEncoding(start, end) else { return nil }

        var fields: [Span] = []
        var i = start
        while i < end {
            while i < end, bytes[i] == space || bytes[i] == tab { i += 1 }
            if i == end || bytes[i] == UInt8(ascii: "#") { break }
            let fieldStart = i
            while i < end, bytes[i] != space, bytes[i] != tab { i += 1 }
            fields.append(Span(start: fieldStart, end: i))
        }
        if fields.isEmpty { return nil }

        if isOption(fields[0]), optionKey(fields[0]) == "netns" {
            parseScopeLine(fields)
            return nil
        }
        checkName(fields[0])
        if fields.count == 1 {
            error("missing PORTS column (expected NAME PORTS [PROTOCOLS] [OWNER])", at: fields[0].end)
        }
        // Options (KEY=VALUE) are the trailing columns from the third on; neither PROTOCOLS
        // nor OWNER can look like one (an owner has its ':' before any '=').
        let firstOption = fields.indices.dropFirst(2).first { isOption(fields[$0]) } ?? fields.count
        var acknowledged: PortEntry.AcknowledgedWarnings = []
        var scope = fileScope
        var guardMode = PortEntry.GuardMode.on
        if firstOption < fields.count {
            let options = parseOptions(fields[firstOption...])
            acknowledged = options.acknowledged
            if let entryScope = options.scope { scope = entryScope }
            guardMode = options.guardMode
        }
        if firstOption > 4 {
            error("too many columns (expected NAME PORTS [PROTOCOLS] [OWNER] [OPTION=VALUE...]; comments start with '#' after whitespace)",
                  at: fields[4].start)
        }
        let protocols: ProtocolSet? = firstOption > 2 ? parseProtocols(fields[2]) : .all
        let owner: Owner? = firstOption > 3 ? parseOwner(fields[3]) : .any
        let ranges: [PortRange]? = fields.count > 1 ? parsePorts(fields[1], protocols: protocols, resolve) : nil
        guard !failed, let ranges, let protocols, let owner else { return nil }

        let entry = PortEntry(name: text(fields[0]), ranges: ranges, portsText: text(fields[1]),
                                 protocols: protocols, owner: owner, location: location(fields[0].start),
                                 acknowledged: acknowledged, scope: scope, guardMode: guardMode)
        return ConfigParser.ParsedEntry(entry: entry, ranges: ranges, portsLocation: location(fields[1].start))
    }

    // MARK: Options

    /// True for a column of the form `KEY=...`, KEY being a lowercase letter followed by
    /// lowercase letters, digits and `-`.
    func isOption(_ field: Span) -> Bool {
        guard let equals = bytes[field.start..<field.end].firstIndex(of: UInt8(ascii: "=")),
              equals > field.start, bytes[field.start] >= 0x61, bytes[field.start] <= 0x7A else { return false }
        return bytes[field.start..<equals].allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || isDigit($0) || $0 == hyphen }
    }

    /// The key of an option column (`isOption`): the bytes before its first `=`.
    func optionKey(_ field: Span) -> String {
        text(Span(start: field.start, end: bytes[field.start..<field.end].firstIndex(of: UInt8(ascii: "="))!))
    }

    /// A line starting with `netns=`: the scope of the entries after it in this file. It
    /// holds nothing else; an invalid value leaves the previous scope in force (the line's
    /// error already makes the file invalid).
    mutating func parseScopeLine(_ fields: [Span]) {
        if fields.count > 1 {
            error("a netns= line sets the scope of the entries after it and holds nothing else (to scope one entry, end its line with netns=...)",
                  at: fields[1].start)
            return
        }
        if let scope = parseScope(fields[0]) { fileScope = scope }
    }

    /// The value of a `netns=` column: comma-separated `host`, `all`, `pods` or `ip netns`
    /// name patterns (`NetnsGlob`), as a union. Errors: an empty value or item, `all` with
    /// other items, a pattern holding `/` or `#`.
    mutating func parseScope(_ field: Span) -> EntryScope? {
        let value = Span(start: field.start + "netns=".utf8.count, end: field.end)
        guard !value.isEmpty else {
            error("netns= needs a scope (host, all, pods, or ip netns name patterns such as vpn-*)", at: value.start - 1)
            return nil
        }
        guard let spans = items(value, column: "netns") else { return nil }
        var host = false, pods = false, all: Span?
        var patterns: [String] = []
        var ok = true
        for item in spans {
            let name = text(item)
            switch name {
            case "host": host = true
            case "pods": pods = true
            case "all": all = item
            default:
                if let bad = (item.start..<item.end).first(where: { bytes[$0] == UInt8(ascii: "/") || bytes[$0] == UInt8(ascii: "#") }) {
                    error("invalid character \(character(at: bad)) in netns name pattern '\(name)' (patterns match ip netns names, the files in /run/netns)",
                          at: bad)
                    ok = false
                } else if !patterns.contains(name) {
                    patterns.append(name)
                }
            }
        }
        if let all, spans.count > 1 {
            error("netns=all already reaches every namespace; it cannot be combined with other items", at: all.start)
            ok = false
        }
        guard ok else { return nil }
        if all != nil { return EntryScope([.all]) }
        var items: [NetnsScope] = []
        if host { items.append(.host) }
        if !patterns.isEmpty { items.append(.named(patterns)) }
        if pods { items.append(.pods) }
        return EntryScope(items)
    }

    /// The option columns (all trailing columns from the first `KEY=VALUE`). Known options:
    /// `ack=WARNING[,WARNING...]` (`outside-range`, `rpc-range`), `netns=SCOPE`
    /// (`parseScope`) and `guard=on|report-only`. Each key at most once; a column after an
    /// option that is not one is an error (options come last).
    mutating func parseOptions(_ fields: ArraySlice<Span>)
        -> (acknowledged: PortEntry.AcknowledgedWarnings, scope: EntryScope?, guardMode: PortEntry.GuardMode) {
        var acknowledged: PortEntry.AcknowledgedWarnings = []
        var scope: EntryScope?
        var guardMode = PortEntry.GuardMode.on
        var seen: Set<String> = []
        for field in fields {
            guard isOption(field) else {
                error("expected OPTION=VALUE after an option, not '\(text(field))' (options come after NAME PORTS [PROTOCOLS] [OWNER])",
                      at: field.start)
                continue
            }
            let equals = bytes[field.start..<field.end].firstIndex(of: UInt8(ascii: "="))!
            let key = text(Span(start: field.start, end: equals))
            guard seen.insert(key).inserted else {
                error("option '\(key)' given twice", at: field.start)
                continue
            }
            switch key {
            case "ack":
                let value = Span(start: equals + 1, end: field.end)
                guard !value.isEmpty else {
                    error("ack= needs a warning to acknowledge (\(Self.ackNames))", at: value.start - 1)
                    continue
                }
                guard let items = items(value, column: "ack") else { continue }
                for item in items {
                    if let known = PortEntry.AcknowledgedWarnings.names.first(where: { $0.name == text(item) }) {
                        acknowledged.insert(known.warning)
                    } else {
                        error("unknown warning '\(text(item))' in ack= (expected \(Self.ackNames))", at: item.start)
                    }
                }
            case "netns":
                scope = parseScope(field)
            case "guard":
                let value = Span(start: equals + 1, end: field.end)
                if let mode = PortEntry.GuardMode(rawValue: text(value)) {
                    guardMode = mode
                } else {
                    error("guard= takes on or report-only, not '\(text(value))'", at: value.start)
                }
            default:
                error("unknown option '\(key)' (expected ack=\(PortEntry.AcknowledgedWarnings.names[0].name),..., netns=SCOPE or guard=report-only)",
                      at: field.start)
            }
        }
        return (acknowledged, scope, guardMode)
    }

    static let ackNames = PortEntry.AcknowledgedWarnings.names.map(\.name).joined(separator: ", ")

    /// Rejects NUL and other control bytes (tab excepted) and invalid UTF-8.
    mutating func checkEncoding(_ start: Int, _ end: Int) -> Bool {
        var i = start
        while i < end {
            let b = bytes[i]
            if b < 0x80 {
                if b == 0 {
                    error("NUL byte", at: i)
                    return false
                }
                if (b < 0x20 && b != tab) || b == 0x7F {
                    error("control character \(hex(b))", at: i)
                    return false
                }
                i += 1
                continue
            }
            let length = utf8SequenceLength(at: i, end: end)
            if length == 0 {
                error("invalid UTF-8 byte \(hex(b))", at: i)
                return false
            }
            i += length
        }
        return true
    }

    /// Length of the well-formed UTF-8 sequence starting at `i` (RFC 3629 table), 0 if
    /// ill-formed.
    func utf8SequenceLength(at i: Int, end: Int) -> Int {
        func continuation(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            k < end && bytes[k] >= lo && bytes[k] <= hi
        }
        let b = bytes[i]
        switch b {
        case 0xC2...0xDF: return continuation(i + 1) ? 2 : 0
        case 0xE0: return continuation(i + 1, 0xA0) && continuation(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return continuation(i + 1) && continuation(i + 2) ? 3 : 0
        case 0xED: return continuation(i + 1, 0x80, 0x9F) && continuation(i + 2) ? 3 : 0
        case 0xF0: return continuation(i + 1, 0x90) && continuation(i + 2) && continuation(i + 3) ? 4 : 0
        case 0xF1...0xF3: return continuation(i + 1) && continuation(i + 2) && continuation(i + 3) ? 4 : 0
        case 0xF4: return continuation(i + 1, 0x80, 0x8F) && continuation(i + 2) && continuation(i + 3) ? 4 : 0
        default: return 0
        }
    }

    // MARK: Columns

    mutating func checkName(_ field: Span) {
        if !isAlphanumeric(bytes[field.start]) {
            error("NAME must start with a letter or digit, not \(character(at: field.start))", at: field.start)
            return
        }
        for i in field.start..<field.end where !isNameByte(bytes[i]) {
            error("invalid character \(character(at: i)) in NAME (allowed: letters, digits, '-', '_', '.', '@')", at: i)
            return
        }
    }

    /// Splits `field` at commas; an empty item is reported at the comma next to it.
    mutating func items(_ field: Span, column: String) -> [Span]? {
        var result: [Span] = []
        var itemStart = field.start
        var ok = true
        for i in field.start...field.end where i == field.end || bytes[i] == comma {
            let item = Span(start: itemStart, end: i)
            if item.isEmpty {
                error("empty item in \(column) list", at: i < field.end ? i : i - 1)
                ok = false
            }
            result.append(item)
            itemStart = i + 1
        }
        return ok ? result : nil
    }

    mutating func parseProtocols(_ field: Span) -> ProtocolSet? {
        if field.end - field.start == 1, bytes[field.start] == hyphen { return .all }
        guard let items = items(field, column: "PROTOCOLS") else { return nil }
        var set: ProtocolSet = []
        var ok = true
        var warned = false
        for item in items {
            if let proto = TransportProtocol(rawValue: text(item)) {
                if set.contains(ProtocolSet(proto)), !warned {
                    diagnostics.append(.warning("protocol '\(proto.rawValue)' is listed twice in the PROTOCOLS column", at: location(item.start)))
                    warned = true
                }
                set.insert(ProtocolSet(proto))
            } else {
                error("unknown protocol '\(text(item))' (expected tcp, udp, sctp, or - for all)", at: item.start)
                ok = false
            }
        }
        return ok ? set : nil
    }

    /// The PORTS column as sorted, merged ranges. Service names are resolved only when the
    /// protocols are known (`protocols` is nil when that column has an error).
    mutating func parsePorts(_ field: Span, protocols: ProtocolSet?,
                             _ resolve: ConfigParser.ServiceResolver) -> [PortRange]? {
        guard let items = items(field, column: "PORTS") else { return nil }
        var ranges: [PortRange] = []
        var itemRanges: [(item: Span, ranges: Range<Int>)] = []  // indices into `ranges`
        var ok = true
        for item in items {
            let first = bytes[item.start]
            let before = ranges.count
            if isDigit(first) {
                if let range = parseRange(item) { ranges.append(range) } else { ok = false }
            } else if isLetter(first) {
                // Without valid protocols (already reported) the name cannot be looked up.
                guard let protocols else { continue }
                if let ports = resolveService(item, protocols, resolve) {
                    ranges.append(contentsOf: Set(ports).sorted().map { PortRange($0) })
                } else {
                    ok = false
                }
            } else {
                error("expected a port, a range or a service name, not \(character(at: item.start))", at: item.start)
                ok = false
            }
            itemRanges.append((item, before..<ranges.count))
        }
        guard ok else { return nil }
        if itemRanges.count > 1 { warnAboutRepeatedPorts(itemRanges, ranges) }
        return merged(ranges)
    }

    /// Warns (once per entry, at the first such item) about an item of the PORTS column
    /// that names ports an earlier item of the same column already names, e.g. `9003` in
    /// `9000-9005,9003`, or `rsync` after `873`. Until the first repeat every item is
    /// disjoint from the earlier ones, so this costs at most 65,535 port checks plus one
    /// per item, however long the line.
    mutating func warnAboutRepeatedPorts(_ itemRanges: [(item: Span, ranges: Range<Int>)], _ all: [PortRange]) {
        var seen = PortSet()
        for (item, indices) in itemRanges {
            var repeated = PortSet()
            for range in all[indices] {
                for port in range.lower...range.upper where seen.contains(port) { repeated.insert(port) }
            }
            if !repeated.isEmpty {
                let earlier = itemRanges.first { other in
                    other.item.start < item.start
                        && all[other.ranges].contains { r in (r.lower...r.upper).contains(where: repeated.contains) }
                }
                let (noun, verb) = repeated.count == 1 ? ("port", "is") : ("ports", "are")
                let already = earlier.map { " (already in '\(text($0.item))' at column \($0.item.start - lineStart + 1))" } ?? ""
                diagnostics.append(.warning(
                    "\(noun) \(repeated) \(verb) listed twice in the PORTS column\(already); reserved once",
                    at: location(item.start)))
                return
            }
            for range in all[indices] { seen.insert(range) }
        }
    }

    /// `N` or `A-B`, decimal, each in 1-65535, `A <= B`.
    mutating func parseRange(_ item: Span) -> PortRange? {
        var i = item.start
        guard let lower = parseNumber(&i, item) else { return nil }
        var upper = lower
        if i < item.end, bytes[i] == hyphen {
            i += 1
            guard i < item.end, isDigit(bytes[i]) else {
                if i < item.end {
                    error("expected a port after '-', not \(character(at: i))", at: i)
                } else {
                    error("expected a port after '-'", at: i - 1)
                }
                return nil
            }
            guard let value = parseNumber(&i, item) else { return nil }
            upper = value
        }
        if i < item.end {
            error("unexpected character \(character(at: i)) in port '\(text(item))'", at: i)
            return nil
        }
        guard lower <= upper else {
            error("reversed range '\(text(item))' (the lower port comes first)", at: item.start)
            return nil
        }
        return PortRange(lower, upper)
    }

    /// A decimal port at `i` (which holds a digit), advancing `i` past its digits.
    mutating func parseNumber(_ i: inout Int, _ item: Span) -> UInt16? {
        let start = i
        var value = 0
        while i < item.end, isDigit(bytes[i]) {
            value = min(value * 10 + Int(bytes[i] - 0x30), 1_000_000)
            i += 1
        }
        let written = text(Span(start: start, end: i))
        if bytes[start] == 0x30, i < item.end, bytes[i] | 0x20 == UInt8(ascii: "x"), i == start + 1 {
            var end = i + 1
            while end < item.end, bytes[end] != hyphen { end += 1 }
            error("hexadecimal port '\(text(Span(start: start, end: end)))': write ports in decimal", at: start)
            return nil
        }
        if bytes[start] == 0x30, i - start > 1 {
            error("port '\(written)' has a leading zero (the kernel would read it as octal): write ports in decimal",
                  at: start)
            return nil
        }
        guard value >= 1, value <= 65_535 else {
            error("port \(written) is out of range 1-65535", at: start)
            return nil
        }
        return UInt16(value)
    }

    /// Resolves a service name for each of `protocols`; nil (with an error) when it
    /// resolves for none.
    mutating func resolveService(_ item: Span, _ protocols: ProtocolSet,
                                 _ resolve: ConfigParser.ServiceResolver) -> [UInt16]? {
        for i in item.start..<item.end where !isServiceNameByte(bytes[i]) {
            error("invalid character \(character(at: i)) in service name '\(text(item))'", at: i)
            return nil
        }
        let name = text(item)
        var ports: [UInt16] = []
        for proto in protocols.members {
            if let port = resolve(name, proto), port != 0 { ports.append(port) }
        }
        if ports.isEmpty {
            error("unknown service '\(name)' for \(protocols.members.map(\.rawValue).joined(separator: ","))",
                  at: item.start)
            return nil
        }
        return ports
    }

    mutating func parseOwner(_ field: Span) -> Owner? {
        let value = text(field)
        if value == "-" { return .any }
        guard let colon = bytes[field.start..<field.end].firstIndex(of: UInt8(ascii: ":")) else {
            error("invalid owner '\(value)' (expected unit:NAME, exe:PATH, user:NAME, user:UID, or -)", at: field.start)
            return nil
        }
        let kind = text(Span(start: field.start, end: colon))
        let rest = Span(start: colon + 1, end: field.end)
        switch kind {
        case "unit": return checkUnit(rest).map { Owner.unit($0) }
        case "exe":
            guard !rest.isEmpty, bytes[rest.start] == UInt8(ascii: "/") else {
                error("exe: needs an absolute path, not '\(text(rest))'", at: rest.start)
                return nil
            }
            return .exe(text(rest))
        case "user": return checkUser(rest).map { Owner.user($0) }
        default:
            error("unknown owner kind '\(kind)' (expected unit:NAME, exe:PATH, user:NAME, user:UID, or -)",
                  at: field.start)
            return nil
        }
    }

    /// A systemd unit name: `[A-Za-z0-9:_.\@-]`, at most 255 bytes, with a type suffix.
    mutating func checkUnit(_ span: Span) -> String? {
        let name = text(span)
        for i in span.start..<span.end where !isUnitNameByte(bytes[i]) {
            error("invalid character \(character(at: i)) in unit name '\(name)'", at: i)
            return nil
        }
        let dot = bytes[span.start..<span.end].lastIndex(of: UInt8(ascii: "."))
        guard let dot, dot > span.start, span.end - span.start <= 255,
              unitTypes.contains(text(Span(start: dot + 1, end: span.end)))
        else {
            error("invalid unit name '\(name)' (expected a name with a unit type, e.g. 'freeradius.service')",
                  at: span.start)
            return nil
        }
        return name
    }

    /// A user name (`[A-Za-z0-9_.-]`, not starting with `-`, optional trailing `$`) or a
    /// decimal uid 0-4294967294.
    mutating func checkUser(_ span: Span) -> Owner.UserReference? {
        guard !span.isEmpty else {
            error("user: needs a user name or uid", at: span.start)
            return nil
        }
        if bytes[span.start..<span.end].allSatisfy(isDigit) {
            let written = text(span)
            if bytes[span.start] == 0x30, span.end - span.start > 1 {
                error("uid '\(written)' has a leading zero: write uids in decimal", at: span.start)
                return nil
            }
            guard let uid = UInt32(written), uid != UInt32.max else {
                error("uid \(written) is out of range 0-4294967294", at: span.start)
                return nil
            }
            return .uid(uid)
        }
        var end = span.end
        if bytes[end - 1] == UInt8(ascii: "$"), end - 1 > span.start { end -= 1 }
        if bytes[span.start] == hyphen {
            error("user name must not start with '-'", at: span.start)
            return nil
        }
        for i in span.start..<end where !isUserNameByte(bytes[i]) {
            error("invalid character \(character(at: i)) in user name '\(text(span))'", at: i)
            return nil
        }
        return .name(text(span))
    }
}

private func hex(_ b: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return "0x\(digits[Int(b >> 4)])\(digits[Int(b & 15)])"
}

/// Sorts and merges overlapping or adjacent ranges.
private func merged(_ ranges: [PortRange]) -> [PortRange] {
    guard ranges.count > 1 else { return ranges }
    var result: [PortRange] = []
    for range in ranges.sorted() {
        if let last = result.last, Int(range.lower) <= Int(last.upper) + 1 {
            result[result.count - 1] = PortRange(last.lower, max(last.upper, range.upper))
        } else {
            result.append(range)
        }
    }
    return result
}
