import Glibc
import PortwardCore
import SystemPackage

/// Reads portward's configuration from disk (portward.conf(5)): the main file
/// `/etc/portward/ports.conf`, then the drop-ins of `ConfigSearchPath.dropInDirectories`
/// resolved with systemd's rules (`DropIn.resolve`), every path under `root` (`--root`).
///
/// Never throws: a missing main file or drop-in directory is normal; anything else that
/// cannot be read (a directory or FIFO named `*.conf`, a dangling symlink, EACCES, a file
/// over `maximumFileSize`) becomes an error diagnostic naming the real path read.
///
/// Service names are resolved with `NetworkServices` by default, which is NOT re-rooted:
/// it always consults this host's /etc/services.
public struct ConfigLoader: Sendable {
    /// Alternative root directory; `/` for the running system.
    public let root: String
    private let resolveService: @Sendable (String, TransportProtocol) -> UInt16?

    /// Largest configuration file read (16 MiB); a larger one is an error.
    public static let maximumFileSize = 16 << 20

    public init(root: String = "/",
                resolveService: @escaping @Sendable (String, TransportProtocol) -> UInt16? = NetworkServices.port(named:protocol:)) {
        self.root = root
        self.resolveService = resolveService
    }

    /// A configuration file that was read.
    public struct File: Hashable, Sendable {
        /// The real path read, with the root prefix.
        public let path: String
        /// The contents as read.
        public let bytes: [UInt8]
        /// The contents as text (invalid UTF-8 replaced by U+FFFD).
        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// The outcome of `load()`.
    public struct Result: Sendable {
        /// The merged entries of every file that could be read that apply to the daemon's
        /// own namespace (`Configuration.hostScoped`: no `netns=`, `host` or `all`): what
        /// `apply`, `status` and the daemon plan for the host.
        public var configuration: Configuration { hostConfiguration }
        /// Every merged entry, whatever its scope (`check`, the CNI plugin, the daemon's
        /// namespace follower).
        public let allEntries: Configuration
        private let hostConfiguration: Configuration
        /// I/O errors, then each file's parse errors, then cross-file errors with notes.
        public let diagnostics: [Diagnostic]
        /// The I/O errors alone: files and directories that could not be listed or read
        /// (what `cat-config` cannot show).
        public let readErrors: [Diagnostic]
        /// The files read, in reading order (main file first when present and not a mask).
        public let files: [File]
        /// The drop-in resolution (with root-prefixed paths): effective files, masks and
        /// shadowed files.
        public let dropIns: DropIn.Resolution

        public init(allEntries: Configuration, diagnostics: [Diagnostic], readErrors: [Diagnostic],
                    files: [File], dropIns: DropIn.Resolution) {
            self.allEntries = allEntries
            self.hostConfiguration = allEntries.hostScoped
            self.diagnostics = diagnostics
            self.readErrors = readErrors
            self.files = files
            self.dropIns = dropIns
        }

        /// True when a diagnostic is an error: the configuration must not be applied.
        public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

        /// The files as `systemd-sysctl --cat-config` prints them: `# PATH` then the
        /// contents, files separated by an empty line. Then, after an empty line, one
        /// comment per mask and per shadowed drop-in:
        ///
        ///     # /etc/portward/ports.d/a.conf: mask
        ///     # /usr/lib/portward/ports.d/a.conf: masked by /etc/portward/ports.d/a.conf
        ///     # /usr/lib/portward/ports.d/b.conf: overridden by /etc/portward/ports.d/b.conf
        public var catConfig: String {
            var out = ""
            for (i, file) in files.enumerated() {
                if i > 0 { out += "\n" }
                out += "# \(file.path.escapingControlCharacters)\n"
                let text = file.text
                out += text
                if !text.isEmpty, !text.hasSuffix("\n") { out += "\n" }
            }
            var notes = dropIns.masks.map { "# \($0.path.escapingControlCharacters): mask\n" }
            notes += dropIns.shadowed.map {
                "# \($0.candidate.path.escapingControlCharacters): \($0.by.isMask ? "masked" : "overridden") by \($0.by.path.escapingControlCharacters)\n"
            }
            if !notes.isEmpty {
                if !out.isEmpty { out += "\n" }
                out += notes.joined()
            }
            return out
        }
    }

