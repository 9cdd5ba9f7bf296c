#!/usr/bin/env bash
# tests/integration/privileges.sh - what a compromised worker could reach. Started as root,
# the workers run as an unprivileged user with no_new_privs and a seccomp filter, are not
# dumpable, do not map the PKCS#11 module and hold no PIN (not in environ, argv, the log, nor
# anywhere in their readable memory); the keyholder has no network socket.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    ok "# SKIP privileges.sh needs root (the daemon must start as root to drop privileges)"
    exit 0
fi
start_instance "$TMP/p"
DIR=$TMP/p
PIN=$(tr -d '\r\n' <"$DIR/hsm/pin")
TOKEN=$(awk '$1 == "pkcs11_token" { print $2 }' "$DIR/portseald.conf")
check "the instance has a PIN of at least 4 characters" test "${#PIN}" -ge 4
# sign once so that every process has done real work
as_tenant1
post_json /v1/sign/hash '{"key":"t1-ec","alg":"ecdsa-sha256","hashes":["'"$(b64_sha256 p)"'"]}'
expect_status "signing works" 200

KH=$(pgrep -P "$PID" -x ps-keyholder)
WORKERS=$(pgrep -P "$PID" -x 'ps-worker[0-9]+' | tr '\n' ' ')
check "one keyholder ($KH) and workers ($WORKERS)" test -n "$KH" -a -n "$WORKERS"
status_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

for w in $WORKERS; do
    uid=$(status_field "$w" Uid)
    check "worker $w runs as an unprivileged user (uid $uid)" test "$uid" -ne 0
    check "worker $w: real, effective, saved uids all $uid" \
        test "$(awk '$1 == "Uid:" { print $2 $3 $4 $5 }' "/proc/$w/status")" = "$uid$uid$uid$uid"
    check "worker $w: gid is not 0" test "$(status_field "$w" Gid)" -ne 0
    check "worker $w: no capabilities" test "$(status_field "$w" CapEff)" = 0000000000000000
    check "worker $w: NoNewPrivs 1" test "$(status_field "$w" NoNewPrivs)" = 1
    check "worker $w: seccomp filter on (Seccomp 2)" test "$(status_field "$w" Seccomp)" = 2
    # a non-dumpable process's /proc files belong to root, not to the process's user
    check "worker $w is not dumpable (/proc/$w owned by root)" test "$(stat -c %u "/proc/$w/status")" = 0
    if grep -q -E 'libsofthsm|pkcs11' "/proc/$w/maps"; then
        nok "worker $w maps a PKCS#11 module: $(grep -E 'libsofthsm|pkcs11' "/proc/$w/maps" | head -1)"
    else
        ok "worker $w does not map the PKCS#11 module"
    fi
done
check "the keyholder does map the module (the maps check would see it)" grep -q libsofthsm "/proc/$KH/maps"
check "the keyholder is not dumpable either" test "$(stat -c %u "/proc/$KH/status")" = 0
check "the keyholder has NoNewPrivs 1" test "$(status_field "$KH" NoNewPrivs)" = 1
check "the keyholder runs under its seccomp filter (Seccomp 2)" test "$(status_field "$KH" Seccomp)" = 2

for p in "$PID" $KH $WORKERS; do
    if tr '\0' '\n' <"/proc/$p/environ" | grep -qF -- "$PIN"; then nok "PIN in the environment of $p"; else ok "no PIN in the environment of $p"; fi
    if tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$PIN"; then nok "PIN in the command line of $p"; else ok "no PIN in the command line of $p"; fi
done
if grep -qF -- "$PIN" "$LOG"; then nok "the PIN is in the log"; else ok "the PIN is not in the log"; fi

