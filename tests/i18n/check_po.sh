#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# check_po.sh SRCROOT BUILDDIR: every message in the sources listed in
# po/POTFILES has a Vietnamese translation (not fuzzy, same printf
# directives), and ntmctl speaks Vietnamese under LANG=vi_VN.UTF-8 and
# English in the C locale.
set -eu
src=$1
build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
xgettext --keyword=_ --keyword=N_ --keyword=C_:1c,2 --from-code=UTF-8 \
  --package-name=ntm-gateway -f po/POTFILES -o "$tmp/ref.pot"
fail=0
for po in $(sed 's/#.*//' po/LINGUAS); do
  # msgcmp: every msgid of the sources is in the catalogue, translated, not fuzzy
  if ! msgcmp "po/$po.po" "$tmp/ref.pot" 2>"$tmp/cmp"; then
    echo "FAIL - po/$po.po lacks translations (run ninja ntm-gateway-update-po, then translate):"
    grep -v "^msgcmp:" "$tmp/cmp" | sed 's/^/  /' | head -60
    fail=1
  fi
  # -c: the translations keep the printf directives and the trailing newlines
  if ! msgfmt -c --statistics -o /dev/null "po/$po.po" 2>"$tmp/fmt"; then
    echo "FAIL - po/$po.po does not compile cleanly:"
    sed 's/^/  /' "$tmp/fmt"
    fail=1
  fi
  if grep -q "untranslated\|fuzzy" "$tmp/fmt"; then
    echo "FAIL - po/$po.po: $(cat "$tmp/fmt")"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "ok - every message has a Vietnamese translation"

ctl="$build/daemon/ctl/ntmctl"
if ! locale -a | grep -qi '^vi_VN\.utf-\?8$'; then
  # a package build machine may lack it; CI generates it (tests/tools/deps.sh)
  echo "SKIP - ntmctl's language: the vi_VN.UTF-8 locale is not generated here"
  exit $fail
fi
vi=$(LANG=vi_VN.UTF-8 LC_ALL= LANGUAGE= NTM_LOCALEDIR="$build/po" "$ctl" --help)
en=$(LANG=C LC_ALL= LANGUAGE= NTM_LOCALEDIR="$build/po" "$ctl" --help)
case "$vi" in *"Cách dùng"*) echo "ok - ntmctl in Vietnamese under vi_VN.UTF-8" ;;
  *) echo "FAIL - ntmctl --help under vi_VN.UTF-8 is not Vietnamese:"; echo "$vi" | head -3; fail=1 ;; esac
case "$en" in "Usage: ntmctl"*) echo "ok - ntmctl in English in the C locale" ;;
  *) echo "FAIL - ntmctl --help in the C locale is not English"; fail=1 ;; esac
exit $fail
