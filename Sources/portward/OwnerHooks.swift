import ArgumentParser
import PortwardAgent

extension Portward {
    struct RegisterOwner: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "register-owner",
            abstract: "Register the calling unit's cgroup as the owner of its declared ports (ExecStartPre= hook).",
            discussion: """
                Run by the drop-in portward-generator writes for every unit: owner \
                (ExecStartPre=-+/usr/sbin/portward register-owner %n): in the unit's new cgroup, \
                before its own processes start, it records the cgroup's id in \
                /run/portward/owners/UNIT and points the owner guard's entries for the unit's \
                ports at it, so the owner can bind them and no one else can. Where the guard is \
                unavailable and the daemon holds the unit's ports itself (the hold fallback), it \
                asks the daemon on /run/portward/hold.sock to release them and returns once \
                they are closed (at most 5 s; without a daemon at once). Run from another \
                unit's cgroup (the drop-in of the socket unit that activates UNIT), it \
                registers that cgroup, where systemd creates the listeners, unless UNIT runs. \
                Exit status 1 when the cgroup cannot be known or recorded (the "-" keeps the \
                unit starting).
                """)

        @OptionGroup var options: CommonOptions

        @Argument(help: "The unit's name (%n).")
        var unit: String

        func run() throws {
            try exiting { () throws(ExitStatus) in try RegisterOwnerCommand(context: options.context, unit: unit).run() }
        }
    }

    struct OwnerStopped: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "owner-stopped",
            abstract: "Have the stopped unit's declared ports held again (ExecStopPost= hook).",
            discussion: """
                Run by the drop-in portward-generator writes for every unit: owner \
                (ExecStopPost=-+/usr/sbin/portward owner-stopped %n), after the unit's processes \
                are gone: where the guard is unavailable, asks the daemon on \
                /run/portward/hold.sock to hold the unit's ports again until its next start \
                (the hold fallback), and waits for its answer (at most 5 s). Does nothing \
                without a daemon. Exit status 0.
                """)

        @OptionGroup var options: CommonOptions

        @Argument(help: "The unit's name (%n).")
        var unit: String

        func run() throws {
            OwnerStoppedCommand(context: options.context, unit: unit).run()
        }
    }

    struct Generator: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generator",
            abstract: "The systemd generator: owners' start hooks, and portward.service's netns drop-in.",
            discussion: """
                Installed as /usr/lib/systemd/system-generators/portward-generator (a link to \
                portward: called by that name, portward runs this command); systemd runs it at \
                boot and at every daemon-reload with its output directories. Writes \
                NORMAL_DIR/UNIT.d/50-portward-owner.conf with ExecStartPre=-+/usr/sbin/portward \
                register-owner %n and ExecStopPost=-+/usr/sbin/portward owner-stopped %n for \
                every unit: owner that is a .service, and for its socket unit NAME.socket when \
                there is one (socket activation) NORMAL_DIR/NAME.socket.d/50-portward-owner.conf \
                with ExecStartPre=-+/usr/sbin/portward register-owner NAME.service. When an \
                entry reaches other network \
                namespaces (netns=all or names), also \
                NORMAL_DIR/portward.service.d/50-portward-netns.conf: CAP_SYS_ADMIN, \
                RestrictNamespaces=net and ReadWritePaths=/proc/sys/net, which entering them \
                and writing their key take.
                """)

        @OptionGroup var options: CommonOptions

        @Argument(help: "The generator directories systemd passes: normal, early, late (the drop-ins go to the first).")
        var directories: [String]

        func validate() throws {
            guard let first = directories.first, first.hasPrefix("/") else {
                throw ValidationError("expected the absolute output directory (systemd passes three)")
            }
        }

        func run() throws {
            try exiting { () throws(ExitStatus) in
                try GeneratorCommand(context: options.context, directory: directories[0]).run()
            }
        }
    }
}

extension Portward {
    struct Guard: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "guard",
            abstract: "Manage the owner guard's BPF programs (package removal: --detach).",
            discussion: """
                --detach detaches the owner guard's programs from the cgroup v2 root, removes \
                their pins under /sys/fs/bpf/portward and the owner registry \
                /run/portward/owners: binds to declared ports are no longer refused. Run by the \
                package's removal scripts after the daemon is stopped (a running daemon installs \
                the guard again at its next start or reload). Idempotent; exit status 1 when \
                something attached cannot be detached.
                """)

        @OptionGroup var options: CommonOptions

        @Flag(help: "Detach and unpin the owner guard.")
        var detach = false

        func validate() throws {
            guard detach else { throw ValidationError("nothing to do: give --detach") }
        }

        func run() throws {
            try exiting { () throws(ExitStatus) in try GuardDetachCommand(context: options.context).run() }
        }
    }
}
