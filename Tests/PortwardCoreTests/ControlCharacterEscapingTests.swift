import Testing
import PortwardCore

@Suite struct ControlCharacterEscapingTests {
    @Test(arguments: [
        ("sshd", "sshd"),
        ("a\u{1B}[31mZ", "a\\x1b[31mZ"),
        ("x\ny\tz\r", "x\\x0ay\\x09z\\x0d"),
        ("del\u{7F}c1\u{85}", "del\\x7fc1\\x85"),
        ("nul\u{0}", "nul\\x00"),
        ("abc\u{202E}gpj.exe\u{2066}", "abc\\u{202e}gpj.exe\\u{2066}"),
        // Not control characters: kept as they are.
        ("systemd-fsck@dev-disk-by\\x2duuid.service", "systemd-fsck@dev-disk-by\\x2duuid.service"),
        ("\u{FFFD}é名", "\u{FFFD}é名"),
    ])
    func escapes(_ text: String, _ expected: String) {
        #expect(text.escapingControlCharacters == expected)
    }

    @Test func holderDescriptionsAreOneLine() {
        let holder = Holder(pid: 7, command: "evil\n\u{1B}]0;x\u{7}", executablePath: nil, unit: nil, uid: 1000)
        #expect(holder.description == "evil\\x0a\\x1b]0;x\\x07[7]")
    }
}
