import PortwardCore
import Testing

@Suite struct SocketRecordTests {
    static func record(_ transport: TransportProtocol, _ state: SocketRecord.State,
                       remotePort: UInt16 = 0, family: SocketRecord.Family = .ipv4) -> SocketRecord {
        SocketRecord(transport: transport, family: family,
                     localAddress: family == .ipv4 ? "127.0.0.1" : "::",
                     localPort: 1812, remoteAddress: family == .ipv4 ? "10.0.0.2" : "::1",
                     remotePort: remotePort, state: state, uid: 0, inode: 1)
    }

    // (socket, isListening, isConnected, description)
    static let cases: [(SocketRecord, Bool, Bool, String)] = [
        (record(.tcp, .listen), true, false, "tcp 127.0.0.1:1812 LISTEN"),
        (record(.tcp, .established, remotePort: 80), false, true,
         "tcp 127.0.0.1:1812->10.0.0.2:80 ESTABLISHED"),
        (record(.tcp, .timeWait, remotePort: 80), false, true,
         "tcp 127.0.0.1:1812->10.0.0.2:80 TIME_WAIT"),
        (record(.tcp, .synSent, remotePort: 80), false, true,
         "tcp 127.0.0.1:1812->10.0.0.2:80 SYN_SENT"),
        (record(.tcp, .close), false, false, "tcp 127.0.0.1:1812 CLOSE"),  // bound, not listening
        (record(.udp, .close), true, false, "udp 127.0.0.1:1812 CLOSE"),
        (record(.udp, .established, remotePort: 53), false, true,
         "udp 127.0.0.1:1812->10.0.0.2:53 ESTABLISHED"),
        (record(.udp, .close, family: .ipv6), true, false, "udp [::]:1812 CLOSE"),
        (record(.sctp, .listen), true, false, "sctp 127.0.0.1:1812 LISTEN"),
        (record(.sctp, .established, remotePort: 9), false, true,
         "sctp 127.0.0.1:1812->10.0.0.2:9 ESTABLISHED"),
        (record(.tcp, SocketRecord.State(rawValue: 99)), false, false, "tcp 127.0.0.1:1812 STATE_99"),
    ]

    @Test(arguments: cases)
    func listeningConnectedAndDescription(socket: SocketRecord, listening: Bool, connected: Bool,
                                          text: String) {
        #expect(socket.isListening == listening)
        #expect(socket.isConnected == connected)
        #expect(socket.description == text)
    }

    @Test func kernelStateNumbers() {
        #expect(SocketRecord.State.established.rawValue == 1)
        #expect(SocketRecord.State.timeWait.rawValue == 6)
        #expect(SocketRecord.State.close.rawValue == 7)
        #expect(SocketRecord.State.listen.rawValue == 10)
        #expect(SocketRecord.State.newSynReceived.rawValue == 12)
    }

    @Test func heldSocketDescription() {
        let held = HeldSocket(socket: Self.record(.tcp, .listen), holders: [
            Holder(pid: 812, command: "sshd", executablePath: "/usr/sbin/sshd",
                   unit: "ssh.service", uid: 0),
            Holder(pid: 900, command: "sshd", executablePath: nil, unit: nil, uid: 0),
        ])
        #expect(held.description == "tcp 127.0.0.1:1812 LISTEN sshd[812] (ssh.service) sshd[900]")
    }
}
