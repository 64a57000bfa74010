#!/bin/sh
# bench/peers.sh - release builds of the peers' libraries (issue #18).
#
#   bench/peers.sh [leveldb] [rocksdb]     (what `make bench-peers` runs)
#
# Debian's libleveldb1d and librocksdb7.8 are compiled without NDEBUG, so
# their assertions run in every benchmark. This script builds the SAME
# versions (those dpkg reports as installed) from Debian's source packages,
# Debian's patches applied, as CMake Release builds (-O3 -DNDEBUG) with the
# compression libraries Debian's debian/rules enables, and installs the
# shared libraries, under the SONAMEs of Debian's packages, into
# $PEERS_DIR/lib. bench/run.sh then runs the LevelDB and RocksDB drivers
# with LD_LIBRARY_PATH pointing there: the same binaries, no relinking.
#
#   $PEERS_DIR/src        apt-get source trees (leveldb-1.23, rocksdb-7.8.3)
#   $PEERS_DIR/obj/NAME   CMake build trees, NAME.build.log beside them
#   $PEERS_DIR/lib        libleveldb.so.1d, librocksdb.so.7.8 and VERSIONS,
#                         the stamp naming the Debian versions built
#
# Nothing is rebuilt while VERSIONS names the installed versions and both
# libraries are there; the checks at the end run every time. Compiles run
# under nice -n 19 with $PEERS_JOBS jobs (2). RocksDB takes about 20 minutes
# on 2 cores, LevelDB about one.
#
# apt-get source needs a deb-src entry in the apt sources. When there is
# none, this script writes one beside the deb entries (as root only; it
# stops with the commands to run otherwise) and runs apt-get update.
#
# Environment: PEERS_DIR (build/peers), PEERS_JOBS (2), BENCH_BIN
# (build/bench: the kvbench_leveldb / kvbench_rocksdb checked with ldd).
set -eu

DIR=${PEERS_DIR:-build/peers}
JOBS=${PEERS_JOBS:-2}
BIN=${BENCH_BIN:-build/bench}
WHICH=${*:-leveldb rocksdb}

say() { echo "bench-peers: $*"; }
fail() { echo "bench-peers: $*" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
SRC=$DIR/src
OBJ=$DIR/obj
LIB=$DIR/lib

# Debian binary package, source package and SONAME of each library.
pkg_of() { case $1 in leveldb) echo libleveldb1d ;; rocksdb) echo librocksdb7.8 ;; esac; }
target_of() { case $1 in leveldb) echo leveldb ;; rocksdb) echo rocksdb-shared ;; esac; }
soname_of() { case $1 in leveldb) echo libleveldb.so.1d ;; rocksdb) echo librocksdb.so.7.8 ;; esac; }
version_of() { dpkg-query -W -f='${Version}' "$(pkg_of "$1")" 2>/dev/null || true; }

for n in $WHICH; do
  case $n in leveldb|rocksdb) ;; *) fail "unknown library '$n' (leveldb, rocksdb)" ;; esac
  [ -n "$(version_of $n)" ] || fail "$(pkg_of $n) is not installed (make bench-deps)"
done
STAMP="leveldb $(version_of leveldb)
rocksdb $(version_of rocksdb)"

# -------------------------------------------------------------- sources
have_deb_src() {
  grep -Eqs '^[[:space:]]*deb-src[[:space:]]|^Types:.*deb-src' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources
}

# A deb-src twin of every deb entry: deb822 stanzas (Types: deb) and
# one-line entries (deb URI SUITE COMPONENTS).
add_deb_src() {
  if [ "$(id -u)" != 0 ]; then
    fail "no deb-src entry in the apt sources, which apt-get source needs.
As root, run make bench-peers (it adds one), or add deb-src to the Types:
line of /etc/apt/sources.list.d/debian.sources, then: apt-get update"
  fi
  out=/etc/apt/sources.list.d/kvstore-deb-src.sources
  : > "$out.tmp"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = "" }
         { n = split($0, l, "\n"); ok = 0; s = ""
           for (i = 1; i <= n; i++) {
             if (l[i] ~ /^Types:/ && l[i] ~ /[ \t]deb([ \t]|$)/) {
               l[i] = "Types: deb-src"; ok = 1
             }
             s = s l[i] "\n"
           }
           if (ok) printf "%s\n", s }' "$f" >> "$out.tmp"
  done
  if [ -s "$out.tmp" ]; then
    mv "$out.tmp" "$out"
  else
    rm -f "$out.tmp"
    out=/etc/apt/sources.list.d/kvstore-deb-src.list
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' > "$out.tmp"
    [ -s "$out.tmp" ] || { rm -f "$out.tmp"; fail "no deb entry in the apt sources to pair with deb-src"; }
    mv "$out.tmp" "$out"
  fi
  say "added $out; apt-get update"
  apt-get update -qq
}

