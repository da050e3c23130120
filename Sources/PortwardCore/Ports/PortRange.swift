/// A closed range of TCP/UDP/SCTP port numbers, `lower...upper`, host byte order.
///
/// The kernel's port space is 0...65535; declared service ports are 1...65535 (the
/// configuration parser enforces that, not this type).
public struct PortRange: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let lower: UInt16
    public let upper: UInt16

    /// Creates `lower...upper`. Precondition: `lower <= upper`.
    public init(_ lower: UInt16, _ upper: UInt16) {
        precondition(lower <= upper, "reversed port range \(lower)-\(upper)")
        self.lower = lower
        self.upper = upper
    }

    /// A range holding one port.
    public init(_ port: UInt16) { self.init(port, port) }

    /// Number of ports in the range (1...65536).
    public var count: Int { Int(upper) - Int(lower) + 1 }

    public func contains(_ port: UInt16) -> Bool { lower <= port && port <= upper }

    /// `N` for one port, `A-B` otherwise: the kernel's own notation.
    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }

    public static func < (a: PortRange, b: PortRange) -> Bool {
        (a.lower, a.upper) < (b.lower, b.upper)
    }
}