    /// Lists, reads, parses and merges the configuration.
    public func load() -> Result {
        var diagnostics: [Diagnostic] = []
        var paths: [String] = []

        let main = RootedPath.join(root, ConfigSearchPath.mainFile)
        var status = stat()
        if lstat(main, &status) == 0 {
            if !Self.isMask(main) { paths.append(main) }
        } else if errno != ENOENT {
            diagnostics.append(.error("cannot read \(main): \(Self.describe(errno))"))
        }

        let directories = ConfigSearchPath.dropInDirectories.map { RootedPath.join(root, $0) }
        var candidates: [DropIn.Candidate] = []
        for directory in directories {
            switch Self.list(directory) {
            case .success(let listing):
                for name in listing.names where DropIn.isConfigName(name) {
                    let path = ConfigSearchPath.join(directory, name)
                    candidates.append(DropIn.Candidate(directory: directory, name: name, isMask: Self.isMask(path)))
                }
                // Paths are Strings here: such a name cannot be opened (nor shown) faithfully.
                for name in listing.invalidNames where DropIn.isConfigName(name) {
                    diagnostics.append(.error("cannot read \(ConfigSearchPath.join(directory, name)): the file name is not valid UTF-8; rename the file"))
                }
            case .failure(let failure):
                diagnostics.append(.error("cannot read directory \(directory): \(failure.reason)"))
            }
        }
        let dropIns = DropIn.resolve(candidates, directories: directories)
        paths += dropIns.effective.map(\.path)

        var files: [File] = []
        var parsed: [ConfigParser.Result] = []
        for path in paths {
            switch Self.read(path) {
            case .success(let bytes):
                files.append(File(path: path, bytes: bytes))
                parsed.append(ConfigParser.parse(bytes, file: path, resolveService: resolveService))
            case .failure(let failure):
                diagnostics.append(.error("cannot read \(path): \(failure.reason)"))
            }
        }
        let merged = Configuration.merge(parsed)
        return Result(allEntries: merged.configuration, diagnostics: diagnostics + merged.diagnostics,
                      readErrors: diagnostics, files: files, dropIns: dropIns)
    }

    /// An I/O failure, as a message.
    struct Failure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The names in `directory` (without `.` and `..`), and apart the names that are not
    /// valid UTF-8 (bytes >= 0x80 of them written `\xNN`); empty when it does not exist.
    static func list(_ directory: String) -> Swift.Result<(names: [String], invalidNames: [String]), Failure> {
        guard let dir = opendir(directory) else {
            return errno == ENOENT ? .success(([], [])) : .failure(Failure(describe(errno)))
        }
        defer { closedir(dir) }
        var names: [String] = [], invalid: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { return .failure(Failure(describe(errno))) }
                break
            }
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if let name = String(validating: bytes, as: UTF8.self) {
                if name != ".", name != ".." { names.append(name) }
            } else {
                invalid.append(bytes.map { $0 < 0x80 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined().escapingControlCharacters)
            }
        }
        return .success((names, invalid))
    }

    /// systemd's mask test (`null_or_empty()`): a symlink to /dev/null, or (following
    /// symlinks) an empty regular file or a character device.
    static func isMask(_ path: String) -> Bool {
        if symlinkTarget(path) == "/dev/null" { return true }
        var status = stat()
        guard stat(path, &status) == 0 else { return false }
        let type = status.st_mode & S_IFMT
        return (type == S_IFREG && status.st_size == 0) || type == S_IFCHR
    }

    /// The target of symlink `path`, or nil when it is not a symlink.
    static func symlinkTarget(_ path: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX))
        let n = buffer.withUnsafeMutableBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { readlink(path, $0.baseAddress!, $0.count) }
        }
        return n < 0 ? nil : String(decoding: buffer[..<n], as: UTF8.self)
    }

    /// The contents of regular file `path` (following symlinks). Opened non-blocking so a
    /// FIFO cannot hang the boot.
    static func read(_ path: String) -> Swift.Result<[UInt8], Failure> {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec, .nonBlocking])
        } catch {
            let code = (error as? Errno)?.rawValue ?? EIO
            if code == ENOENT, let target = symlinkTarget(path) {
                return .failure(Failure("dangling symbolic link to \(target)"))
            }
            return .failure(Failure(describe(code)))
        }
        defer { try? fd.close() }
        var status = stat()
        guard fstat(fd.rawValue, &status) == 0 else { return .failure(Failure(describe(errno))) }
        switch status.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .failure(Failure("is a directory"))
        default: return .failure(Failure("not a regular file"))
        }
        guard status.st_size <= maximumFileSize else {
            return .failure(Failure("file too large (\(status.st_size) bytes; at most \(maximumFileSize))"))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { try fd.read(into: $0, retryOnInterrupt: true) }
            } catch {
                return .failure(Failure(describe((error as? Errno)?.rawValue ?? EIO)))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
            if bytes.count > maximumFileSize {
                return .failure(Failure("file too large (more than \(maximumFileSize) bytes)"))
            }
        }
        return .success(bytes)
    }

    /// strerror(3) text, e.g. `Permission denied`.
    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
