# Scenario 8 (issue 5): the Debian package on a clean bookworm without Swift.
# Builds portward_<version>_<arch>.deb with scripts/package-deb (packaging the release
# binary run.sh built, lintian must report no errors), boots the plain cached image
# (nothing of portward bound in; --volatile=overlay keeps the cache unchanged), installs it
# with dpkg -i, and checks: the packaged unit is enabled and active and reserves nothing
# by default; a third-party package's drop-in in /usr/lib/portward/ports.d is reserved
# (dpkg trigger -> reload); an /etc/portward/ports.d drop-in of the same name masks it
# (symlink to /dev/null) and then overrides it; `dpkg --purge portward` leaves nothing of
# portward but the kernel reservation.
# First, on the host (result 8-package-rpm): scripts/package-rpm builds the RPM with
# rpmbuild -bb from packaging/rpm/portward.spec, and rpm -qlp lists the same layout.
# E2E_DEB=/path/to/portward_*.deb tests that package instead of building one.
e2e_begin 8-package
e2e_prepare 08-package

# --- RPM (host only: rpmbuild -bb, rpm -qlp, the scriptlets) ----------------------------
if "$E2E_REPO/scripts/package-rpm" --prebuilt "$E2E_BIN" --out "$B/rpms" >"$B/package-rpm.out" 2>"$B/package-rpm.log"; then
    rpmfile=$(tail -n 1 "$B/package-rpm.out")
    e2e_expect "scripts/package-rpm: rpmbuild -bb builds $(basename "$rpmfile")" test -f "$rpmfile"
    e2e_expect "rpm -qlp lists the package's files" bash -c '
        l=$(rpm -qlp "$1") || exit 1
        for f in /usr/sbin/portward /usr/lib/systemd/system/portward.service /etc/portward/ports.conf \
                 /usr/lib/systemd/system-generators/portward-generator /etc/portward/ports.d /usr/lib/portward/ports.d /usr/share/man/man8/portward.8 \
                 /usr/share/man/man5/portward.conf.5 /usr/share/bash-completion/completions/portward \
                 /usr/share/zsh/site-functions/_portward /usr/share/fish/vendor_completions.d/portward.fish \
                 /usr/libexec/cni/portward /usr/share/doc/portward/status-json.schema.json \
                 /usr/share/doc/portward/metrics.md /usr/share/doc/portward/examples/portward-metrics.conf \
                 /usr/share/doc/portward/examples/portward-alerts.yml; do
            grep -qx "$f" <<<"$l" || { echo "not listed: $f"; exit 1; }
        done' _ "$rpmfile"
    e2e_expect "ports.conf is %config(noreplace)" \
        e2e_eq "$(rpm -qcp "$rpmfile" 2>/dev/null)" /etc/portward/ports.conf
    e2e_expect "the scriptlets preset, disable on erase, never restart; a file trigger reloads" bash -c '
        s=$(rpm -qp --scripts --filetriggers "$1") || exit 1
        grep -q "preset portward.service" <<<"$s" && grep -q "disable --now portward.service" <<<"$s" &&
        grep -q "try-reload-or-restart portward.service" <<<"$s" &&
        ! grep -Eq "(^|[^-])restart portward" <<<"$s" || { echo "$s"; exit 1; }' _ "$rpmfile"
else
    tail -n 30 "$B/package-rpm.log" | sed 's/^/    | /'
    e2e_expect "scripts/package-rpm builds the RPM" false
fi
e2e_result 8-package-rpm

pkgdir=$B/debs
mkdir -p "$pkgdir"
if [[ -n ${E2E_DEB:-} ]]; then
    cp "$E2E_DEB" "$pkgdir/" || { e2e_expect "E2E_DEB=$E2E_DEB exists" false; e2e_result; exit 0; }
    deb=$pkgdir/$(basename "$E2E_DEB")
else
    e2e_log "building the .deb: scripts/package-deb --prebuilt $E2E_BIN"
    if ! "$E2E_REPO/scripts/package-deb" --prebuilt "$E2E_BIN" --out "$pkgdir" >"$B/package-deb.out" 2>"$B/package-deb.log"; then
        tail -n 30 "$B/package-deb.log" | sed 's/^/    | /'
        e2e_expect "scripts/package-deb builds the .deb, lintian reports no errors" false
        e2e_result
        exit 0
    fi
    deb=$(tail -n 1 "$B/package-deb.out")
    e2e_expect "scripts/package-deb builds the .deb, lintian reports no errors" test -f "$deb"
    grep -E '^[EWI]: ' "$B/package-deb.log" | sed 's/^/    lintian /'
