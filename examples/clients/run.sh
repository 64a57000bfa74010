#!/bin/sh
# run.sh - run the client examples of examples/clients/ and compare each
# one's output with expected.txt.
#   sh examples/clients/run.sh [CLIENT...]    (from the project root)
# CLIENT: python-sqlite3 python-apsw tcl node go rust (default: all).
# Missing toolchains and bindings are installed: Debian packages with
# apt-get when running as root (otherwise the command is printed and the
# client fails), better-sqlite3 with npm into build/clients/node. Go and
# Rust build offline against Debian's packaged sources (/usr/share/gocode,
# /usr/share/cargo/registry). Needs kvstore.so built (make).
set -u
BUILD=${BUILD:-build}
OUT="$BUILD/clients"
EXPECTED=examples/clients/expected.txt
PY=/usr/bin/python3
mkdir -p "$OUT"
[ -f kvstore.so ] || { echo "run.sh: no kvstore.so; run make first" >&2; exit 1; }

# need PACKAGE:FILE ... - install each package whose file is missing.
need(){
  missing=""
  for pf in "$@"; do
    [ -e "${pf#*:}" ] || missing="$missing ${pf%%:*}"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing:$missing" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq $missing; } >"$OUT/apt.log" 2>&1 \
      || { tail -5 "$OUT/apt.log" >&2; return 1; }
  else
    echo "missing packages; run: sudo apt-get install -y$missing" >&2
    return 1
  fi
}

run_python_sqlite3(){
  need python3:$PY || return 1
  $PY examples/clients/python_sqlite3.py
}
run_python_apsw(){
  need python3:$PY python3-apsw:/usr/lib/python3/dist-packages/apsw || {
    $PY -c 'import apsw' 2>/dev/null || return 1; }
  $PY examples/clients/python_apsw.py
}
run_tcl(){
  need tcl:/usr/bin/tclsh libsqlite3-tcl:/usr/lib/tcltk/sqlite3 || return 1
  tclsh examples/clients/tcl.tcl
}
run_node(){
  need nodejs:/usr/bin/node npm:/usr/bin/npm || return 1
  if [ ! -d "$OUT/node/node_modules/better-sqlite3" ]; then
    echo "installing: better-sqlite3@12 (npm, into $OUT/node)" >&2
    mkdir -p "$OUT/node"
    (cd "$OUT/node" && npm install --no-audit --no-fund --silent \
       better-sqlite3@12) >"$OUT/npm.log" 2>&1 \
      || { tail -20 "$OUT/npm.log" >&2; return 1; }
  fi
  NODE_PATH="$OUT/node/node_modules" node examples/clients/node.js
}
run_go(){
  need golang-go:/usr/bin/go \
       golang-github-mattn-go-sqlite3-dev:/usr/share/gocode/src/github.com/mattn/go-sqlite3 \
    || return 1
  GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
    GOCACHE="${GOCACHE:-$PWD/$OUT/gocache}" \
    go run examples/clients/go/main.go
}
run_rust(){
  command -v cargo >/dev/null || need cargo:/usr/bin/cargo || return 1
  need librust-rusqlite-dev:/usr/share/cargo/registry/rusqlite-0.28.0 \
       libsqlite3-dev:/usr/include/sqlite3.h || return 1
  # A copy, so the build leaves no Cargo.lock among the sources.
  rm -rf "$OUT/rust" && mkdir -p "$OUT/rust" \
    && cp -R examples/clients/rust/Cargo.toml examples/clients/rust/src "$OUT/rust/" \
    || return 1
  cargo build -q --offline --manifest-path "$OUT/rust/Cargo.toml" \
    --config 'source.crates-io.replace-with="debian"' \
    --config 'source.debian.directory="/usr/share/cargo/registry"' \
    --target-dir "$OUT/rust-target" \
    >"$OUT/cargo.log" 2>&1 || { tail -20 "$OUT/cargo.log" >&2; return 1; }
  "$OUT/rust-target/debug/kvstore-example"
}

clients=${*:-python-sqlite3 python-apsw tcl node go rust}
failed=""
for c in $clients; do
  fn=run_$(echo "$c" | tr - _)
  start=$(date +%s)
  if ! command -v "$fn" >/dev/null 2>&1 && ! type "$fn" >/dev/null 2>&1; then
    echo "run.sh: unknown client '$c'" >&2; failed="$failed $c"; continue
  fi
  if $fn >"$OUT/$c.out" 2>"$OUT/$c.err" && diff -u "$EXPECTED" "$OUT/$c.out" >"$OUT/$c.diff"; then
    echo "client $c: ok ($(( $(date +%s) - start )) s)"
  else
    echo "client $c: FAIL"
    cat "$OUT/$c.out" "$OUT/$c.err" "$OUT/$c.diff" 2>/dev/null | tail -30 | sed 's/^/  /'
    failed="$failed $c"
  fi
done
[ -z "$failed" ] || { echo "clients failed:$failed"; exit 1; }
