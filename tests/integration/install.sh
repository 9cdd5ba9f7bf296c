#!/usr/bin/env bash
# make install DESTDIR=... PREFIX=/usr: the tree it makes (files, modes, nothing else), the
# installed programs run, the systemd unit names the installed paths, has its hardening
# options and passes `systemd-analyze verify` without a warning (skipped without
# systemd-analyze); make uninstall removes every file again.
. "$(dirname "$0")/lib.sh"

DEST=$TMP/dest
# the same build folder as the suite (make asan installs the sanitizer build)
if make -s -C "$REPO" BUILD="$BUILD" install DESTDIR="$DEST" PREFIX=/usr >"$TMP/install.out" 2>&1; then
    ok "make install DESTDIR=... PREFIX=/usr"
else
    nok "make install DESTDIR=... PREFIX=/usr"
    cat "$TMP/install.out"
    exit 1
fi

# every file installed, with its mode
expected() {
    cat <<EOF
0600 etc/portseal/portseald.conf.example
0644 usr/lib/systemd/system/portseald.service
0755 usr/bin/portseal
0755 usr/bin/portseal-keytool
0755 usr/bin/portseal-verify
0755 usr/sbin/portseald
0644 usr/share/man/man1/portseal.1
0644 usr/share/man/man8/portseald.8
EOF
    local f
    for f in README.md protocol/openapi.yaml portseald.conf.example "$REPO"/docs/*.md; do
        echo "0644 usr/share/doc/portseal/$(basename "$f")"
    done
}
(cd "$DEST" && find . -type f -printf '%m %P\n' | sed 's/^\([0-9][0-9][0-9]\) /0\1 /') | sort >"$TMP/got"
expected | sort >"$TMP/want"
if diff -u "$TMP/want" "$TMP/got" >"$TMP/tree.diff"; then
    ok "the installed files and their modes are exactly the expected ones ($(wc -l <"$TMP/got") files)"
else
    nok "the installed files and their modes"
    sed 's/^/# /' "$TMP/tree.diff"
fi
check "etc/portseal is private (0700): it will hold keys and the PIN file" \
    test "$(stat -c %a "$DEST/etc/portseal")" = 700
check "no active portseald.conf is installed (only the example)" test ! -e "$DEST/etc/portseal/portseald.conf"
for d in configuration install key-ceremony backup-restore partner-onboarding auditor-guide; do
    check "docs/$d.md is installed" test -s "$DEST/usr/share/doc/portseal/$d.md"
done
check "the installed example parses like the one in the tree" \
    cmp -s "$REPO/portseald.conf.example" "$DEST/etc/portseal/portseald.conf.example"

# the programs run (usage: exit status 2)
"$DEST/usr/sbin/portseald" >/dev/null 2>"$TMP/usage"
check "installed portseald runs (usage, status 2)" test $? -eq 2 -a -s "$TMP/usage"
"$DEST/usr/bin/portseal-keytool" >/dev/null 2>"$TMP/usage"
check "installed portseal-keytool runs (usage, status 2)" test $? -eq 2
"$DEST/usr/bin/portseal-verify" >/dev/null 2>&1
check "installed portseal-verify runs (usage, status 2)" test $? -eq 2
"$DEST/usr/bin/portseal" >/dev/null 2>&1
check "installed portseal runs (usage, status 2)" test $? -eq 2
"$DEST/usr/bin/portseal" --help >/dev/null 2>&1
check "installed portseal --help (status 0)" test $? -eq 0

UNIT=$DEST/usr/lib/systemd/system/portseald.service
check "the unit has no @placeholders@ left" not grep -q '@[A-Z]*@' "$UNIT"
check "the unit starts /usr/sbin/portseald with /etc/portseal/portseald.conf" \
    grep -qx 'ExecStart=/usr/sbin/portseald -c /etc/portseal/portseald.conf' "$UNIT"
check "the unit checks the configuration first (portseald -t)" \
    grep -qx 'ExecStartPre=/usr/sbin/portseald -t -c /etc/portseal/portseald.conf' "$UNIT"
check "the unit names no DESTDIR path" not grep -q "$DEST" "$UNIT"
check "the unit sets no User= (the daemon drops its workers itself)" not grep -q '^User=' "$UNIT"
for opt in NoNewPrivileges=yes ProtectSystem=strict StateDirectory=portseal StateDirectoryMode=0711 \
    PrivateTmp=yes ProtectHome=yes 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' LimitCORE=0 \
    MemoryDenyWriteExecute=yes SystemCallArchitectures=native UMask=0077 KillMode=mixed \
    'ExecReload=/bin/kill -HUP $MAINPID'; do
    check "the unit sets $opt" grep -qxF "$opt" "$UNIT"
done
check "the unit limits the capabilities to setuid, setgid, chown, kill, net_bind_service" \
    grep -qx 'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN CAP_KILL CAP_NET_BIND_SERVICE' "$UNIT"

if command -v systemd-analyze >/dev/null 2>&1; then
    # verify wants the programs where the unit says: point it at the DESTDIR copy
    mkdir -p "$TMP/verify"
    sed "s|/usr/sbin/portseald|$DEST/usr/sbin/portseald|g" "$UNIT" >"$TMP/verify/portseald.service"
    systemd-analyze verify "$TMP/verify/portseald.service" >"$TMP/verify.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && [ ! -s "$TMP/verify.out" ]; then
        ok "systemd-analyze verify: no error, no warning"
    else
        nok "systemd-analyze verify (status $rc)"
        sed 's/^/# /' "$TMP/verify.out"
    fi
else
    ok "# skip systemd-analyze verify: systemd-analyze is not installed"
fi

# PREFIX=/usr/local puts the configuration under /usr/local/etc
make -s -C "$REPO" BUILD="$BUILD" install DESTDIR="$TMP/local" PREFIX=/usr/local >/dev/null 2>&1
check "PREFIX=/usr/local: /usr/local/sbin, /usr/local/etc/portseal, /usr/local/lib/systemd/system" \
    test -x "$TMP/local/usr/local/sbin/portseald" -a \
    -s "$TMP/local/usr/local/etc/portseal/portseald.conf.example" -a \
    -s "$TMP/local/usr/local/lib/systemd/system/portseald.service"
check "PREFIX=/usr/local: the unit reads /usr/local/etc/portseal/portseald.conf" \
    grep -qx 'ExecStart=/usr/local/sbin/portseald -c /usr/local/etc/portseal/portseald.conf' \
    "$TMP/local/usr/local/lib/systemd/system/portseald.service"

make -s -C "$REPO" BUILD="$BUILD" uninstall DESTDIR="$DEST" PREFIX=/usr >/dev/null 2>&1
check "make uninstall removes every installed file" test -z "$(find "$DEST" -type f)"