fi
debname=$(basename "$deb")
e2e_note "package: $debname"

# On the host: what dpkg-shlibdeps computed, and the binary inside needs no Swift runtime.
e2e_expect "Depends has libc6, libgcc-s1, libstdc++6, libsystemd0, libbpf1 and nothing of Swift" \
    bash -c 'd=$(dpkg-deb -f "$1" Depends); echo "Depends: $d"
             for p in libc6 libgcc-s1 libstdc++6 libsystemd0 libbpf1; do grep -q "\b$p\b" <<<"$d" || exit 1; done
             ! grep -qi swift <<<"$d"' _ "$deb"
e2e_expect "a binary with DT_RELR relocations depends on libc6 (>= 2.36)" \
    bash -c 'x=$(mktemp -d); trap "rm -rf $x" EXIT; dpkg-deb -x "$1" "$x"
             readelf -V "$x/usr/sbin/portward" | grep -q GLIBC_ABI_DT_RELR || exit 0
             grep -q "libc6 (>= 2.36)" <<<"$(dpkg-deb -f "$1" Depends)"' _ "$deb"
e2e_expect "the packaged binary links no libswift*/libFoundation*" \
    bash -c 'x=$(mktemp -d); trap "rm -rf $x" EXIT; dpkg-deb -x "$1" "$x"
             l=$(ldd "$x/usr/sbin/portward") || exit 1
             ! grep -Ei "libswift|libFoundation|libdispatch|not found" <<<"$l" || { echo "$l"; exit 1; }' _ "$deb"

# The third-party package: ships /usr/lib/portward/ports.d/e2e-thirdparty.conf.
tp=$B/e2e-thirdparty
cp -r "$E2E_DIR/fixtures/package/e2e-thirdparty" "$tp"
find "$tp" -type d -exec chmod 0755 {} + && find "$tp" -type f -exec chmod 0644 {} +
dpkg-deb --root-owner-group --build "$tp" "$pkgdir/e2e-thirdparty_1.0_all.deb" >/dev/null ||
    e2e_expect "the e2e-thirdparty fixture package builds" false
cp "$E2E_DIR/fixtures/package/override.conf" "$pkgdir/override.conf"

E2E_BOOT_BARE=1
E2E_BOOT_ARGS=(--bind-ro="$pkgdir:/srv/e2e-package")
if ! e2e_boot; then e2e_expect "container boots" false; e2e_result; exit 0; fi

e2e_expect "the image has no Swift toolchain or runtime" \
    e2e_exec sh -c '! command -v swift && ! ls -d /usr/lib/swift /usr/libexec/swift 2>/dev/null'
e2e_expect "the image has no portward before the install" \
    e2e_exec sh -c '! test -e /usr/sbin/portward && ! test -e /etc/portward'
before=$(e2e_reserved)

# --- install ---------------------------------------------------------------------------
e2e_expect "dpkg -i $debname succeeds" e2e_exec dpkg -i "/srv/e2e-package/$debname"
e2e_expect "the package is installed" \
    e2e_eq "$(e2e_exec dpkg-query -W -f='${Status}' portward)" "install ok installed"
e2e_expect "it ships the expected files" e2e_exec sh -c '
    for f in /usr/sbin/portward /usr/lib/systemd/system/portward.service /etc/portward/ports.conf \
             /usr/lib/systemd/system-generators/portward-generator /usr/share/man/man8/portward.8.gz /usr/share/man/man5/portward.conf.5.gz \
             /usr/share/bash-completion/completions/portward /usr/share/zsh/vendor-completions/_portward \
             /usr/share/fish/vendor_completions.d/portward.fish /usr/share/doc/portward/copyright \
             /usr/share/doc/portward/status-json.schema.json /usr/share/doc/portward/examples/portward-alerts.yml \
             /usr/lib/cni/portward; do
        dpkg -L portward | grep -qx "$f" || { echo "not in dpkg -L: $f"; exit 1; }
        test -e "$f" || { echo "missing: $f"; exit 1; }
    done
    for d in /etc/portward/ports.d /usr/lib/portward/ports.d; do
        test -d "$d" && test -z "$(ls -A "$d")" || { echo "not an empty directory: $d"; exit 1; }
    done'
e2e_expect "/etc/portward/ports.conf is a conffile" \
    e2e_contains "$(e2e_exec dpkg-query -W -f='${Conffiles}' portward)" /etc/portward/ports.conf
