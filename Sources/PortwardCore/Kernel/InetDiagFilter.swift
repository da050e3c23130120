/// An in-kernel sock_diag filter matching sockets whose source (local) port lies in a set of
/// port ranges: the payload of the `INET_DIAG_REQ_BYTECODE` attribute of an
/// `inet_diag_req_v2` dump request (linux/inet_diag.h).
///
/// The program is a sequence of `struct inet_diag_bc_op { __u8 code; __u8 yes; __u16 no; }`
/// in host byte order. A port comparison (`S_GE`, `S_LE`) is followed by an operand op whose
/// `no` field holds the port (host byte order). The kernel (`inet_diag_bc_run`,
/// net/ipv4/inet_diag.c) moves `yes` bytes forward when an op holds, `no` bytes when it does
/// not (`JMP` never holds), and accepts a socket when it lands exactly on the end of the
/// program; landing past the end rejects it.
///
/// Layout: a binary search over the ranges' lower bounds (ops laid out in pre-order, the
/// "port >= pivot" branch falling through, the other reached by a forward `no` jump), with a
/// leaf per range `[S_GE lower]`(only for the first range)`[S_LE upper][JMP -> end]`.
/// A socket costs about log2(ranges) + 3 ops, against up to 2 per range for the flat
/// chain that iproute2's `ss` emits (the daemon filters every poll, on hosts with tens of
/// thousands of sockets). Like ss's, every `no` target is an op on the chain of `yes`
/// steps, as the kernel's validator (`inet_diag_bc_audit`, `valid_cc`) demands; a
/// rejecting jump goes 4 bytes past the end, the farthest it allows. Size: 20 bytes per
/// range.
///
/// The attribute length is a `__u16` including its 4-byte header, so the program is at most
/// `maximumBytecodeLength` bytes, i.e. `maximumRangeCount` (3,276) ranges. Past that, the
/// ranges separated by the smallest gaps are merged ("coalesced") until they fit: the filter
/// then also matches the ports in those gaps (`isExact` is false) and the caller must
/// check `SocketRecord.localPort` itself. Coalescing keeps the dump cheap where dropping the
/// filter would copy every socket of the host to user space each poll.
public struct InetDiagFilter: Hashable, Sendable {
    /// `INET_DIAG_BC_*` op codes used here (linux/inet_diag.h).
    public enum Opcode: UInt8, Sendable {
        case nop = 0
        case jump = 1
        case sourcePortAtLeast = 2
        case sourcePortAtMost = 3
    }

    /// Bytes of program per range.
    public static let bytesPerRange = 20
    /// Largest program, in bytes: 65,535 (u16 `nla_len`) minus the 4-byte attribute header,
    /// rounded down to the program's 4-byte granularity.
    public static let maximumBytecodeLength = 65_528
    /// Most ranges encoded without coalescing: 3,276.
    public static let maximumRangeCount = maximumBytecodeLength / bytesPerRange

    /// The ranges the program matches: sorted, disjoint, non-adjacent, possibly coalesced.
    public let ranges: [PortRange]
    /// False when ranges had to be coalesced, so the program also matches some ports not
    /// asked for.
    public let isExact: Bool
    /// The program, ready to be the payload of `INET_DIAG_REQ_BYTECODE`. A program that
    /// rejects every socket (`[JMP yes=4 no=8]`) when no range is given.
    public let bytecode: [UInt8]

    /// Builds the filter for the union of `sourcePorts` (overlapping and adjacent ranges are
    /// merged first).
    ///
    /// - Parameter maximumRangeCount: at most this many ranges are encoded (clamped to
    ///   1...`InetDiagFilter.maximumRangeCount`); more are coalesced.
    public init<S: Sequence>(sourcePorts: S, maximumRangeCount: Int = InetDiagFilter.maximumRangeCount)
    where S.Element == PortRange {
        self.init(sourcePorts: PortSet(ranges: sourcePorts), maximumRangeCount: maximumRangeCount)
    }