fetch_sources() {
  need=""
  for n in $WHICH; do
    v=$(version_of $n)
    dsc=$SRC/${n}_${v#*:}.dsc
    [ -f "$dsc" ] && continue
    # Another Debian revision's tree (or a half-extracted one) goes, and
    # its build tree with it.
    up=${v#*:}; up=${up%-*}
    rm -rf "${SRC:?}/$n-$up" "${OBJ:?}/$n"
    need="$need $n=$v"
  done
  [ -n "$need" ] || return 0
  have_deb_src || add_deb_src
  if [ -z "$(apt-cache showsrc leveldb 2>/dev/null)" ]; then
    [ "$(id -u)" = 0 ] || fail "apt knows no source packages; run as root: apt-get update"
    apt-get update -qq
  fi
  command -v dpkg-source >/dev/null || fail "dpkg-source missing (apt-get install dpkg-dev)"
  mkdir -p "$SRC"
  say "cd $SRC && apt-get source$need"
  (cd "$SRC" && apt-get source -q$need) > "$DIR/apt-source.log" 2>&1 || {
    tail -20 "$DIR/apt-source.log" >&2; fail "apt-get source failed"; }
}

# -------------------------------------------------------------- builds
# build NAME TARGET CMAKE-ARGS...: configure and build one CMake target in
# $OBJ/NAME from its apt-get source tree.
build() {
  n=$1; target=$2; shift 2
  v=$(version_of $n); up=${v#*:}; up=${up%-*}
  src=$SRC/$n-$up
  b=$OBJ/$n
  [ -f "$src/CMakeLists.txt" ] || fail "no $src/CMakeLists.txt"
  # A tree configured for another source directory cannot be reused.
  if [ -f "$b/CMakeCache.txt" ] &&
     ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$b/CMakeCache.txt"; then
    rm -rf "$b"
  fi
  mkdir -p "$b"
  t0=$(date +%s)
  say "$n: cmake -S $src -B $b -DCMAKE_BUILD_TYPE=Release $*"
  nice -n 19 cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=Release "$@" \
    > "$OBJ/$n.configure.log" 2>&1 || {
    tail -20 "$OBJ/$n.configure.log" >&2; fail "$n: cmake configure failed"; }
  say "$n: nice -n 19 cmake --build $b --target $target -j $JOBS (log: $OBJ/$n.build.log)"
  nice -n 19 cmake --build "$b" --target "$target" -j "$JOBS" \
    > "$OBJ/$n.build.log" 2>&1 || {
    tail -30 "$OBJ/$n.build.log" >&2; fail "$n: build failed"; }
  say "$n: built in $(( $(date +%s) - t0 )) s"
}

# install NAME: the built library and its SONAME link into $LIB.
install_lib() {
  so=$(soname_of $1)
  [ -e "$OBJ/$1/$so" ] || fail "$1: no $OBJ/$1/$so after the build"
  real=$(readlink -f "$OBJ/$1/$so")
  got=$(objdump -p "$real" | awk '$1 == "SONAME" { print $2 }')
  [ "$got" = "$so" ] || fail "$1: $real has SONAME '$got', Debian's is $so"
  mkdir -p "$LIB"
  rm -f "$LIB/$so" "$LIB/$(basename "$real")"
  cp "$real" "$LIB/"
  ln -s "$(basename "$real")" "$LIB/$so"
}

cached=1
for n in leveldb rocksdb; do [ -e "$LIB/$(soname_of $n)" ] || cached=0; done
[ -f "$LIB/VERSIONS" ] && [ "$(cat "$LIB/VERSIONS")" = "$STAMP" ] || cached=0

if [ $cached = 1 ]; then
  say "up to date: $LIB ($(echo $STAMP))"
else
  command -v cmake >/dev/null || fail "cmake missing (make bench-peers installs it as root)"
  fetch_sources
  rm -f "$LIB/VERSIONS"
  for n in $WHICH; do
    case $n in
      leveldb)
        # debian/rules: CMake, shared and static, snappy (crc32c and
        # tcmalloc are not among its build dependencies: kept off).
        build leveldb "$(target_of leveldb)" -DBUILD_SHARED_LIBS=ON \
          -DLEVELDB_BUILD_TESTS=OFF -DLEVELDB_BUILD_BENCHMARKS=OFF \
          -DLEVELDB_INSTALL=OFF -DHAVE_CRC32C=OFF -DHAVE_TCMALLOC=OFF
        grep -qx 'HAVE_SNAPPY:INTERNAL=1' "$OBJ/leveldb/CMakeCache.txt" ||
          fail "leveldb: snappy not found (apt-get install libsnappy-dev)" ;;
      rocksdb)
        # debian/rules: bz2, lz4, zlib, zstd, snappy, PORTABLE=ON; only the
        # shared library here (no tests, benchmarks, tools, gflags).
        build rocksdb "$(target_of rocksdb)" -DROCKSDB_BUILD_SHARED=ON \
          -DWITH_SNAPPY=ON -DWITH_LZ4=ON -DWITH_ZLIB=ON -DWITH_ZSTD=ON \
          -DWITH_BZ2=ON -DWITH_GFLAGS=OFF -DWITH_LIBURING=OFF \
          -DWITH_JEMALLOC=OFF -DWITH_TESTS=OFF -DWITH_BENCHMARK_TOOLS=OFF \
          -DWITH_CORE_TOOLS=OFF -DWITH_TOOLS=OFF -DPORTABLE=ON \
          -DFAIL_ON_WARNINGS=OFF ;;
    esac
    install_lib $n
  done
  complete=1
  for n in leveldb rocksdb; do
    case " $WHICH " in *" $n "*) ;; *) complete=0 ;; esac
  done
  if [ $complete = 1 ]; then
    echo "$STAMP" > "$LIB/VERSIONS"
  else
    say "only $WHICH built: no VERSIONS stamp, make bench keeps Debian's"
  fi
