/// Shell-style name patterns for `ip netns` names, with the rules of `fnmatch(3)` without
/// flags (what `sh` uses for a single path component):
/// - `*` any run of characters (also empty), `?` one character;
/// - `[abc]`, `[a-z]`, `[!a-z]` (or `[^...]`) one character in (not in) the set; a `]` right
///   after `[` or `[!` is literal; a `[` without a closing `]` matches itself;
/// - `\c` matches `c` literally.
/// Characters are Unicode scalars. Matching is iterative (no recursion), O(pattern × name).
public enum NetnsGlob {
    /// True when `pattern` contains a wildcard (`*`, `?` or `[`): a plain name can be looked
    /// up directly.
    public static func hasWildcard(_ pattern: String) -> Bool {
        pattern.unicodeScalars.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    /// True when `name` matches `pattern` as a whole.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.unicodeScalars), s = Array(name.unicodeScalars)
        var pi = 0, si = 0
        // Backtracking point: the position after the last `*`, and the name position it
        // currently absorbs up to.
        var starP = -1, starS = 0
        while si < s.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    starP = pi + 1
                    starS = si
                    pi += 1
                    continue
                case "?":
                    pi += 1; si += 1
                    continue
                case "[":
                    if let (matched, next) = bracket(p, at: pi, s[si]) {
                        if matched { pi = next; si += 1; continue }
                    } else if s[si] == "[" {
                        pi += 1; si += 1
                        continue
                    }
                case "\\" where pi + 1 < p.count:
                    if p[pi + 1] == s[si] { pi += 2; si += 1; continue }
                default:
                    if p[pi] == s[si] { pi += 1; si += 1; continue }
                }
            }
            // Mismatch: let the last `*` absorb one more character, or fail.
            guard starP >= 0 else { return false }
            starS += 1
            si = starS
            pi = starP
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// The bracket expression starting at `p[start]` (`[`): whether `c` is in it and the
    /// index after its `]`, or nil when it has no closing `]` (then `[` is literal).
    private static func bracket(_ p: [Unicode.Scalar], at start: Int, _ c: Unicode.Scalar) -> (Bool, Int)? {
        var i = start + 1
        var negated = false
        if i < p.count, p[i] == "!" || p[i] == "^" { negated = true; i += 1 }
        var matched = false
        var first = true
        while i < p.count {
            if p[i] == "]" && !first { return (matched != negated, i + 1) }
            first = false
            var low = p[i]
            if low == "\\", i + 1 < p.count { i += 1; low = p[i] }
            var high = low
            if i + 2 < p.count, p[i + 1] == "-", p[i + 2] != "]" {
                high = p[i + 2]
                if high == "\\", i + 3 < p.count { i += 1; high = p[i + 2] }
                i += 3
            } else {
                i += 1
            }
            if low.value <= c.value && c.value <= high.value { matched = true }
        }
        return nil
    }
}
