#!/bin/sh
# The compatibility matrix (make compat): kvstore against SQLite versions
# other than Debian's, each built from an amalgamation that an npm package
# ships, into a shared libsqlite3.so.0 and a sqlite3 shell under
# $BUILD/compat/<version>/. The SQL tests run through that shell, and the
# Python tests through Debian's python3 with LD_LIBRARY_PATH pointing at
# the library (its sqlite3 module then uses it; checked).
#
#   tests/compat.sh [version ...]      (default: every version below)
#
# Versions (sqlite3.c from the first package, shell.c from the second):
#   3.53.2  better-sqlite3@12.11.1, shell.c of sqlite3@5.1.7 (3.44.2's)
#   3.38.2  sqlite3@5.0.3 (sqlite-autoconf-3380200: the oldest supported)
# Compile options as Debian's and better-sqlite3's where they change
# answers (SQLITE_LIKE_DOESNT_MATCH_BLOBS), plus SQLITE_ENABLE_SNAPSHOT for
# tests/snapshottest.c (Debian's SQLite lacks it). Environment: BUILD (build), COMPAT_DIFF_OPS (difftest ops per key type,
# 2000), COMPAT_SHAPE_STMTS (shapetest statements per key type, 1000).
# npm pack only downloads a tarball (kept in $BUILD/compat/cache); npm
# itself comes from Debian when missing.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
dir=$root/$build/compat
cache=$dir/cache
diff_ops=${COMPAT_DIFF_OPS:-2000}
shape_stmts=${COMPAT_SHAPE_STMTS:-1000}
PYTHON=${PYTHON:-/usr/bin/python3}

# version  amalgamation-package  shell-package
matrix="3.53.2 better-sqlite3@12.11.1 sqlite3@5.1.7
3.38.2 sqlite3@5.0.3 sqlite3@5.0.3"

need_npm() {
  command -v npm >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: npm"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq npm >/dev/null
  else
    echo "compat: npm is missing; run: sudo apt-get install -y npm" >&2
    exit 1
  fi
}

# Unpack package $1 (name@version) into $cache/<name@version>/, once.
unpack() {
  pkg=$1
  out=$cache/$pkg
  [ -d "$out/package" ] && return 0
  need_npm
  mkdir -p "$cache"
  tgz=$(cd "$cache" && npm pack --silent "$pkg" | tail -1)
  mkdir -p "$out"
  tar xzf "$cache/$tgz" -C "$out"
  # node sqlite3 ships the autoconf tarball: unpack its sources too.
  for t in "$out"/package/deps/sqlite-autoconf-*.tar.gz; do
    [ -f "$t" ] && tar xzf "$t" -C "$out"
  done
  return 0
}

# find_src PKG FILE: the path of FILE (sqlite3.c, shell.c) inside PKG.
find_src() {
  find "$cache/$1" -name "$2" -path '*sqlite*' | sort | head -1
}

build_version() {
  v=$1; amalg=$2; shellpkg=$3
  vd=$dir/$v
  flags="-O0 -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_SESSION
    -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_COLUMN_METADATA
    -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5
    -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_DBSTAT_VTAB
    -DSQLITE_ENABLE_STMTVTAB -DSQLITE_ENABLE_DBPAGE_VTAB
    -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_ENABLE_SNAPSHOT"
  if [ -x "$vd/sqlite3" ] && [ -f "$vd/libsqlite3.so.0" ] \
     && [ "$(cat "$vd/flags" 2>/dev/null)" = "$flags" ]; then
    return 0
  fi
  unpack "$amalg"
  unpack "$shellpkg"
  src_c=$(find_src "$amalg" sqlite3.c)
  shell_c=$(find_src "$shellpkg" shell.c)
  if [ -z "$src_c" ] || [ -z "$shell_c" ]; then
    echo "compat: no sqlite3.c or shell.c in $amalg / $shellpkg" >&2
    exit 1
  fi
  mkdir -p "$vd/src"
  cp "$src_c" "$(dirname "$src_c")/sqlite3.h" "$vd/src/"
  cp "$shell_c" "$vd/src/shell.c"   # beside the matching sqlite3.h
  echo "compat: building SQLite $v in $vd"
  # shellcheck disable=SC2086
  cc $flags -fPIC -shared -Wl,-soname,libsqlite3.so.0 \
    -o "$vd/libsqlite3.so.0" "$vd/src/sqlite3.c" -lpthread -ldl -lm
  cc -O1 -I"$vd/src" -o "$vd/sqlite3" "$vd/src/shell.c" \
    -L"$vd" -l:libsqlite3.so.0 -Wl,-rpath,"$vd" -lz -lm
  printf '%s' "$flags" > "$vd/flags"
}

run_version() {
  v=$1
  vd=$dir/$v
  got=$(LD_LIBRARY_PATH=$vd "$vd/sqlite3" :memory: 'select sqlite_version()')
  pygot=$(LD_LIBRARY_PATH=$vd $PYTHON -c \
    'import sqlite3; print(sqlite3.sqlite_version)')
  if [ "$got" != "$v" ] || [ "$pygot" != "$v" ]; then
    echo "compat: wanted SQLite $v, the shell has $got, python3 $pygot" >&2
    exit 1
  fi
  echo "== SQLite $v: sql-tests"
  SQLITE3=$vd/sqlite3 KVSQL_VARIANT=$v LD_LIBRARY_PATH=$vd \
    sh "$root/sql-tests/run.sh"
  echo "== SQLite $v: difftest ($diff_ops ops per key type)"
  LD_LIBRARY_PATH=$vd $PYTHON "$root/tests/difftest.py" --ops "$diff_ops"
  echo "== SQLite $v: snapshottest (sqlite3_snapshot_open)"
  cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -O1 -I"$vd/src" \
    -o "$vd/snapshottest" "$root/tests/snapshottest.c" \
    -L"$vd" -l:libsqlite3.so.0 -Wl,-rpath,"$vd"
  work=$(mktemp -d)
  LD_LIBRARY_PATH=$vd "$vd/snapshottest" "$root/kvstore" "$work"
  rm -rf "$work"
  if [ -f "$root/tests/shapetest.py" ]; then
    echo "== SQLite $v: shapetest ($shape_stmts statements per key type)"
    LD_LIBRARY_PATH=$vd $PYTHON "$root/tests/shapetest.py" \
      --statements "$shape_stmts"
  fi
}

want=${*:-}
echo "$matrix" | while read -r v amalg shellpkg; do
  if [ -n "$want" ]; then
    case " $want " in *" $v "*) ;; *) continue ;; esac
  fi
  build_version "$v" "$amalg" "$shellpkg"
  run_version "$v"
done
