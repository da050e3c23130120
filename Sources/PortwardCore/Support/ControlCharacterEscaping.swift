extension String {
    /// This text with every control character (U+0000-U+001F, U+007F-U+009F) written as
    /// `\xNN`, and the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069)
    /// as `\u{NNNN}`, so that names taken from other processes (a `/proc/PID/comm` that any
    /// user can set with prctl(PR_SET_NAME), a unit name, an executable path) print on one
    /// line, cannot send terminal escape sequences and cannot reorder what follows them.
    /// Everything else is left as it is (backslashes too: unit names use `\x2d` escapes of
    /// their own).
    public var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: Self.isControl) else { return self }
        var out = ""
        for scalar in unicodeScalars {
            if Self.isControl(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: false)
                out += scalar.value > 0xFF ? "\\u{\(hex)}" : "\\x" + (hex.count < 2 ? "0" + hex : hex)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }
}