    /// Builds the filter for the ports of `sourcePorts`.
    public init(sourcePorts: PortSet, maximumRangeCount: Int = InetDiagFilter.maximumRangeCount) {
        let limit = min(max(maximumRangeCount, 1), Self.maximumRangeCount)
        let exact = sourcePorts.ranges
        let ranges = exact.count > limit ? Self.coalesce(exact, to: limit) : exact
        self.ranges = ranges
        self.isExact = ranges.count == exact.count
        self.bytecode = Self.assemble(ranges)
    }

    /// True when `port` is in `ranges`, i.e. when the program accepts a socket with that
    /// source port.
    public func matches(_ port: UInt16) -> Bool {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upper < port { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].contains(port)
    }

    /// Merges the ranges across the `ranges.count - limit` smallest gaps (earliest first on
    /// ties), so that `limit` ranges remain.
    static func coalesce(_ ranges: [PortRange], to limit: Int) -> [PortRange] {
        let gaps = (0..<(ranges.count - 1)).map { i in
            (size: Int(ranges[i + 1].lower) - Int(ranges[i].upper), index: i)
        }
        let closing = gaps.sorted { ($0.size, $0.index) < ($1.size, $1.index) }
            .prefix(ranges.count - limit)
        var merged = [Bool](repeating: false, count: ranges.count)
        for gap in closing { merged[gap.index] = true }
        var result: [PortRange] = []
        var start = ranges[0].lower
        for i in ranges.indices where !(i < ranges.count - 1 && merged[i]) {
            result.append(PortRange(start, ranges[i].upper))
            if i + 1 < ranges.count { start = ranges[i + 1].lower }
        }
        return result
    }

    private enum Target { case accept, reject, position(Int) }
    private struct Op {
        var code: Opcode
        var no: Target
        var operand: UInt16?
        var position: Int
        var size: Int { operand == nil ? 4 : 8 }
    }

    private static func assemble(_ ranges: [PortRange]) -> [UInt8] {
        var ops: [Op] = []
        var position = 0
        func emit(_ code: Opcode, _ operand: UInt16?, no: Target) -> Int {
            ops.append(Op(code: code, no: no, operand: operand, position: position))
            position += ops[ops.count - 1].size
            return ops.count - 1
        }
        // Subtree for ranges[first...last]; `lowerKnown`: port >= ranges[first].lower holds.
        func tree(_ first: Int, _ last: Int, lowerKnown: Bool) {
            if first == last {
                if !lowerKnown { _ = emit(.sourcePortAtLeast, ranges[first].lower, no: .reject) }
                _ = emit(.sourcePortAtMost, ranges[first].upper, no: .reject)
                _ = emit(.jump, nil, no: .accept)
                return
            }
            let pivot = (first + last + 1) / 2
            let node = emit(.sourcePortAtLeast, ranges[pivot].lower, no: .reject)
            tree(pivot, last, lowerKnown: true)
            ops[node].no = .position(position)
            tree(first, pivot - 1, lowerKnown: lowerKnown)
        }
        if ranges.isEmpty {
            _ = emit(.jump, nil, no: .reject)
        } else {
            tree(0, ranges.count - 1, lowerKnown: false)
        }

        let end = position
        var bytes: [UInt8] = []
        bytes.reserveCapacity(end)
        func append(code: UInt8, yes: UInt8, no: Int) {
            bytes.append(code)
            bytes.append(yes)
            withUnsafeBytes(of: UInt16(no)) { bytes.append(contentsOf: $0) }
        }
        for op in ops {
            let target: Int
            switch op.no {
            case .accept: target = end
            case .reject: target = end + 4
            case .position(let p): target = p
            }
            append(code: op.code.rawValue, yes: UInt8(op.size), no: target - op.position)
            if let port = op.operand { append(code: Opcode.nop.rawValue, yes: 0, no: Int(port)) }
        }
        return bytes
    }
}
