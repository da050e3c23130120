/// The text format of `net.ipv4.ip_local_reserved_ports`, per
/// Documentation/networking/ip-sysctl.rst and the kernel's `proc_do_large_bitmap()`.
///
/// Grammar: `N` or `A-B` items separated by commas or newlines; a trailing separator is
/// allowed; the empty value (or a lone newline) is the empty set. The kernel parses numbers
/// with base 0 (a leading `0` means octal, `0x` hex), so `encode` never writes a leading
/// zero and `decode` rejects one rather than guess.
public enum ReservedPortsValue {
    /// Sorted, merged ranges followed by a newline, e.g. `"873,1812-1813\n"`; `"\n"` clears.
    ///
    /// The kernel parses at most 4,095 bytes per `write()`; a longer value must be written
    /// in a loop that resumes at the count each `write()` returns (see `SysctlFile`).
    public static func encode(_ set: PortSet) -> String {
        set.description + "\n"
    }

    /// Parses a value as the kernel prints it (or as written to it in decimal).
    /// Throws `ReservedPortsValue.DecodeError` with the 1-based byte column of the fault.
    public static func decode(_ text: String) throws(DecodeError) -> PortSet {
        var set = PortSet()
        let bytes = Array(text.utf8)
        // Items separated by `,` or `\n`; empty items are allowed only at the end (trailing
        // separators), as the kernel allows them.
        var items: [(start: Int, end: Int)] = []
        var itemStart = 0
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: ",") || byte == UInt8(ascii: "\n") {
            items.append((itemStart, i))
            itemStart = i + 1
        }
        items.append((itemStart, bytes.count))
        let lastNonEmpty = items.lastIndex { $0.start < $0.end } ?? -1
        for (k, item) in items.enumerated() {
            if item.start == item.end {
                if k < lastNonEmpty { throw DecodeError(column: item.start + 1, reason: "empty item") }
                continue
            }
            set.insert(try range(bytes, item.start, item.end))
        }
        return set
    }

    private static func range(_ bytes: [UInt8], _ start: Int, _ end: Int) throws(DecodeError) -> PortRange {
        var i = start
        func number() throws(DecodeError) -> UInt16 {
            let first = i
            var value = 0
            while i < end, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                if value > 65_535 { throw DecodeError(column: first + 1, reason: "port out of range 0-65535") }
                i += 1
            }
            if i == first { throw DecodeError(column: first + 1, reason: "expected a port number") }
            if bytes[first] == UInt8(ascii: "0"), i - first > 1 {
                throw DecodeError(column: first + 1, reason: "leading zero (the kernel reads it as octal)")
            }
            return UInt16(value)
        }
        let lo = try number()
        var hi = lo
        if i < end, bytes[i] == UInt8(ascii: "-") {
            i += 1
            hi = try number()
            if hi < lo { throw DecodeError(column: start + 1, reason: "reversed range \(lo)-\(hi)") }
        }
        if i < end { throw DecodeError(column: i + 1, reason: "unexpected character") }
        return PortRange(lo, hi)
    }

    /// A value that is not in the kernel's format.
    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        /// 1-based byte offset of the fault.
        public let column: Int
        public let reason: String
        public var description: String { "column \(column): \(reason)" }
    }
}

/// The text format of `net.ipv4.ip_local_port_range`: two decimal ports separated by
/// whitespace (the kernel prints a tab), the ephemeral ports the kernel picks from.
public enum LocalPortRangeValue {
    /// Parses e.g. `"32768\t60999\n"`; `nil` when the text is not two ordered ports.
    public static func decode(_ text: String) -> PortRange? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count == 2, let lo = UInt16(fields[0]), let hi = UInt16(fields[1]), lo <= hi
        else { return nil }
        return PortRange(lo, hi)
    }
}
