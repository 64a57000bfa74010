#!/bin/sh
# installtest.sh - `make install DESTDIR=$tmp`, then use what it installed
# as a user would, then `make uninstall DESTDIR=$tmp` must leave no file.
#   1. a C program built with `pkg-config --cflags --libs kvstore` (the
#      staged tree found through PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR)
#   2. both include forms: <kvstore/kv.h> and <kv.h>
#   3. the sqlite3 shell loading the installed kvstore.so by path
#   4. the installed libkvstore.a holds no test-only code (env_test.c)
# Run from the project root: sh tests/installtest.sh
set -eu
MAKE=${MAKE:-make}
SQLITE3=${SQLITE3:-sqlite3}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvinstall-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail(){ echo "installtest: FAIL: $*" >&2; exit 1; }

$MAKE --no-print-directory -s install DESTDIR="$tmp/root" >/dev/null
libdir=$($MAKE --no-print-directory -s -f Makefile -f - print-libdir <<'MK'
print-libdir: ; @echo $(LIBDIR)
MK
)
[ -f "$tmp/root$libdir/kvstore.so" ] || fail "no kvstore.so in $libdir"
echo "installed:"; (cd "$tmp/root" && find . \( -type f -o -type l \) | sort | sed 's/^\./  /')

export PKG_CONFIG_PATH="$tmp/root$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
pkg-config --exists kvstore || fail "pkg-config does not find kvstore"
cflags=$(pkg-config --cflags kvstore)
libs=$(pkg-config --libs kvstore)
echo "pkg-config: $(pkg-config --modversion kvstore): $cflags $libs"

# 1, 2: build against the staged tree only (no -Iengine, no build/).
$CC -std=c11 -Wall -Werror tests/install_example.c $cflags $libs \
  -o "$tmp/example" || fail "cannot build with pkg-config's flags"
printf '#include <kv.h>\nint main(void){ return kv_version()==0; }\n' \
  > "$tmp/short.c"
$CC -std=c11 -Wall -Werror "$tmp/short.c" $cflags $libs -o "$tmp/short" \
  || fail "#include <kv.h> does not build"
"$tmp/short" || fail "kv_version() is NULL"
out=$("$tmp/example" "$tmp/store")
echo "$out"
echo "$out" | grep -q '^banana = yellow$' || fail "example: wrong value"
echo "$out" | grep -q '^2 keys, kvstore ' || fail "example: wrong scan"

# 3: the shell loads the installed extension by path (entry point
# sqlite3_kvstore_init, derived by SQLite from the name kvstore.so).
got=$(cd "$tmp" && $SQLITE3 -batch :memory: \
  ".load $tmp/root$libdir/kvstore" \
  "CREATE VIRTUAL TABLE kv USING kvstore(dir='$tmp/shellstore')" \
  "INSERT INTO kv VALUES('a', 1), ('b', 2)" \
  "SELECT group_concat(key || '=' || value, ' ') FROM kv" \
  "SELECT kvstore_version()")
echo "sqlite3: $(echo $got)"
[ "$(echo $got)" = "a=1 b=2 $(pkg-config --modversion kvstore)" ] \
  || fail "sqlite3 shell with the installed extension: $got"

# 4: nothing test-only in what users link.
if nm "$tmp/root$libdir/libkvstore.a" 2>/dev/null | grep -q ' T kvTestEnv'; then
  fail "libkvstore.a ships the test environment (engine/env_test.c)"
fi

$MAKE --no-print-directory -s uninstall DESTDIR="$tmp/root" >/dev/null
left=$(cd "$tmp/root" && find . \( -type f -o -type l \))
[ -z "$left" ] || fail "uninstall left: $left"
echo "installtest: ok (uninstall left no file)"