e2e_expect "portward.service is enabled" e2e_eq "$(e2e_exec systemctl is-enabled portward.service)" enabled
e2e_expect "portward.service was started and is active" e2e_wait_for 10 e2e_state_is portward.service active
e2e_expect "it runs the packaged unit" \
    e2e_contains "$(e2e_show portward.service FragmentPath)" /lib/systemd/system/portward.service
e2e_expect "the packaged configuration reserves nothing" e2e_eq "$(e2e_reserved)" "$before"
e2e_expect "portward check accepts the packaged configuration" e2e_exec portward check

# --- a third-party package's drop-in ---------------------------------------------------
e2e_expect "dpkg -i e2e-thirdparty (ships /usr/lib/portward/ports.d/e2e-thirdparty.conf)" \
    e2e_exec dpkg -i /srv/e2e-package/e2e-thirdparty_1.0_all.deb
e2e_expect "the dpkg trigger reloads portward: the vendor drop-in's 42000-42003 are reserved" \
    e2e_wait_for 10 e2e_reserved_has 42000 42001 42002 42003
e2e_expect "portward status lists the vendor entry" \
    e2e_contains "$(e2e_exec portward status 2>&1)" e2e-thirdparty

# --- masked by /etc ----------------------------------------------------------------------
e2e_expect "mask: ln -s /dev/null /etc/portward/ports.d/e2e-thirdparty.conf, reload" \
    e2e_exec sh -c 'ln -s /dev/null /etc/portward/ports.d/e2e-thirdparty.conf && systemctl reload portward.service'
e2e_expect "the masked drop-in's ports are released" \
    e2e_wait_for 10 e2e_reserved_lacks 42000 42001 42002 42003
e2e_expect "portward cat-config does not print the masked drop-in's entry" \
    bash -c '! grep -q "^e2e-thirdparty" <<<"$1"' _ "$(e2e_exec portward cat-config 2>&1)"

# --- overridden by /etc ------------------------------------------------------------------
e2e_expect "override: /etc/portward/ports.d/e2e-thirdparty.conf declares 42100, reload" \
    e2e_exec sh -c 'rm /etc/portward/ports.d/e2e-thirdparty.conf &&
        cp /srv/e2e-package/override.conf /etc/portward/ports.d/e2e-thirdparty.conf &&
        systemctl reload portward.service'
e2e_expect "the override's 42100 is reserved" e2e_wait_for 10 e2e_reserved_has 42100
e2e_expect "the overridden vendor ports stay unreserved" e2e_reserved_lacks 42000 42001 42002 42003
e2e_expect "cat-config reads /etc/portward/ports.d/e2e-thirdparty.conf" \
    e2e_contains "$(e2e_exec portward cat-config 2>&1)" "# /etc/portward/ports.d/e2e-thirdparty.conf"
e2e_expect "dpkg --purge e2e-thirdparty succeeds" e2e_exec dpkg --purge e2e-thirdparty
e2e_expect "the /etc drop-in still declares 42100 after the vendor package is gone" \
    e2e_wait_for 5 e2e_reserved_has 42100

# --- purge -------------------------------------------------------------------------------
held=$(e2e_reserved)
e2e_note "before purge: '$held'"
e2e_expect "dpkg --purge portward succeeds" e2e_exec dpkg --purge portward
e2e_expect "the package is gone from dpkg's database" \
    e2e_exec sh -c '! dpkg-query -W -f="\${Status}" portward 2>/dev/null | grep -q installed'
e2e_expect "the unit is gone (not-found) and no portward process runs" e2e_exec sh -c '
    test "$(systemctl show -P LoadState portward.service)" = not-found || exit 1
    ! pgrep -x portward'
e2e_expect "no file of portward is left (/etc/portward, /run/portward, /usr, /var, units, links)" \
    e2e_exec sh -c '
    for p in /etc/portward /run/portward /usr/lib/portward /usr/sbin/portward; do
        test -e "$p" && { echo "left: $p"; exit 1; }
    done
    left=$(find / -xdev \( -path /proc -o -path /sys -o -path /srv/e2e-package \) -prune -o \
        -iname "*portward*" -print; find /run /etc/systemd -iname "*portward*")
    test -z "$left" || { echo "left: $left"; exit 1; }'
e2e_expect "the kernel reservation is untouched by the purge" e2e_eq "$(e2e_reserved)" "$held"
e2e_expect "the boot has no failed unit" e2e_eq "$(e2e_exec systemctl list-units --failed --plain --no-legend)" ""
e2e_result
