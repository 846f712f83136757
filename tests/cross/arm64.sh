#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# arm64.sh: ntm-gateway for the Raspberry Pi (arm64), cross-built on a Debian 12
# amd64 machine, as root.
#
#  1. installs Debian's cross toolchain (crossbuild-essential-arm64),
#     qemu-user-static and the :arm64 build dependencies of debian/control
#     (`apt-get build-dep -a arm64 ./`; meson, ninja and pkgconf stay amd64),
#     after checking with a dry run that apt removes nothing;
#  2. builds the arm64 package, `dpkg-buildpackage -a arm64 -Pnocheck -us -uc -b`,
#     in a copy of the tree (the tree itself is never written to);
#  3. checks the .deb: Architecture arm64, every ELF file in it aarch64, the
#     plugins in /usr/lib/aarch64-linux-gnu/ntm-gateway/plugins, the conffile's
#     plugin_dir, shared-library Depends; runs the packaged daemon and ntmctl
#     under qemu; checks ntm-gateway-dev's pkg-config file names that
#     plugin dir;
#  4. cross-compiles the whole meson tree with tests/cross/aarch64-linux-gnu.ini
#     and runs the tests that need no broker under qemu-aarch64 (meson runs
#     them through the cross file's exe_wrapper): the unit suite, and
#     plugin_host (the plugin host dlopen()ing the aarch64 plugins).
#
# Not part of tests/run.sh: it installs packages and adds the arm64
# architecture to dpkg. CI runs it when it has time; see tests/cross/README.md
# for how long it takes. NTM_KEEP_TMP=1 keeps the work dir. The last line is
# "N passed, M failed".
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CROSS_FILE=$ROOT/tests/cross/aarch64-linux-gnu.ini
T_START=$(date +%s.%N)
PASSED=0
FAILED=0
TIMES=()

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds; its output
# is shown only when it fails
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$what"
    else
        bad "$what"
        [ -z "$out" ] || printf '%s\n' "$out" | head -20 | sed 's/^/  | /'
    fi
}
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
PHASE_T0=$(now)
phase() { # ends the running phase (its time is recorded), starts the next
    if [ -n "${PHASE_NAME:-}" ]; then
        TIMES+=("$(printf '%-52s %7s s' "$PHASE_NAME" "$(since "$PHASE_T0")")")
        echo "   ($PHASE_NAME: $(since "$PHASE_T0") s)"
    fi
    PHASE_NAME=$1
    PHASE_T0=$(now)
    echo
    echo "== $1"
}
finish() {
    phase "(end)"
    echo
    echo "== times"
    printf '  %s\n' "${TIMES[@]}"
    printf '  %-52s %7s s\n' "total" "$(since "$T_START")"
    echo
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

if [ "$(id -u)" -ne 0 ]; then
    echo "arm64.sh: must run as root (it installs packages and adds the arm64 architecture)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if [ "$(dpkg --print-architecture)" != amd64 ]; then
    echo "arm64.sh: written for an amd64 build machine; this is $(dpkg --print-architecture)" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
if ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
    echo "note: written for Debian 12 (bookworm); this is $(. /etc/os-release; echo "$PRETTY_NAME")"
fi

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
# other work on the machine may hold the dpkg lock for a while: wait for it
APT_OPTS=(-y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=900 --no-install-recommends)

WORK=$(mktemp -d /tmp/ntm-cross-arm64.XXXXXX)
cleanup() {
    if [ -n "${NTM_KEEP_TMP:-}" ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- copy
# First, so that apt-get build-dep reads debian/control from the copy.
phase "copy the tree"
SRC=$WORK/src
mkdir -p "$SRC"
# everything but build directories and VCS data; untracked work in progress
# is included, as a release tarball of this tree would
tar -C "$ROOT" --exclude='./build*' --exclude=./.git --exclude='./obj-*' \
    --exclude='__pycache__' --exclude=./tests/bench/work --exclude=./debian/.debhelper \
    --exclude=./debian/ntm-gateway --exclude=./debian/tmp --exclude=./debian/files \
    --exclude='./debian/*.substvars' --exclude='./debian/*.debhelper.log' \
    -cf - . | tar -C "$SRC" -xf -
ok "copied the tree to $SRC"

# ---------------------------------------------------------------- install
phase "install the cross toolchain, qemu, :arm64 build deps"
apt_log=$WORK/apt.log
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
fi
# apt-get update when there is no arm64 package list yet; a repository
# unreachable from here only warns (apt-get update then exits non-zero while
# Debian's lists are fine), so the lists themselves are checked
APT_UPDATED=""
apt_update() {
    echo "apt-get update" >&2
    apt-get update -q -o DPkg::Lock::Timeout=900 >"$WORK/apt-update.log" 2>&1 ||
        grep -E '^(W|E):' "$WORK/apt-update.log" | sed 's/^/  | /' >&2
    APT_UPDATED=1
}
# apt-get ARGS..., once more after an apt-get update if it fails on lists
# that were not fresh (a package version gone from the archive)
apt_retry() {
    apt-get "$@" && return 0
    [ -z "$APT_UPDATED" ] || return 1
    apt_update
    apt-get "$@"
}
if ! ls /var/lib/apt/lists/*_binary-arm64_Packages* >/dev/null 2>&1 ||
    [ -n "${NTM_APT_UPDATE:-}" ]; then
    apt_update
fi
check "apt has Debian's arm64 package lists" \
    bash -c "ls /var/lib/apt/lists/*debian*_binary-arm64_Packages*"
TOOLS=(crossbuild-essential-arm64 qemu-user-static dpkg-dev debhelper meson ninja-build pkgconf file)
missing=()
for p in "${TOOLS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A dry run first: a :arm64 -dev package is Multi-Arch: same, so its amd64
# twin must be at the same version (apt upgrades it) but is never replaced.
# Anything apt would remove to get there is a problem on a shared machine:
# stop instead.
(cd "$SRC" && apt-get -s "${APT_OPTS[@]}" install "${missing[@]}" &&
    apt-get -s "${APT_OPTS[@]}" build-dep -a arm64 ./) >"$WORK/apt-sim.log" 2>&1
sim_rc=$?
if [ $sim_rc -ne 0 ] || grep -q '^Remv ' "$WORK/apt-sim.log"; then
    grep -E '^(Remv|E:)' "$WORK/apt-sim.log" | sed 's/^/  | /'
    [ $sim_rc -eq 0 ] || tail -20 "$WORK/apt-sim.log" | sed 's/^/  | /'
    bad "apt can install the cross toolchain and the arm64 build deps without removing anything"
    finish
fi
n_inst=$(grep -c '^Inst ' "$WORK/apt-sim.log")
echo "  apt: $n_inst packages to install or upgrade, none removed"
# "Inst NAME [OLD] (NEW ...)" is an upgrade of an installed package
grep -E '^Inst [^ ]+ \[' "$WORK/apt-sim.log" | sed 's/^Inst /  upgrades /' | head -20
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt_retry install "${APT_OPTS[@]}" "${missing[@]}" >>"$apt_log" 2>&1 ||
        { tail -20 "$apt_log"; bad "apt-get install ${missing[*]}"; finish; }
fi
if ! (cd "$SRC" && dpkg-checkbuilddeps -a arm64) >/dev/null 2>&1; then
    echo "apt-get build-dep -a arm64 ./"
    (cd "$SRC" && apt_retry build-dep "${APT_OPTS[@]}" -a arm64 ./) >>"$apt_log" 2>&1 ||
        { tail -20 "$apt_log"; bad "apt-get build-dep -a arm64 ./"; finish; }
fi
ok "cross toolchain, qemu-user-static and the arm64 build deps installed"
check "dpkg-checkbuilddeps -a arm64: debian/control's Build-Depends resolve for a cross build" \
    bash -c "cd '$SRC' && dpkg-checkbuilddeps -a arm64"
for t in aarch64-linux-gnu-gcc qemu-aarch64-static; do
    check "$t on PATH ($($t --version 2>/dev/null | head -1))" command -v $t
done

# ---------------------------------------------------------------- package
phase "dpkg-buildpackage -a arm64 -Pnocheck"
VERSION=$(cd "$SRC" && dpkg-parsechangelog -S Version)
DEB=$WORK/ntm-gateway_${VERSION}_arm64.deb
# nocheck: the package's unit tests are run below, under qemu, from the same
# sources; dh_auto_test would not run them in a cross build anyway
if (cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    dpkg-buildpackage -a arm64 -Pnocheck -us -uc -b) >"$WORK/build.log" 2>&1; then
    ok "dpkg-buildpackage -a arm64 -Pnocheck -us -uc -b"
else
    tail -40 "$WORK/build.log"
    bad "dpkg-buildpackage -a arm64 -Pnocheck -us -uc -b"
    finish
fi
check "built $(basename "$DEB")" test -f "$DEB"
check "meson was given a cross file (debcrossgen)" grep -q -- '--cross-file' "$WORK/build.log"
check "compiled with aarch64-linux-gnu-gcc" grep -q 'aarch64-linux-gnu-gcc' "$WORK/build.log"
check "the source tree was not written to" bash -c \
    "! ls -d '$ROOT'/obj-* '$ROOT/debian/files' '$ROOT/debian/ntm-gateway' '$ROOT/debian/.debhelper' 2>/dev/null | grep -q ."

# ---------------------------------------------------------------- checks
phase "check the arm64 package"
MA=aarch64-linux-gnu
PLUGIN_DIR=/usr/lib/$MA/ntm-gateway/plugins
check_eq "Architecture: arm64" "$(dpkg-deb -f "$DEB" Architecture)" arm64
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' >"$WORK/contents.txt"
for f in /usr/sbin/ntm-gatewayd /usr/bin/ntmctl "$PLUGIN_DIR/provincial-http.so" "$PLUGIN_DIR/file.so" \
    /etc/ntm-gateway/gateway.yaml /lib/systemd/system/ntm-gateway.service; do
    check "the .deb holds $f" grep -qx "$f" "$WORK/contents.txt"
done
check "no amd64 path (x86_64-linux-gnu) in the .deb" bash -c "! grep x86_64 '$WORK/contents.txt'"
X=$WORK/x
dpkg-deb -x "$DEB" "$X"
for f in /usr/sbin/ntm-gatewayd /usr/bin/ntmctl "$PLUGIN_DIR/provincial-http.so" "$PLUGIN_DIR/file.so"; do
    desc=$(file -b "$X$f")
    case $desc in
    "ELF 64-bit LSB "*"ARM aarch64"*) ok "$f is aarch64 ELF (${desc%%, BuildID*})" ;;
    *) bad "$f is not an aarch64 ELF: $desc" ;;
    esac
done
n_elf=0 n_other=0
while IFS= read -r -d '' f; do
    desc=$(file -b "$f")
    case $desc in
    ELF*"ARM aarch64"*) n_elf=$((n_elf + 1)) ;;
    ELF*) n_other=$((n_other + 1)); echo "  | ${f#"$X"}: $desc" ;;
    esac
done < <(find "$X" -type f -print0)
check_eq "every ELF file in the .deb is aarch64 ($n_elf of them)" "$n_other" 0
# the example config names the plugin_dir (commented out: the default); the
# package's copy must name the arm64 one
check "the conffile's plugin_dir line names $PLUGIN_DIR" \
    grep -qE "^(# )?plugin_dir: $PLUGIN_DIR\$" "$X/etc/ntm-gateway/gateway.yaml"
# debian/rules rewrites only the plugin_dir line: the comment above it lists
# each architecture's directory and stays as written
check "the conffile's comment still names amd64's own dir (x86_64-linux-gnu on amd64)" \
    grep -qF "(/usr/lib/x86_64-linux-gnu/ntm-gateway/plugins on amd64," "$X/etc/ntm-gateway/gateway.yaml"
check "ntm-gatewayd's built-in default plugin dir is $PLUGIN_DIR" \
    grep -qa "$PLUGIN_DIR" "$X/usr/sbin/ntm-gatewayd"
check "Depends: shared libraries found by dpkg-shlibdeps against the arm64 libs" \
    bash -c "dpkg-deb -f '$DEB' Depends | grep -q 'libmosquitto1.*libuv1\|libuv1.*libmosquitto1'"
QEMU=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
check "the packaged ntm-gatewayd runs under qemu: --version" bash -c \
    "${QEMU[*]} '$X/usr/sbin/ntm-gatewayd' --version | grep -qx 'ntm-gatewayd ${VERSION%-*}'"
check "the packaged ntm-gatewayd under qemu: --check-config on the packaged config" \
    "${QEMU[@]}" "$X/usr/sbin/ntm-gatewayd" --config "$X/etc/ntm-gateway/gateway.yaml" --check-config
check "the packaged ntmctl runs under qemu: --help" bash -c \
    "${QEMU[*]} '$X/usr/bin/ntmctl' --help | grep -q '^Usage: ntmctl'"
# the plugin headers' package: its pkg-config file names the arm64 plugin dir
DEB_DEV=$WORK/ntm-gateway-dev_${VERSION}_arm64.deb
check "built $(basename "$DEB_DEV")" test -f "$DEB_DEV"
dpkg-deb -x "$DEB_DEV" "$WORK/xdev"
PC=$WORK/xdev/usr/lib/$MA/pkgconfig/ntm-gateway-plugin.pc
check_eq "its ntm-gateway-plugin.pc: plugindir is $PLUGIN_DIR" \
    "$(PKG_CONFIG_LIBDIR=$(dirname "$PC") PKG_CONFIG_SYSROOT_DIR=/ pkg-config --variable=plugindir ntm-gateway-plugin 2>&1)" \
    "$PLUGIN_DIR"
ABI=$(sed -n 's/^#define NTM_PLUGIN_ABI_VERSION \([0-9]*\)u$/\1/p' "$SRC/include/ntm/plugin.h")
check_eq "ntm-gateway Provides ntm-gateway-plugin-abi-$ABI (the header's ABI version)" \
    "$(dpkg-deb -f "$DEB" Provides)" "ntm-gateway-plugin-abi-$ABI"

# ---------------------------------------------------------------- meson cross
phase "meson setup --cross-file + ninja (whole tree)"
B=$WORK/build-arm64
if (cd "$SRC" && meson setup --cross-file "$CROSS_FILE" "$B") >"$WORK/meson-setup.log" 2>&1; then
    ok "meson setup --cross-file tests/cross/aarch64-linux-gnu.ini"
else
    tail -30 "$WORK/meson-setup.log"
    bad "meson setup --cross-file tests/cross/aarch64-linux-gnu.ini"
    finish
fi
grep -E '^(Host machine cpu|C compiler for the host|.*exe wrapper|Build targets)' "$WORK/meson-setup.log" |
    sed 's/^/  /'
check "meson looks up libraries with PKG_CONFIG_LIBDIR=/usr/lib/$MA/pkgconfig only" \
    grep -q "^env\[PKG_CONFIG_LIBDIR\]: /usr/lib/$MA/pkgconfig:/usr/share/pkgconfig\$" \
    "$B/meson-logs/meson-log.txt"
check "meson runs aarch64 programs through the exe_wrapper (qemu-aarch64-static)" \
    grep -q "^Running test binary command: *qemu-aarch64-static" "$B/meson-logs/meson-log.txt"
if ninja -C "$B" >"$WORK/ninja.log" 2>&1; then
    ok "ninja: the whole tree cross-compiles (daemon, ntmctl, plugins, test programs)"
else
    grep -E 'error|FAILED' "$WORK/ninja.log" | head -20 | sed 's/^/  | /'
    bad "ninja: the whole tree cross-compiles"
    # the unit tests may still build on their own
    ninja -C "$B" tests/unit/test_config tests/unit/test_ingest tests/unit/test_aggregate \
        >>"$WORK/ninja.log" 2>&1
fi
for t in "$B"/tests/unit/test_*; do
    [ -f "$t" ] && [ -x "$t" ] || continue
    case $(file -b "$t") in
    ELF*"ARM aarch64"*) ;;
    *) bad "$(basename "$t") is not an aarch64 executable: $(file -b "$t")" ;;
    esac
done

# ---------------------------------------------------------------- tests
phase "unit tests under qemu-aarch64 (meson test)"
# meson test runs each aarch64 test program through the cross file's
# exe_wrapper; binfmt_misc is not needed (and often not there in a container)
run_tests() { # LOG ARGS...: runs meson test, one check per test
    local log=$1
    shift
    (cd "$B" && meson test --no-rebuild --print-errorlogs "$@") >"$log" 2>&1
    # each test program's own closing line ("N passed, M failed"), by test
    awk '/^test: / { sub(/^test: +/, ""); t = $0 }
         t != "" && /[0-9]+ passed, [0-9]+ failed/ { sub(/^[^ ]*: /, ""); print t "\t" $0 }' \
        "$B/meson-logs/testlog.txt" >"$log.counts"
    local n=0 line name result own time
    while IFS= read -r line; do
        # " 1/3 ntm-gateway:unit / config        OK              0.52s"
        name=$(sed -E 's/^ *[0-9]+\/[0-9]+ +//; s/ +(OK|FAIL|TIMEOUT|SKIP|ERROR|EXPECTEDFAIL|UNEXPECTEDPASS)( .*)?$//' <<<"$line")
        result=$(awk '{for (i = NF; i > 0; i--) if ($i ~ /^(OK|FAIL|TIMEOUT|SKIP|ERROR|EXPECTEDFAIL|UNEXPECTEDPASS)$/) { print $i; exit }}' <<<"$line")
        time=$(grep -oE '[0-9.]+s$' <<<"$line")
        n=$((n + 1))
        own=$(awk -F '\t' -v t="$name" '$1 == t { c = $2 } END { print c }' "$log.counts")
        own=${own/ passed,/ checks passed,}
        if [ "$result" = OK ]; then
            ok "$name under qemu: ${own:+$own, }$time"
        else
            bad "$name under qemu: $result${own:+ ($own)}"
        fi
    done < <(awk '/^Summary of Failures/ { exit } /^ *[0-9]+\/[0-9]+ / { print }' "$log")
    if [ $n -eq 0 ] || grep -qE '^(Fail|Timeout): +[1-9]' "$log"; then
        tail -40 "$log" | sed 's/^/  | /'
        [ $n -gt 0 ] || bad "meson test $*: no test ran"
    fi
}
run_tests "$WORK/test-unit.log" --suite unit
# the plugin host's test needs no broker either (a loopback socket of its own):
# it dlopen()s the aarch64 file and provincial-http plugins under qemu
run_tests "$WORK/test-plugin-host.log" plugin_host

finish