fi

# -------------------------------------------------------------- checks
# For each library: Release flags with -DNDEBUG in the compile, no call of
# __assert_fail left (Debian's libraries have one), the compression
# libraries of Debian's build, and the benchmark driver resolving to it
# under LD_LIBRARY_PATH.
for n in $WHICH; do
  so=$(soname_of $n)
  [ -e "$LIB/$so" ] || fail "$n: $LIB/$so missing"
  grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$OBJ/$n/CMakeCache.txt" ||
    fail "$n: not a Release build ($OBJ/$n/CMakeCache.txt)"
  flags=$(grep -h '^CXX_FLAGS' \
          "$OBJ/$n/CMakeFiles/$(target_of $n).dir/flags.make")
  case $flags in
    *-DNDEBUG*) ;;
    *) fail "$n: compiled without -DNDEBUG: $flags" ;;
  esac
  if nm -D --undefined-only "$LIB/$so" | grep -q __assert_fail; then
    fail "$n: $LIB/$so still calls __assert_fail (assertions compiled in)"
  fi
  deb=$(ldconfig -p | awk -v s="$so" '$1 == s { print $NF; exit }')
  deb_asserts=unknown
  if [ -n "$deb" ]; then
    deb_asserts=no
    nm -D --undefined-only "$deb" | grep -q __assert_fail && deb_asserts=yes
    for c in libsnappy libz libbz2 liblz4 libzstd; do
      a=$(ldd "$deb" | grep -c "^[[:space:]]*$c\.so" || true)
      r=$(ldd "$LIB/$so" | grep -c "^[[:space:]]*$c\.so" || true)
      [ "$a" = "$r" ] || fail "$n: $c linked by Debian's ($a) but not the release build ($r), or the other way"
    done
  fi
  opt=$(echo $flags | tr ' ' '\n' | grep -E '^-O|^-DNDEBUG$' | tr '\n' ' ')
  say "$n: $LIB/$so: Release build (${opt% }), no __assert_fail" \
      "(Debian's $deb: assertions $deb_asserts)"
  if [ -x "$BIN/kvbench_$n" ]; then
    got=$(LD_LIBRARY_PATH=$LIB ldd "$BIN/kvbench_$n" | awk -v s="$so" '$1 == s { print $3 }')
    [ "$got" = "$LIB/$so" ] ||
      fail "$n: LD_LIBRARY_PATH=$LIB ldd $BIN/kvbench_$n gives '$got'"
    say "$n: LD_LIBRARY_PATH=$LIB $BIN/kvbench_$n -> $got"
  else
    say "$n: no $BIN/kvbench_$n to check (make bench-build)"
  fi
done
if [ -f "$LIB/VERSIONS" ]; then
  say "make bench uses $LIB (BENCH_PEERS=debian for Debian's)"
fi
