/// A poll interval as given on the command line: seconds, with fractions (`0.5`), or with a
/// unit suffix (`500ms`, `2s`). Allowed: 10 ms to 1 day.
public struct Interval: Hashable, Sendable, CustomStringConvertible {
    /// The interval in seconds.
    public let seconds: Double

    public init(seconds: Double) { self.seconds = seconds }

    /// Parses `1`, `0.5`, `500ms`, `2s`; nil for anything else or out of range.
    public init?(parsing text: String) {
        var number = Substring(text)
        var scale = 1.0
        if number.hasSuffix("ms") { number = number.dropLast(2); scale = 0.001 }
        else if number.hasSuffix("s") { number = number.dropLast(1) }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              let value = Double(number), (0.01...86_400).contains(value * scale)
        else { return nil }
        seconds = value * scale
    }

    /// `1s`, `0.5s`, `250ms`.
    public var description: String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