# Every readable mapping of each worker, read through /proc/PID/mem (as root)
memscan() {
    /usr/bin/python3 - "$@" <<'PY'
import re, sys
pid, needles = int(sys.argv[1]), [n.encode() for n in sys.argv[2:]]
found, nbytes = set(), 0
with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
    for line in maps:
        f = line.split()
        if "r" not in f[1] or (len(f) > 5 and f[5] in ("[vvar]", "[vsyscall]")):
            continue
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        if hi - lo > 1 << 30:  # sanitizer shadow memory, mostly never touched
            continue
        tail = b""
        for off in range(lo, hi, 1 << 20):
            try:
                mem.seek(off)
                data = mem.read(min(1 << 20, hi - off))
            except (OSError, ValueError):
                tail = b""
                continue
            nbytes += len(data)
            data = tail + data
            for n in needles:
                if n in data:
                    found.add(n.decode())
            tail = data[-256:]
print(nbytes, " ".join(sorted(found)) or "-")
PY
}
for w in $WORKERS; do
    read -r nbytes found <<<"$(memscan "$w" "$PIN" "$TOKEN")"
    check "worker $w: memory read ($((nbytes / 1024)) KiB) and the scan finds a known string (token label $TOKEN)" \
        test "$nbytes" -gt 1000000 -a "${found/$TOKEN/}" != "$found"
    if [[ " $found " == *" $PIN "* ]]; then nok "worker $w holds the PIN in its memory"; else ok "worker $w does not hold the PIN in its memory"; fi
done

# The keyholder's sockets: only unnamed unix sockets (socketpairs), no TCP/UDP/raw ones.
# sockets_of PID: prints the number of sockets, then the bad ones
inet_inodes=$(cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 /proc/net/raw /proc/net/raw6 2>/dev/null |
    awk '$10 ~ /^[0-9]+$/ { print $10 }' | sort -u)
sockets_of() {
    local fd l ino n=0 bad=""
    for fd in /proc/"$1"/fd/*; do
        l=$(readlink "$fd") || continue
        [[ $l == socket:\[*\] ]] || continue
        ino=${l#socket:[}
        ino=${ino%]}
        n=$((n + 1))
        if grep -qx "$ino" <<<"$inet_inodes"; then
            bad+=" ${fd##*/}:inet"
        elif ! awk -v i="$ino" '$7 == i && NF == 7 { f = 1 } END { exit !f }' /proc/net/unix; then
            bad+=" ${fd##*/}:not-an-unnamed-unix-socket"
        fi
    done
    echo "$n$bad"
}
read -r nsock bad <<<"$(sockets_of "$KH")"
check "the keyholder has sockets (its worker channels: $nsock)" test "$nsock" -ge 1
check "the keyholder's sockets are all unnamed unix sockets (socketpairs)${bad:+:$bad}" test -z "${bad:-}"
w1=${WORKERS%% *}
read -r _ wbad <<<"$(sockets_of "$w1")"
check "the same check sees a worker's listening socket as inet ($wbad)" grep -q inet <<<"${wbad:-}"
check "the keyholder listens nowhere" test -z "$(ss -Htlnp 2>/dev/null | grep "pid=$KH,")"
read -r _ khfound <<<"$(memscan "$KH" "$PIN")"
echo "# the keyholder's readable memory holds the PIN: ${khfound:--} (it may keep it in guarded memory)"

# The courier (outbound calls to partners): paired with a second appliance, p gets one. It must
# be as confined as a worker: unprivileged, no_new_privs, seccomp, not dumpable, no PKCS#11
# module, no PIN, and no listening socket.
start_instance "$TMP/q" --name q --partner "cn=$TMP/p"
find_courier() { COURIER=$(pgrep -P "$(cat "$DIR/portseald.pid")" -x ps-courier); [ -n "$COURIER" ]; }
check "after pairing, p runs a courier process" wait_until 15 find_courier
check "the courier runs as an unprivileged user" test "$(status_field "$COURIER" Uid)" -ne 0
check "the courier: no capabilities" test "$(status_field "$COURIER" CapEff)" = 0000000000000000
check "the courier: NoNewPrivs 1" test "$(status_field "$COURIER" NoNewPrivs)" = 1
check "the courier: seccomp filter on (Seccomp 2)" test "$(status_field "$COURIER" Seccomp)" = 2
check "the courier is not dumpable" test "$(stat -c %u "/proc/$COURIER/status")" = 0
check "the courier does not map the PKCS#11 module" not grep -qE 'libsofthsm|pkcs11' "/proc/$COURIER/maps"
read -r nbytes found <<<"$(memscan "$COURIER" "$PIN" "$TOKEN")"
check "the courier's memory was read (${nbytes} bytes)" test "$nbytes" -gt 1000000
if [[ " $found " == *" $PIN "* ]]; then nok "the courier holds the PIN in its memory"; else ok "the courier does not hold the PIN in its memory"; fi
check "the courier listens nowhere" test -z "$(ss -Htlnp 2>/dev/null | grep "pid=$COURIER,")"
