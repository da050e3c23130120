import PortwardBPF
import PortwardCore
@testable import PortwardLinux
import Testing

/// The byte layouts shared with guard.bpf.c, and the object the build embedded.
@Suite struct GuardLayoutTests {
    @Test func keyLayoutMatchesStructGuardKey() {
        let key = GuardKey(netnsCookie: 0x0102_0304_0506_0708, transport: .udp, port: 0x1F41)
        // u64 cookie, u16 port, u8 protocol, 5 zero bytes: host (little-endian) order.
        #expect(key.bytes == [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x41, 0x1F, 17, 0, 0, 0, 0, 0])
        #expect(GuardKey(bytes: key.bytes) == key)
        #expect(GuardKey(netnsCookie: 1, transport: .tcp, port: 1).bytes[10] == 6)
        #expect(GuardKey(netnsCookie: 1, transport: .sctp, port: 1).bytes[10] == 132)
        var unknown = key.bytes
        unknown[10] = 1   // ICMP: not a key portward writes
        #expect(GuardKey(bytes: unknown) == nil)
        #expect(GuardKey(bytes: [0, 1]) == nil)
    }

    @Test func ownerLayoutMatchesStructGuardOwner() {
        let both = GuardOwner(cgroupID: 0x1234, uid: 1000, reportOnly: false)
        #expect(both.bytes == [0x34, 0x12, 0, 0, 0, 0, 0, 0, 0xE8, 0x03, 0, 0, 0x3, 0, 0, 0])
        #expect(GuardOwner(bytes: both.bytes) == both)
        let uidOnly = GuardOwner(uid: 0, reportOnly: true)
        #expect(uidOnly.bytes.suffix(4) == [0x6, 0, 0, 0], "flags: uid | report-only")
        #expect(GuardOwner(bytes: uidOnly.bytes) == uidOnly, "uid 0 is an owner, not 'unset'")
        let anyone = GuardOwner()
        #expect(anyone.bytes == [UInt8](repeating: 0, count: 16))
        #expect(anyone.description == "anyone")
    }

    @Test func eventLayoutMatchesStructGuardEvent() {
        var raw = [UInt8](repeating: 0, count: 48)
        raw[0] = 9                                   // netns cookie 9
        raw[8] = 0x2A                                // cgroup 42
        raw[16] = 0x39; raw[17] = 0x30               // pid 12345
        raw[20] = 0xE9; raw[21] = 0x03               // uid 1001
        raw[24] = 0x69; raw[25] = 0x03               // port 873
        raw[26] = 6                                  // tcp
        raw[27] = 6                                  // bind6
        raw[28] = 0x4                                // report-only
        for (i, c) in "rpc.statd".utf8.enumerated() { raw[32 + i] = c }
        let event = raw.withUnsafeBytes { GuardDenial(bytes: $0) }
        #expect(event == GuardDenial(key: GuardKey(netnsCookie: 9, transport: .tcp, port: 873), family: 6,
                                     pid: 12345, uid: 1001, cgroupID: 42, command: "rpc.statd", allowed: true))
        #expect(raw.prefix(40).withUnsafeBytes { GuardDenial(bytes: $0) } == nil, "short record")
        for i in 32..<48 { raw[i] = 0 }
        #expect(raw.withUnsafeBytes { GuardDenial(bytes: $0) }?.command == nil, "a build without bpf_get_current_comm() sends no name")
    }

    @Test func theBuildEmbeddedABPFObject() {
        let object = PortwardBPFObjects.ownerGuard
        #expect(object.count > 1000)
        #expect(Array(object.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46], "ELF magic")
        #expect(object[4] == 2, "ELFCLASS64")
        // e_machine (offset 18, little-endian on x86-64/arm64 builds): EM_BPF = 247.
        #expect(UInt16(object[18]) | UInt16(object[19]) << 8 == 247)
        let text = String(decoding: object, as: UTF8.self)
        for name in ["cgroup/bind4", "cgroup/bind6", "guard_owners", "guard_stats", "guard_events", "portward_bind4"] {
            #expect(text.contains(name), "\(name) in the object")
        }
    }
}
