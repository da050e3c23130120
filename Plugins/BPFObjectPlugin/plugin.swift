import Foundation
import PackagePlugin

/// Builds the target's BPF programs (`*.bpf.c` in the target's directory, excluded from the
/// target's own sources) with clang `-target bpf`, and embeds each object in a generated
/// Swift source (`<name>.bpf.swift`) so that the binary carries its programs and libbpf
/// opens them from memory.
///
/// clang: the toolchain's own (it has the bpf target), found through the plugin context
/// (toolchain directory first, then PATH). `PORTWARD_BPF_CLANG` in the environment of
/// `swift build` overrides it. Headers: `<linux/bpf.h>` from the kernel UAPI headers
/// (linux-libc-dev), `<bpf/bpf_helpers.h>` from libbpf-dev; `<asm/types.h>` lives in the
/// multiarch include directory, which is added when it exists.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        // The target's default directory (Target.directoryURL needs tools-version 6.1; the
        // package is at 6.0, and Path.string is deprecated).
        let directory = context.package.directoryURL.appendingPathComponent("Sources")
            .appendingPathComponent(target.name)
        let sources = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".bpf.c") }.sorted()
        let headers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".h") }.map { directory.appendingPathComponent($0) }
        let clang: URL
        if let override = ProcessInfo.processInfo.environment["PORTWARD_BPF_CLANG"], !override.isEmpty {
            clang = URL(fileURLWithPath: override)
        } else {
            clang = try context.tool(named: "clang").url
        }
        let embed = try context.tool(named: "portward-bpf-embed").url
        var includes: [String] = []
        for dir in multiarchIncludeDirectories() where FileManager.default.fileExists(atPath: dir) {
            includes += ["-I", dir]
        }
        var commands: [Command] = []
        for source in sources {
            let name = String(source.dropLast(".bpf.c".count))
            let input = directory.appendingPathComponent(source)
            let object = context.pluginWorkDirectoryURL.appendingPathComponent("\(name).bpf.o")
            let swift = context.pluginWorkDirectoryURL.appendingPathComponent("\(name).bpf.swift")
            // One command: portward-bpf-embed runs clang, then embeds the object. The object
            // is not declared as an output: SwiftPM would make an undeclared-type output a
            // resource of the target (a resource bundle and Foundation's Bundle.module).
            commands.append(.buildCommand(
                displayName: "Compiling and embedding BPF program \(source)",
                executable: embed,
                arguments: [swift.path, name, object.path, "--", clang.path,
                            "-O2", "-g", "-target", "bpf", "-Wall",
                            // Reproducible: no build directory in the object's debug info.
                            "-fdebug-prefix-map=\(directory.path)=.",
                            "-fdebug-compilation-dir=."] + includes
                    + ["-c", input.path, "-o", object.path],
                inputFiles: [input] + headers,
                outputFiles: [swift]))
        }
        return commands
    }

    /// Debian's multiarch include directory for the build machine (where `<asm/types.h>` is).
    private func multiarchIncludeDirectories() -> [String] {
        #if arch(x86_64)
        return ["/usr/include/x86_64-linux-gnu"]
        #elseif arch(arm64)
        return ["/usr/include/aarch64-linux-gnu"]
        #elseif arch(riscv64)
        return ["/usr/include/riscv64-linux-gnu"]
        #elseif arch(powerpc64le)
        return ["/usr/include/powerpc64le-linux-gnu"]
        #elseif arch(s390x)
        return ["/usr/include/s390x-linux-gnu"]
        #else
        return []
        #endif
    }
}
