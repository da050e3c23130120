/// A set of port numbers (0...65535, host byte order), stored as a 65,536-bit bitmap like
/// the kernel's own `sysctl_local_reserved_ports`.
///
/// Set operations cost 1,024 word operations whatever the contents, so merging a 65,535-port
/// reservation is as cheap as merging one port. The value is 8 KiB; copies are
/// copy-on-write.
public struct PortSet: Hashable, Sendable, Sequence, CustomStringConvertible {
    private static let wordCount = 65_536 / 64
    private var words: [UInt64]

    /// The empty set.
    public init() { words = Array(repeating: 0, count: Self.wordCount) }

    /// The union of the given ranges.
    public init<S: Sequence>(ranges: S) where S.Element == PortRange {
        self.init()
        for range in ranges { insert(range) }
    }

    /// The given ports.
    public init<S: Sequence>(_ ports: S) where S.Element == UInt16 {
        self.init()
        for port in ports { insert(port) }
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// Number of ports in the set.
    public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    public func contains(_ port: UInt16) -> Bool {
        words[Int(port) >> 6] & (1 << UInt64(port & 63)) != 0
    }

    /// True when every port of `range` is in the set.
    public func contains(_ range: PortRange) -> Bool {
        intersection(PortSet(ranges: [range])).count == range.count
    }

    public mutating func insert(_ port: UInt16) {
        words[Int(port) >> 6] |= 1 << UInt64(port & 63)
    }

    public mutating func remove(_ port: UInt16) {
        words[Int(port) >> 6] &= ~(1 << UInt64(port & 63))
    }

    public mutating func insert(_ range: PortRange) {
        let lo = Int(range.lower), hi = Int(range.upper)
        let firstWord = lo >> 6, lastWord = hi >> 6
        for w in firstWord...lastWord {
            let from = w == firstWord ? lo & 63 : 0
            let to = w == lastWord ? hi & 63 : 63
            let width = to - from + 1
            let mask: UInt64 = width == 64 ? ~0 : ((1 << UInt64(width)) - 1) << UInt64(from)
            words[w] |= mask
        }
    }

    public func union(_ other: PortSet) -> PortSet { combine(other) { $0 | $1 } }
    public func intersection(_ other: PortSet) -> PortSet { combine(other) { $0 & $1 } }
    public func subtracting(_ other: PortSet) -> PortSet { combine(other) { $0 & ~$1 } }

    public mutating func formUnion(_ other: PortSet) {
        for i in 0..<Self.wordCount { words[i] |= other.words[i] }
    }

    public func isSubset(of other: PortSet) -> Bool {
        zip(words, other.words).allSatisfy { $0 & ~$1 == 0 }
    }

    public func isDisjoint(with other: PortSet) -> Bool {
        zip(words, other.words).allSatisfy { $0 & $1 == 0 }
    }

    private func combine(_ other: PortSet, _ op: (UInt64, UInt64) -> UInt64) -> PortSet {
        var result = PortSet()
        for i in 0..<Self.wordCount { result.words[i] = op(words[i], other.words[i]) }
        return result
    }

    /// The set as sorted, maximal, non-adjacent ranges (`1-3,5` never `1-2,3,5`).
    public var ranges: [PortRange] {
        var result: [PortRange] = []
        var start: Int? = nil
        for w in 0..<Self.wordCount {
            let word = words[w]
            if word == 0 {
                if let s = start { result.append(PortRange(UInt16(s), UInt16(w * 64 - 1))); start = nil }
                continue
            }
            if word == ~0 {
                if start == nil { start = w * 64 }
                continue
            }
            for bit in 0..<64 {
                let set = word & (1 << UInt64(bit)) != 0
                let port = w * 64 + bit
                if set, start == nil { start = port }
                if !set, let s = start { result.append(PortRange(UInt16(s), UInt16(port - 1))); start = nil }
            }
        }
        if let s = start { result.append(PortRange(UInt16(s), 65_535)) }
        return result
    }

    public func makeIterator() -> some IteratorProtocol<UInt16> {
        ranges.lazy.flatMap { UInt16($0.lower)...$0.upper }.makeIterator()
    }

    /// Comma-separated ranges, e.g. `873,1812-1813`; empty string for the empty set.
    public var description: String { ranges.map(\.description).joined(separator: ",") }
}
