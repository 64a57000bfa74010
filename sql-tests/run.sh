#!/bin/sh
# Run every sql-tests/NNN_topic.sql through the sqlite3 shell and diff its
# output with NNN_topic.expected.
#
#   sql-tests/run.sh [-u] [NNN_topic ...]     (-u: rewrite .expected files)
#
# Each script runs in a fresh temporary directory holding a link to
# kvstore.so, against the database file test.db there, so `.load ./kvstore`
# works as in the README and relative paths stay inside the directory.
# Output is stdout and stderr together, unbuffered so they interleave in
# order. Error lines are normalised so that the expected files hold only
# the message: the shell's prefix ("Runtime error near line N:",
# "Parse error near line N:", "Error: near line N:", all versions) becomes
# "Error:", the trailing " (code)" some versions add is dropped, and the
# temporary directory's path reads "$DIR". KVSTORE_SO names another build
# of the extension (a sanitizer build, say). KVSQL_VARIANT (a SQLite
# version, set by make compat) picks NNN_topic.<version>.expected where
# one exists: output of SQLite itself that differs between versions.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
SQLITE3=${SQLITE3:-sqlite3}
update=0
if [ "${1:-}" = "-u" ]; then update=1; shift; fi

so=${KVSTORE_SO:-$root/kvstore.so}
if [ ! -f "$so" ]; then
  echo "sql-tests: $so is missing; run make first" >&2
  exit 2
fi

if [ $# -gt 0 ]; then
  tests=""
  for t in "$@"; do tests="$tests $here/${t%.sql}.sql"; done
else
  tests=$(ls "$here"/[0-9][0-9][0-9]_*.sql)
fi

pass=0; fail=0; failed=""
start=$(date +%s)
for sql in $tests; do
  name=$(basename "$sql" .sql)
  expected="$here/$name.expected"
  # Where SQLite itself answers differently in another version (make
  # compat), NNN_topic.<version>.expected holds that version's output.
  if [ -n "${KVSQL_VARIANT:-}" ] && [ -f "$here/$name.$KVSQL_VARIANT.expected" ]; then
    expected="$here/$name.$KVSQL_VARIANT.expected"
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/kvsql-XXXXXX")
  ln -s "$so" "$work/kvstore.so"
  actual="$work/actual.out"
  ( cd "$work" && stdbuf -o0 -e0 "$SQLITE3" -batch test.db < "$sql" 2>&1 ) \
    | sed -E \
        -e 's/^(Runtime error|Parse error|Error): near line [0-9]+: /Error: /' \
        -e 's/^(Runtime error|Parse error) near line [0-9]+: /Error: /' \
        -e '/^Error: /s/ \([0-9]+\)$//' \
        -e "s#$work#\$DIR#g" \
    | grep -v -e '^ *\^--- error here' > "$actual"
  if [ $update = 1 ]; then
    cp "$actual" "$expected"
    echo "updated $name"
  elif [ -f "$expected" ] && diff -u "$expected" "$actual" > "$work/diff"; then
    pass=$((pass+1))
  else
    fail=$((fail+1)); failed="$failed $name"
    echo "FAIL $name"
    if [ -f "$expected" ]; then
      cat "$work/diff"
    else
      echo "  (no $name.expected)"
    fi
  fi
  rm -rf "$work"
done
if [ $update = 0 ]; then
  echo "sql-tests: $pass passed, $fail failed ($(( $(date +%s) - start ))s)${failed:+:$failed}"
  [ $fail = 0 ]
fi
