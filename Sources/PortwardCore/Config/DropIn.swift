/// Drop-in resolution with systemd's rules (src/basic/conf-files.c,
/// `conf_files_list_strv` with CONF_FILES_FILTER_MASKED), over a directory listing the I/O
/// layer provides:
/// - only names ending in `.conf` and not starting with `.` are considered;
/// - for one name, the candidate from the earliest directory (highest precedence) wins and
///   shadows the same name in later directories;
/// - a winning mask (an empty file or a symlink to /dev/null) hides the name entirely;
/// - the effective files are read in lexical (byte-wise, like strcmp) order of their names,
///   whatever their directories.
public enum DropIn {
    /// A directory entry that may be a drop-in.
    public struct Candidate: Hashable, Sendable {
        /// The directory as read (with any `--root` prefix), e.g. `/etc/portward/ports.d`.
        public let directory: String
        /// The file name, e.g. `50-radius.conf`.
        public let name: String
        /// True for an empty regular file or a symlink to /dev/null (any character device,
        /// as systemd's `null_or_empty()`).
        public let isMask: Bool

        public init(directory: String, name: String, isMask: Bool) {
            self.directory = directory
            self.name = name
            self.isMask = isMask
        }

        /// `directory/name`.
        public var path: String { ConfigSearchPath.join(directory, name) }
    }

    /// A candidate that lost to the same name in a directory of higher precedence.
    public struct Shadowed: Hashable, Sendable {
        public let candidate: Candidate
        /// The winner: a file (override) or a mask.
        public let by: Candidate

        public init(candidate: Candidate, by: Candidate) {
            self.candidate = candidate
            self.by = by
        }
    }

    /// The outcome of `resolve`.
    public struct Resolution: Hashable, Sendable {
        /// The files to read, in reading order (lexical by name).
        public let effective: [Candidate]
        /// The winning masks, lexical by name.
        public let masks: [Candidate]
        /// Every candidate that lost, lexical by name then by directory precedence.
        public let shadowed: [Shadowed]

        public init(effective: [Candidate] = [], masks: [Candidate] = [], shadowed: [Shadowed] = []) {
            self.effective = effective
            self.masks = masks
            self.shadowed = shadowed
        }
    }

    /// Whether `name` is considered at all: ends in `.conf`, is more than that suffix, and
    /// is not hidden (systemd skips names starting with `.`).
    public static func isConfigName(_ name: String) -> Bool {
        name.utf8.count > ConfigSearchPath.dropInSuffix.utf8.count
            && name.hasSuffix(ConfigSearchPath.dropInSuffix) && !name.hasPrefix(".")
    }

    /// Resolves `candidates` (any order; names failing `isConfigName` are ignored) against
    /// `directories`, highest precedence first. A candidate whose directory is not listed
    /// ranks below all listed ones.
    public static func resolve(_ candidates: [Candidate], directories: [String]) -> Resolution {
        func rank(_ c: Candidate) -> Int { directories.firstIndex(of: c.directory) ?? directories.count }
        let considered = candidates.filter { isConfigName($0.name) }
        let sorted = considered.enumerated().sorted { a, b in
            if a.element.name != b.element.name { return lexicallyPrecedes(a.element.name, b.element.name) }
            let (ra, rb) = (rank(a.element), rank(b.element))
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)

        var effective: [Candidate] = []
        var masks: [Candidate] = []
        var shadowed: [Shadowed] = []
        var winner: Candidate? = nil
        for candidate in sorted {
            if let w = winner, w.name == candidate.name {
                shadowed.append(Shadowed(candidate: candidate, by: w))
                continue
            }
            winner = candidate
            if candidate.isMask { masks.append(candidate) } else { effective.append(candidate) }
        }
        return Resolution(effective: effective, masks: masks, shadowed: shadowed)
    }

    /// strcmp order on the UTF-8 bytes (Swift's `<` on String compares Unicode scalars
    /// after normalization, which can differ).
    public static func lexicallyPrecedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
