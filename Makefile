# kvstore - a SQLite virtual table over an LSM-tree engine.
#
# `make help` lists every target (from the `## target: ...` lines placed
# above each one). Objects go to $(BUILD) (build/, or build-asan/,
# build-tsan/, build-fuzz/ for the sanitizer and fuzzer builds), so the
# variants coexist. Plain `make` never installs anything: a missing Debian
# package stops it with the exact apt-get command. `make deps`, `make test`,
# `make demo`, the bench and fuzz targets, `make compat` (npm, for the
# SQLite amalgamations) and the client examples (`make clienttest`,
# `make test-clients`) install what they miss, with apt-get when run as
# root. `make clean` removes everything the Makefile builds.

VERSION   := 0.2.0
BUILD     ?= build
CC        ?= cc
PYTHON    := /usr/bin/python3
SQLITE3   := sqlite3

WARN      := -std=c11 -Wall -Wextra -Werror -Winit-self
# -O3: a further 2% off a range scan's instructions (callgrind) over -O2.
OPT       ?= -O3 -g
# Link-time optimisation of kvstore.so (and the benchmark's kvstore
# program): the engine's per-row path crosses files (virtual table, store
# iterator, merge, table, block), and whole-program inlining takes about 6%
# off a 100-row range scan. Objects are fat (machine code beside the LTO
# bytecode), so the tests, libkvstore.a and the sanitizer builds link them
# as ordinary objects. Empty for a plain build: make LTO=
LTO       ?= -flto=auto -ffat-lto-objects
SANFLAGS  ?=
CFLAGS_ALL = $(WARN) $(OPT) $(SANFLAGS) -fPIC -D_GNU_SOURCE \
             -DKV_VERSION_STRING='"$(VERSION)"' -Iengine
LDLIBS    := -lz -lpthread

# engine/env_test.c (the fault-injecting env) is test-only: it goes into
# libkvtest.a, linked by the unit tests, never into libkv.a or libkvstore.a.
TESTENV_SRC := engine/env_test.c
ENGINE_SRC := $(filter-out $(TESTENV_SRC),$(sort $(wildcard engine/*.c)))
ENGINE_OBJ := $(patsubst engine/%.c,$(BUILD)/engine/%.o,$(ENGINE_SRC))
TESTENV_OBJ := $(patsubst engine/%.c,$(BUILD)/engine/%.o,$(TESTENV_SRC))
EXT_SRC    := $(sort $(wildcard ext/*.c))
# Store ownership and the shadow table (doc/ownership.md).
OWNER_SRC  := kvowner.c kvshadow.c
OWNER_HDR  := kvowner.h kvshadow.h
# The table's own files beside kvvtab.c (one concern each).
KVROOT_SRC := kvstore.c kvrow.c kvconfig.c kvtxn.c kvcursor.c kvlookup.c
# Range deletes: command rows, DELETE runs, kvstore_delete_range.
KVROOT_SRC += kvrange.c
# bulk: kvstore_ingest and sorted loads (doc/ingest.md)
KVROOT_SRC += kvingest.c kvbulk.c
# Path confinement (KVSTORE_ROOT, kvstore_confine): the table's and ext/'s.
KVROOT_SRC += kvconfine.c
KVROOT_HDR := kvrow.h kvconfig.h kvvtabInt.h kvvtab.h kvconfine.h
VTAB_SRC   := kvvtab.c $(KVROOT_SRC) $(EXT_SRC) $(OWNER_SRC)
VTAB_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(VTAB_SRC))
UNIT_SRC   := $(sort $(wildcard engine/test/test_*.c))
UNIT_BIN   := $(patsubst engine/test/%.c,$(BUILD)/test/%,$(UNIT_SRC))
LIBKV      := $(BUILD)/libkv.a
LIBKVTEST  := $(BUILD)/libkvtest.a

DEPS_STAMP := $(BUILD)/.deps-ok

.PHONY: all deps help test unit sqltest pytest demo asan asan-run static clean

## all: build kvstore.so, build/libkv.a and build/kvtool (the default; never installs packages)
all: $(DEPS_STAMP) kvstore.so $(BUILD)/kvtool

## help: list every target with one line each
help:
	@sed -n 's/^## \([^:]*\): */\1\t/p' $(MAKEFILE_LIST) | \
	  awk -F'\t' '{ printf "  make %-17s %s\n", $$1, $$2 }'

# ---------------------------------------------------------------- packages
# Debian package -> a file it installs, checked before building.
PKG_FILES := libsqlite3-dev:/usr/include/sqlite3.h \
             sqlite3:/usr/bin/sqlite3 \
             zlib1g-dev:/usr/include/zlib.h \
             libcmocka-dev:/usr/include/cmocka.h \
             python3:/usr/bin/python3

# $(call install_missing,package:file ...): every package whose file is
# missing is installed with apt-get when DEPS_INSTALL=1 and running as root;
# otherwise stop with the command to run. Then touch the target stamp.
# DEPS_INSTALL is set for the targets that may install (deps, test, demo,
# and the bench and fuzz targets) and, as a target-specific variable, it
# reaches everything they build.
define install_missing
@missing=""; for pf in $(1); do \
  pkg=$${pf%%:*}; f=$${pf#*:}; [ -e "$$f" ] || missing="$$missing $$pkg"; \
done; \
if [ -n "$$missing" ]; then \
  if [ "$(DEPS_INSTALL)" = 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
    echo "installing:$$missing"; \
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq $$missing >/dev/null || exit 1; \
  else \
    echo "missing packages; run: sudo apt-get install -y$$missing"; \
    echo "(or, as root: make deps)"; exit 1; \
  fi; \
fi
@mkdir -p $(BUILD) && touch $@
endef

## deps: install the missing Debian packages the build and tests need (apt-get, as root)
deps test demo: DEPS_INSTALL := 1
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	$(call install_missing,$(PKG_FILES))

# ---------------------------------------------------------------- build
# The compiler and flags of the last build in $(BUILD): when they change
# (make LTO= for the tests, then make bench), every object is rebuilt, so
# a benchmark never measures a build made with other flags.
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_NOW   := $(CC) $(WARN) $(OPT) $(SANFLAGS) $(LTO)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@if [ "$$(cat $@ 2>/dev/null)" != "$(FLAGS_NOW)" ]; then \
	  echo "$(FLAGS_NOW)" > $@; fi
.PHONY: FORCE
FORCE:

$(BUILD)/engine/%.o: engine/%.c $(wildcard engine/*.h) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LTO) -c $< -o $@

$(LIBKV): $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBKVTEST): $(TESTENV_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c engine/kv.h $(wildcard ext/*.h) $(FLAGS_STAMP) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LTO) -c $< -o $@

# kvstore.map exports the entry point alone: every other call inside the
# library is then direct (no PLT), and LTO may inline it.
kvstore.so: $(VTAB_OBJ) $(LIBKV) kvstore.map
	$(CC) $(WARN) $(OPT) $(LTO) $(SANFLAGS) -shared -Wl,--version-script=kvstore.map \
	  -o $@ $(VTAB_OBJ) $(LIBKV) $(LDLIBS)

# ---------------------------------------------------------------- tests
# Linked from the fat objects' ordinary code (-fno-lto): an LTO link of the
# whole engine for each of some forty test programs took most of make
# unit's time (6 s against 0.8 s for test_recovery); kvstore.so keeps LTO.
$(BUILD)/test/%: engine/test/%.c $(LIBKVTEST) $(LIBKV) $(wildcard engine/test/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fno-lto -Iengine/test $< -o $@ $(LIBKVTEST) $(LIBKV) -lcmocka $(LDLIBS)

## unit: build and run the engine unit tests (engine/test/test_*.c, cmocka)
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; ./$$t; done

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer, built
# apart in build-asan/. Any report fails the run.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
## asan: the engine unit tests under AddressSanitizer + UBSan (build-asan/)
asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g" LTO= SANFLAGS="$(ASAN_FLAGS)" \
	  ASAN_OPTIONS=detect_leaks=1 asan-run

## asan-run: run the unit tests built in BUILD= (what asan calls with BUILD=build-asan)
asan-run: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; ./$$t; done

## test: every test: unit, SQL, Python, kvtool, shapes, other SQLite versions, fuzz replay, TSan
test: all unit sqltest pytest kvtooltest shapetest compat fuzz-replay tsan

## clean: remove everything the Makefile builds (build*/, kvstore.so, libkvstore.a, powercut's work directory)
clean:
	rm -rf $(BUILD) build build-asan build-tsan build-fuzz kvstore.so libkvstore.a \
	  tests/__pycache__ bench/__pycache__ bench/results/*.tmp $(POWERCUT_WORK)

# ---------------------------------------------------------------- kvtool
# kvtool: the command-line tool over a store directory (doc/kvtool.md).
# Its read commands use the engine alone; the commands given the owning
# database (--db: writes, maintenance) go through SQLite with the extension
# linked in as libkvstore.a links it (the SQLITE_CORE objects of
# $(BUILD)/static/). kvtooltest runs tests/kvtooltest.py: every command on
# real stores, beside a process that holds the store open.
KVTOOL_SRC := $(sort $(wildcard tools/*.c))
KVTOOL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(KVTOOL_SRC))
# = $(STATIC_OBJ), which is defined further down
KVTOOL_EXT_OBJ := $(patsubst %.c,$(BUILD)/static/%.o,kvvtab.c $(KVROOT_SRC) $(EXT_SRC) $(OWNER_SRC))

$(BUILD)/tools/%.o: tools/%.c tools/kvtool.h $(wildcard engine/*.h) $(wildcard ext/*.h) $(KVROOT_HDR) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSQLITE_CORE -c $< -o $@

$(BUILD)/kvtool: $(KVTOOL_OBJ) $(KVTOOL_EXT_OBJ) $(LIBKV)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) -o $@ $(KVTOOL_OBJ) $(KVTOOL_EXT_OBJ) \
	  $(LIBKV) -lsqlite3 $(LDLIBS)

.PHONY: kvtooltest
## kvtooltest: tests/kvtooltest.py, every kvtool command on real stores
kvtooltest: all
	$(PYTHON) tests/kvtooltest.py

# ---------------------------------------------------------------- power loss
# KNOWN_BUGS: engine bugs whose tests are committed before their fix
# (engine/test/testutil.h tuKnownBug, tests/powercut/). A test that shows
# a listed bug reports XFAIL instead of failing; one that no longer shows
# it fails with XPASS, so remove a name here when its fix is merged.
# Names used so far, all fixed now: wal-cut-unsynced (a WAL segment cut
# to its length at close without fsync), missing-current (a store without
# CURRENT created anew), store-dir-unsynced (a new store directory whose
# parent was never fsynced).
KNOWN_BUGS ?=
export KV_KNOWN_BUGS := $(KNOWN_BUGS)

# powercut: the system-call recorder (tests/powercut/, doc/powerloss.md).
# pcdrive runs a workload on the real POSIX env under pcshim.so (an
# LD_PRELOAD shim that logs every write, truncate, fallocate, mapped write,
# rename, unlink and fsync in the store's directory); pccheck builds the
# states a power cut could leave at the crash points (before each fsync)
# and opens each with the engine. make test: POWERCUT_POINTS crash points
# spread over the log, POWERCUT_VARIANTS reorderings each (under 60 s);
# make stress (powercut-stress): every crash point, more batches and
# variants. States are built in POWERCUT_WORK (tmpfs when there is one:
# the engine fsyncs); failing states are kept there as fail-<kind>/.
POWERCUT_BATCHES  ?= 120
POWERCUT_POINTS   ?= 100
POWERCUT_VARIANTS ?= 4
POWERCUT_WORK     ?= $(shell [ -d /dev/shm ] && [ -w /dev/shm ] && \
                       echo /dev/shm/kvstore-powercut-$$(id -u) || \
                       echo $(CURDIR)/$(BUILD)/powercut/work)
PC_BIN := $(BUILD)/powercut
PC_CFLAGS = $(WARN) -O1 -g -D_GNU_SOURCE -Iengine

.PHONY: powercut powercut-stress

$(PC_BIN)/pcshim.so: tests/powercut/pcshim.c tests/powercut/pc.h
	@mkdir -p $(dir $@)
	$(CC) $(PC_CFLAGS) -fPIC -shared $< -o $@ -ldl -lpthread

$(PC_BIN)/pc%: tests/powercut/pc%.c tests/powercut/pc.h tests/powercut/pcengine.h engine/test/knownbug.h $(LIBKV)
	@mkdir -p $(dir $@)
	$(CC) $(PC_CFLAGS) $< $(LIBKV) -o $@ -ldl $(LDLIBS)

# $(call powercut_run,batches,pccheck arguments[,command prefix[,env]])
define powercut_run
	@rm -rf $(POWERCUT_WORK) && mkdir -p $(POWERCUT_WORK)
	$(4) PC_DIR=$(POWERCUT_WORK)/store PC_LOG=$(POWERCUT_WORK)/trace.log \
	  LD_PRELOAD=$(CURDIR)/$(PC_BIN)/pcshim.so \
	  ./$(PC_BIN)/pcdrive $(POWERCUT_WORK)/store $(1)
	$(3) ./$(PC_BIN)/pccheck $(POWERCUT_WORK)/trace.log $(POWERCUT_WORK) $(2)
endef

PC_TOOLS := $(PC_BIN)/pcshim.so $(PC_BIN)/pcdrive $(PC_BIN)/pccheck

# The negative control first: with directory fsyncs skipped after the
# store's creation, the checker must report lost commits.
## powercut: power loss at the system-call level: every state a cut could leave, reopened and checked (in make test)
powercut: $(PC_TOOLS)
	$(call powercut_run,30,--points 12 --variants 2 --expect-loss,,PC_SKIP_DIRSYNC=4)
	$(call powercut_run,$(POWERCUT_BATCHES),--points $(POWERCUT_POINTS) --variants $(POWERCUT_VARIANTS))

## powercut-stress: powercut at every crash point with more variants (in make stress)
powercut-stress: $(PC_TOOLS)
	$(call powercut_run,300,--variants 16,timeout $(STRESS_TIMEOUT))

test: powercut

# powercut-sql: the same recorder over SQL (tests/powercut/pcsql.py): a
# kvstore table and an ordinary twin written by the same transactions, the
# database file and its journal or WAL traced with the store
# (PC_PARENT_PREFIX) and cut with it. Each state must open with the two
# tables equal; with a durable setting (rollback journal + EXTRA, WAL +
# FULL) every acknowledged transaction there. The negative control
# (sync=off on the kvstore table) must be caught. Lossy settings (rollback
# journal + FULL, WAL + NORMAL) are checked for atomicity only. The create
# runs make both tables in the traced run's first transaction; the drop
# runs end with DROP TABLE kv (gone after every batch, or there whole).
# The big run (WAL + NORMAL, values of about 4 KB) flushes and compacts
# between commits the cut may take back: their older values must come
# back (doc/transactions.md, the durable point).
PCSQL_BATCHES ?= 60
PCSQL_POINTS  ?= 12
PCSQL_BIG_POINTS ?= 20
PCSQL := $(PYTHON) $(CURDIR)/tests/powercut/pcsql.py

# $(call pcsql_run,journal,synchronous,check,pccheck arguments[,kvstore options[,create]])
# With create, the traced run's first transaction makes both tables.
define pcsql_run
	@rm -rf $(POWERCUT_WORK)/sql-$(1)-$(2)$(6) && mkdir -p $(POWERCUT_WORK)/sql-$(1)-$(2)$(6)/run
	$(PCSQL) $(if $(filter create,$(6)),setup-empty,setup) $(POWERCUT_WORK)/sql-$(1)-$(2)$(6)/run $(1) $(5)
	PC_DIR=$(POWERCUT_WORK)/sql-$(1)-$(2)$(6)/run/app.db-kv.kvstore \
	  PC_PARENT_PREFIX=app.db PC_LOG=$(POWERCUT_WORK)/sql-$(1)-$(2)$(6)/trace.log \
	  LD_PRELOAD=$(CURDIR)/$(PC_BIN)/pcshim.so \
	  $(PCSQL) drive $(POWERCUT_WORK)/sql-$(1)-$(2)$(6)/run $(PCSQL_BATCHES) $(2) $(6)
	./$(PC_BIN)/pccheck $(POWERCUT_WORK)/sql-$(1)-$(2)$(6)/trace.log \
	  $(POWERCUT_WORK)/sql-$(1)-$(2)$(6) --sql "$(PCSQL) $(3)" $(4)
endef

.PHONY: powercut-sql powercut-sql-stress
## powercut-sql: power loss at the system-call level over SQL: database, journal or WAL and store cut together (in make test)
powercut-sql: $(PC_TOOLS) all
	$(call pcsql_run,delete,EXTRA,check,--points 12 --variants 2 --expect-loss,sync=off)
	$(call pcsql_run,delete,EXTRA,check,--points $(PCSQL_POINTS) --variants 2)
	$(call pcsql_run,wal,FULL,check,--points $(PCSQL_POINTS) --variants 2)
	$(call pcsql_run,delete,FULL,check-atomic,--points $(PCSQL_POINTS) --variants 2)
	$(call pcsql_run,wal,FULL,check,--points $(PCSQL_POINTS) --variants 2,,create)
	$(call pcsql_run,delete,EXTRA,check-drop,--points $(PCSQL_POINTS) --variants 2,,drop)
	$(call pcsql_run,wal,NORMAL,check-atomic,--points $(PCSQL_BIG_POINTS) --variants 2,,big)

## powercut-sql-stress: powercut-sql at every crash point, every setting (in make stress)
powercut-sql-stress: $(PC_TOOLS) all
	$(call pcsql_run,delete,EXTRA,check,--variants 8)
	$(call pcsql_run,wal,FULL,check,--variants 8)
	$(call pcsql_run,delete,FULL,check-atomic,--variants 8)
	$(call pcsql_run,wal,NORMAL,check-atomic,--variants 8)
	$(call pcsql_run,delete,EXTRA,check,--variants 8,,create)
	$(call pcsql_run,wal,FULL,check,--variants 8,,create)
	$(call pcsql_run,delete,EXTRA,check-drop,--variants 8,,drop)
	$(call pcsql_run,wal,FULL,check-drop,--variants 8,,drop)
	$(call pcsql_run,wal,NORMAL,check-atomic,--variants 8,,big)

test: powercut-sql
stress: powercut-sql-stress
stress: powercut-stress

# ---------------------------------------------------------------- SQL surface
# sqltest: sql-tests/NNN_topic.sql through the sqlite3 shell, diffed with
#          NNN_topic.expected (sql-tests/run.sh -u rewrites them)
# pytest:  differential test against an ordinary WITHOUT ROWID table
#          (30,000 operations per key type; 100,000 in make stress), the
#          SIGKILL crash test (50 kills; 200 in make stress) and the kill
#          -9 loop under busy compaction (KILL_CYCLES, 30; 300 in make
#          stress), with Debian's python3 (its sqlite3 module loads
#          extensions)
# demo:    a short tour in the sqlite3 shell (demo/demo.sql)
# static:  libkvstore.a (the extension compiled with SQLITE_CORE, for
#          applications that link SQLite in) and example/example, which
#          registers it with sqlite3_auto_extension; runs the example
DIFF_OPS    ?= 30000
CRASH_KILLS ?= 50
KILL_CYCLES ?= 30
# tests/txntest.py: SQL transactions on kvstore behave as on an ordinary
# table (busy COMMIT, snapshots, lost updates), and TXN_KILLS kill -9 of
# transactions writing both (per journal mode)
TXN_KILLS   ?= 8
# tests/interleavetest.py: three connections' random steps (transactions,
# writes, closes that make the store reopen) against an ordinary table,
# per journal mode; INTERLEAVE_SEEDS of them (about 25 s; 2,000 in stress),
# then seeds 160-164 (163 lost a commit before 9279a83) with each connection
# in a process of its own (about 30 s; 100 in stress)
INTERLEAVE_SEEDS ?= 200
STATIC_SRC  := kvvtab.c $(KVROOT_SRC) $(EXT_SRC) $(OWNER_SRC)
STATIC_OBJ  := $(patsubst %.c,$(BUILD)/static/%.o,$(STATIC_SRC))
$(VTAB_OBJ) $(STATIC_OBJ): $(OWNER_HDR) $(KVROOT_HDR)

## sqltest: the SQL scripts sql-tests/NNN_topic.sql diffed with their .expected
sqltest: all
	SQLITE3=$(SQLITE3) sh sql-tests/run.sh

# tests/rangetest.py: range deletes (kvstore_delete_range, range DELETE,
# inside savepoints) whole or absent after RANGE_KILLS kill -9 (about 10 s)
RANGE_KILLS ?= 25
# tests/ingesttest.py: kvstore_ingest beside an ordinary table, equal after
# INGEST_KILLS kill -9 (about 10 s)
INGEST_KILLS ?= 12
# tests/bulktest.py: sorted loads beside an ordinary table, equal after
# BULK_KILLS kill -9, and a 300k-row load's peak RSS (about 15 s)
BULK_KILLS ?= 8
## pytest: the Python tests (API, integrity, differential, crash, kill -9 loop)
pytest: all
	$(PYTHON) tests/apitest.py
	$(PYTHON) tests/integritytest.py
	$(PYTHON) tests/ownertest.py
	$(PYTHON) tests/droptest.py
	$(PYTHON) tests/sharedtest.py
	$(PYTHON) tests/authtest.py
	$(PYTHON) tests/backuptest.py
	$(PYTHON) tests/confinetest.py
	$(PYTHON) tests/fulldisktest.py
	$(PYTHON) tests/readonlytest.py
	$(PYTHON) tests/forktest.py
	$(PYTHON) tests/fdlimittest.py
	$(PYTHON) tests/difftest.py --ops $(DIFF_OPS)
	$(PYTHON) tests/crashtest.py --rounds $(CRASH_KILLS)
	$(PYTHON) tests/killtest.py --cycles $(KILL_CYCLES)
	$(PYTHON) tests/txntest.py --kills $(TXN_KILLS)
	$(PYTHON) tests/interleavetest.py --seeds $(INTERLEAVE_SEEDS)
	$(PYTHON) tests/interleavetest.py --processes --seeds 5 --first 160
	$(PYTHON) tests/rangetest.py --rounds $(RANGE_KILLS)
	$(PYTHON) tests/ingesttest.py --rounds $(INGEST_KILLS)
	$(PYTHON) tests/bulktest.py --rounds $(BULK_KILLS)

## demo: the LSM at work in the sqlite3 shell (demo/demo.sql, then demo/reopen.sql in a new process)
demo: all
	@rm -rf $(BUILD)/demo && mkdir -p $(BUILD)/demo
	$(SQLITE3) -batch $(BUILD)/demo/demo.db < demo/demo.sql
	$(SQLITE3) -batch $(BUILD)/demo/demo.db < demo/reopen.sql

$(BUILD)/static/%.o: %.c engine/kv.h $(wildcard ext/*.h) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSQLITE_CORE -c $< -o $@

libkvstore.a: $(STATIC_OBJ) $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/example: example/example.c libkvstore.a
	$(CC) $(CFLAGS_ALL) $< -o $@ libkvstore.a -lsqlite3 $(LDLIBS)

## static: libkvstore.a (SQLITE_CORE build) and the example that links it; runs it
static: libkvstore.a $(BUILD)/example
	cd $(BUILD) && ./example

# ---------------------------------------------------------------- compatibility
# compat:     the SQL tests, the differential test (COMPAT_DIFF_OPS per key
#             type) and the shape test (COMPAT_SHAPE_STMTS) on SQLite 3.53.2
#             and 3.38.2 (the oldest supported), each built once from an npm
#             package's amalgamation into $(BUILD)/compat/<version>/ (a
#             libsqlite3.so.0 and a sqlite3 shell); see tests/compat.sh
# shapetest:  generated query shapes against ordinary tables, plus the TLP
#             and NoREC oracles (SHAPE_STMTS per key type; make stress runs
#             STRESS_SHAPE_STMTS, 200,000, per key type)
COMPAT_DIFF_OPS    ?= 2000
COMPAT_SHAPE_STMTS ?= 1000
SHAPE_STMTS        ?= 4000
STRESS_SHAPE_STMTS ?= 200000
.PHONY: compat shapetest

## compat: SQL tests, difftest and shapetest on SQLite 3.53.2 and 3.38.2 built from npm amalgamations (in make test)
compat: all
	BUILD=$(BUILD) PYTHON=$(PYTHON) COMPAT_DIFF_OPS=$(COMPAT_DIFF_OPS) \
	  COMPAT_SHAPE_STMTS=$(COMPAT_SHAPE_STMTS) sh tests/compat.sh

## shapetest: query shapes against ordinary tables, TLP and NoREC oracles, SHAPE_STMTS per key type (in make test)
shapetest: all
	$(PYTHON) tests/shapetest.py --statements $(SHAPE_STMTS)

# ---------------------------------------------------------------- benchmarks
#   make bench         kvbench (engine level, against LevelDB, RocksDB, LMDB,
#                      SQLite) and sqlbench (SQL level), BENCH_KEYS=1000000
#                      by default (about 15 minutes on 2 cores); results in
#                      bench/results/ (Markdown, CSV, PNG)
#   make bench-quick   the same at 100000 keys (about a minute)
#   make bench-large   bench/large.sh: issue #18's write patterns at 10M rows
#                      (BENCH_LARGE_ROWS), kvstore vs ordinary table, verdicts
#   make bench-all-large  the whole benchmark at BENCH_KEYS=10000000 (hours)
# Any bench/run.sh variable (BENCH_ENGINES, BENCH_WORKLOADS, ...) passes
# through the environment.
BENCH_KEYS      ?= 1000000
BENCH_ENGINES   := kvstore leveldb rocksdb lmdb sqlite
BENCH_DIR       := $(BUILD)/bench
BENCH_BINS      := $(patsubst %,$(BENCH_DIR)/kvbench_%,$(BENCH_ENGINES)) \
                   $(BENCH_DIR)/sqlbench
BENCH_STAMP     := $(BUILD)/.bench-deps-ok
BENCH_PKG_FILES := libleveldb-dev:/usr/include/leveldb/c.h \
                   librocksdb-dev:/usr/include/rocksdb/c.h \
                   liblmdb-dev:/usr/include/lmdb.h \
                   libsqlite3-dev:/usr/include/sqlite3.h \
                   gnuplot-nox:/usr/bin/gnuplot \
                   python3:/usr/bin/python3
BENCH_CFLAGS     = $(WARN) $(OPT) $(LTO) -D_GNU_SOURCE -Iengine
LIBS_kvstore    := $(LIBKV) -lz
LIBS_leveldb    := -lleveldb
LIBS_rocksdb    := -lrocksdb
LIBS_lmdb       := -llmdb
LIBS_sqlite     := -lsqlite3

.PHONY: bench bench-quick bench-large bench-all-large bench-build bench-deps
bench bench-quick bench-large bench-all-large bench-build bench-deps: DEPS_INSTALL := 1

## bench-deps: install the benchmark's packages (LevelDB, RocksDB, LMDB, gnuplot)
bench-deps: $(BENCH_STAMP)
$(BENCH_STAMP): | $(DEPS_STAMP)
	$(call install_missing,$(BENCH_PKG_FILES))

$(BENCH_DIR)/kvbench_%: bench/kvbench.c bench/benchutil.h engine/kv.h $(LIBKV) | $(BENCH_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -DENGINE_$(shell echo $* | tr a-z A-Z) $< -o $@ \
	  $(LIBS_$*) -lpthread -lm

$(BENCH_DIR)/sqlbench: bench/sqlbench.c bench/benchutil.h bench/benchsql.h | $(BENCH_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lsqlite3 -lpthread -lm

## bench-build: build the benchmark programs and kvstore.so without running them
bench-build: $(BENCH_BINS) kvstore.so

## bench: kvbench and sqlbench at BENCH_KEYS (1000000, about 15 minutes), the peers on build/peers/lib when make bench-peers built it; bench/results/
bench: bench-build
	BENCH_KEYS=$(BENCH_KEYS) BENCH_BIN=$(BENCH_DIR) \
	  BENCH_COMMAND="make bench BENCH_KEYS=$(BENCH_KEYS)" bench/run.sh

## bench-quick: the benchmark at 100000 keys (about a minute)
bench-quick: bench-build
	BENCH_KEYS=100000 BENCH_BIN=$(BENCH_DIR) \
	  BENCH_COMMAND="make bench-quick" bench/run.sh

## bench-large: range deletes, scans over them, bulk load at BENCH_LARGE_ROWS (10M) against an ordinary table, ratios and verdicts (under an hour; not in make test)
BENCH_LARGE_ROWS ?= 10000000
$(BENCH_DIR)/sqllarge: bench/sqllarge.c bench/benchutil.h bench/benchsql.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lsqlite3 -lpthread -lm
bench-large: $(BENCH_DIR)/sqllarge kvstore.so
	BENCH_LARGE_ROWS=$(BENCH_LARGE_ROWS) BENCH_BIN=$(BENCH_DIR) \
	  BENCH_COMMAND="make bench-large BENCH_LARGE_ROWS=$(BENCH_LARGE_ROWS)" \
	  bench/large.sh

## bench-all-large: the whole benchmark (make bench) at 10000000 keys (hours)
bench-all-large: bench-build
	BENCH_KEYS=10000000 BENCH_BIN=$(BENCH_DIR) BENCH_DURATION=120 \
	  BENCH_SQL_DURATION=600 BENCH_COMMAND="make bench-all-large" bench/run.sh

# bench-peers (issue #18): release builds (CMake Release, -DNDEBUG) of the
# Debian versions of LevelDB and RocksDB, from Debian's source packages
# (bench/peers.sh adds a deb-src entry when root), into $(PEERS_DIR)/lib
# under Debian's SONAMEs. bench/run.sh runs the peers with LD_LIBRARY_PATH
# set to it when it holds both (BENCH_PEERS=debian: Debian's). Cached: a
# second run only checks. Never run by make, make test or make bench.
PEERS_DIR       := $(BUILD)/peers
PEERS_STAMP     := $(PEERS_DIR)/.deps-ok
PEERS_PKG_FILES := cmake:/usr/bin/cmake g++:/usr/bin/g++ \
                   dpkg-dev:/usr/bin/dpkg-source \
                   libsnappy-dev:/usr/include/snappy.h \
                   liblz4-dev:/usr/include/lz4.h \
                   libzstd-dev:/usr/include/zstd.h \
                   zlib1g-dev:/usr/include/zlib.h \
                   libbz2-dev:/usr/include/bzlib.h
.PHONY: bench-peers
bench-peers: DEPS_INSTALL := 1
$(PEERS_STAMP): | $(BENCH_STAMP)
	@mkdir -p $(dir $@)
	$(call install_missing,$(PEERS_PKG_FILES))
## bench-peers: release builds of Debian's LevelDB and RocksDB (same versions, from apt-get source) into build/peers/lib for make bench (RocksDB about 20 min the first time)
bench-peers: $(PEERS_STAMP) $(BENCH_DIR)/kvbench_leveldb $(BENCH_DIR)/kvbench_rocksdb
	PEERS_DIR=$(PEERS_DIR) BENCH_BIN=$(BENCH_DIR) bench/peers.sh

# ---------------------------------------------------------------- reliability
# The engine's reliability tests (engine/test/test_{crashpoints,ioerr,oom,
# corrupt,threads}.c) run in `unit` in their short form. Here:
#   fuzz         each libFuzzer target (fuzz/fuzz_*.c) for FUZZ_SECONDS
#                (default 600) with clang -fsanitize=fuzzer,address,undefined,
#                starting from fuzz/corpus/<t>/; new inputs go to
#                build-fuzz/corpus-<t>/ (crashes: build-fuzz/crash-*)
#   fuzz-replay  the same targets with a plain main() (fuzz/replay.c) under
#                ASan+UBSan, fed every file of fuzz/corpus/<t>/ once
#   tsan         the engine and test_threads built with gcc -fsanitize=thread
#                in build-tsan/ and run; any report fails
#   stress       the long versions (STRESS=1: every crash point, fault site,
#                allocation and corrupted byte; 10x the thread test), each
#                bounded by STRESS_TIMEOUT seconds (default 1800); the kill
#                -9 loop (tests/killtest.py) for STRESS_KILL_CYCLES (300)
#   fuzz-corpus  regenerate the seed corpora from real stores (commit them)
# fuzz_sql runs SQL on kvstore tables: it links kvvtab.c and ext/ (compiled
# with SQLITE_CORE, as for libkvstore.a) and the system libsqlite3.
FUZZ_TARGETS  := wal sst manifest sql
FUZZ_SECONDS  ?= 600
FUZZ_CC       ?= clang
FUZZ_DIR      := build-fuzz
STRESS_TIMEOUT ?= 1800
STRESS_KILL_CYCLES ?= 300
REL_TESTS     := test_crashpoints test_ioerr test_oom test_corrupt test_threads

.PHONY: fuzz fuzz-replay fuzz-corpus tsan stress
fuzz: DEPS_INSTALL := 1

# libFuzzer's runtime comes with Debian's libclang-rt-14-dev.
$(FUZZ_DIR)/.clang-ok:
	@mkdir -p $(FUZZ_DIR)
	@printf 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){(void)d;(void)n;return 0;}\n' > $(FUZZ_DIR)/probe.c
	@if ! $(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_DIR)/probe.c -o $(FUZZ_DIR)/probe 2>/dev/null; then \
	  if [ "$(DEPS_INSTALL)" = 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing: clang libclang-rt-14-dev"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq clang libclang-rt-14-dev >/dev/null || exit 1; \
	  else \
	    echo "libFuzzer missing; run: sudo apt-get install -y clang libclang-rt-14-dev"; exit 1; \
	  fi; \
	fi
	@touch $@

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_DIR)/.clang-ok $(ENGINE_SRC) $(wildcard engine/*.h)
	$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) OPT="-O1 -g" LTO= \
	  SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	  $(FUZZ_DIR)/libkv.a
	$(FUZZ_CC) $(WARN) -O1 -g -D_GNU_SOURCE -Iengine \
	  -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	  $< $(FUZZ_DIR)/libkv.a $(LDLIBS) -o $@

FUZZ_SQL_OBJ := $(patsubst %.c,$(FUZZ_DIR)/static/%.o,$(STATIC_SRC))
$(FUZZ_DIR)/fuzz_sql: fuzz/fuzz_sql.c fuzz/fuzz_common.h $(FUZZ_DIR)/.clang-ok $(ENGINE_SRC) $(STATIC_SRC) $(KVROOT_HDR) $(wildcard engine/*.h ext/*.h)
	$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) OPT="-O1 -g" LTO= \
	  SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	  $(FUZZ_DIR)/libkv.a $(FUZZ_SQL_OBJ)
	$(FUZZ_CC) $(WARN) -O1 -g -D_GNU_SOURCE -Iengine \
	  -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	  $< $(FUZZ_SQL_OBJ) $(FUZZ_DIR)/libkv.a -lsqlite3 $(LDLIBS) -o $@

## fuzz: each libFuzzer target for FUZZ_SECONDS (600) with clang (build-fuzz/)
fuzz: $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus-$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
	  ./$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
	    $(FUZZ_DIR)/corpus-$$t fuzz/corpus/$$t > $(FUZZ_DIR)/fuzz_$$t.log 2>&1 \
	    || { tail -60 $(FUZZ_DIR)/fuzz_$$t.log; exit 1; }; \
	  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss)' \
	    $(FUZZ_DIR)/fuzz_$$t.log; \
	done

# Replay under ASan+UBSan with the ordinary compiler (objects shared with
# `make asan` in build-asan/).
REPLAY_BUILD := build-asan
$(REPLAY_BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c fuzz/fuzz_common.h $(ENGINE_SRC) $(wildcard engine/*.h)
	$(MAKE) --no-print-directory BUILD=$(REPLAY_BUILD) OPT="-O1 -g" LTO= \
	  SANFLAGS="$(ASAN_FLAGS)" $(REPLAY_BUILD)/libkv.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g -D_GNU_SOURCE -Iengine $(ASAN_FLAGS) \
	  fuzz/replay.c $< $(REPLAY_BUILD)/libkv.a $(LDLIBS) -o $@

REPLAY_SQL_OBJ := $(patsubst %.c,$(REPLAY_BUILD)/static/%.o,$(STATIC_SRC))
$(REPLAY_BUILD)/fuzz/replay_sql: fuzz/fuzz_sql.c fuzz/replay.c fuzz/fuzz_common.h $(ENGINE_SRC) $(STATIC_SRC) $(KVROOT_HDR) $(wildcard engine/*.h ext/*.h)
	$(MAKE) --no-print-directory BUILD=$(REPLAY_BUILD) OPT="-O1 -g" LTO= \
	  SANFLAGS="$(ASAN_FLAGS)" $(REPLAY_BUILD)/libkv.a $(REPLAY_SQL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g -D_GNU_SOURCE -Iengine $(ASAN_FLAGS) \
	  fuzz/replay.c $< $(REPLAY_SQL_OBJ) $(REPLAY_BUILD)/libkv.a -lsqlite3 \
	  $(LDLIBS) -o $@

## fuzz-replay: replay the fuzz corpus under ASan+UBSan (build-asan/)
fuzz-replay: $(patsubst %,$(REPLAY_BUILD)/fuzz/replay_%,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  ASAN_OPTIONS=detect_leaks=1 ./$(REPLAY_BUILD)/fuzz/replay_$$t fuzz/corpus/$$t; \
	done

## fuzz-corpus: regenerate the seed corpora from real stores
fuzz-corpus: $(LIBKV)
	$(CC) $(CFLAGS_ALL) fuzz/gen_corpus.c $(LIBKV) $(LDLIBS) -o $(BUILD)/gen_corpus
	rm -rf fuzz/corpus/wal fuzz/corpus/sst fuzz/corpus/manifest
	./$(BUILD)/gen_corpus fuzz/corpus

# tests/sqlthreads.c: the same at SQL level (connections in threads on two
# database files, each with its own store), kvstore linked as in libkvstore.a.
TSAN_SQL_OBJ := $(patsubst %.c,build-tsan/static/%.o,$(STATIC_SRC))
## tsan: test_threads, test_bulk, test_db, test_memtable, test_sst's threads and tests/sqlthreads.c under ThreadSanitizer (build-tsan/)
tsan:
	$(MAKE) --no-print-directory BUILD=build-tsan CC=gcc OPT="-O1 -g" LTO= \
	  SANFLAGS="-fsanitize=thread" build-tsan/test/test_threads \
	  build-tsan/test/test_bulk build-tsan/test/test_db \
	  build-tsan/test/test_memtable build-tsan/test/test_sst $(TSAN_SQL_OBJ)
	gcc $(WARN) -O1 -g -D_GNU_SOURCE -fsanitize=thread tests/sqlthreads.c \
	  $(TSAN_SQL_OBJ) build-tsan/libkv.a -lsqlite3 $(LDLIBS) \
	  -o build-tsan/sqlthreads
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build-tsan/test/test_threads
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build-tsan/test/test_bulk
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build-tsan/test/test_db
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build-tsan/test/test_memtable
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" \
	  KV_TEST_FILTER="*race*" ./build-tsan/test/test_sst
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./build-tsan/sqlthreads

## stress: the long reliability runs (STRESS=1), each bounded by STRESS_TIMEOUT
stress: $(patsubst %,$(BUILD)/test/%,$(REL_TESTS)) kvstore.so
	@set -e; for t in $(REL_TESTS); do \
	  echo "== STRESS=1 $$t"; \
	  STRESS=1 timeout $(STRESS_TIMEOUT) ./$(BUILD)/test/$$t; \
	done
	$(MAKE) --no-print-directory fuzz-replay
	STRESS=1 $(MAKE) --no-print-directory tsan
	timeout $(STRESS_TIMEOUT) $(PYTHON) tests/killtest.py \
	  --cycles $(STRESS_KILL_CYCLES)
	timeout $(STRESS_TIMEOUT) $(PYTHON) tests/crashtest.py --rounds 200
	timeout $(STRESS_TIMEOUT) $(PYTHON) tests/difftest.py --ops 100000
	timeout $(STRESS_TIMEOUT) $(PYTHON) tests/interleavetest.py \
	  --seeds 2000 --first 1000
	timeout $(STRESS_TIMEOUT) $(PYTHON) tests/interleavetest.py \
	  --processes --seeds 100 --first 1000
	@set -e; for t in text integer blob; do \
	  timeout $(STRESS_TIMEOUT) $(PYTHON) tests/shapetest.py \
	    --statements $(STRESS_SHAPE_STMTS) --types $$t; \
	done

# tests/sqloom.c: SQLite's allocator fails at the N-th allocation (once, and
# from N on) over a workload writing a kvstore table and an ordinary one in
# the same transactions; then (SQLOOM_IO=1) the N-th read, write, truncate
# or sync of the database and its journal, every N; built with ASan + UBSan in build-asan/, kvstore
# linked as in libkvstore.a. SQLOOM_STRIDE: every N-th allocation (1 in
# make stress).
SQLOOM_STRIDE ?= 67
ASAN_SQL_OBJ := $(patsubst %.c,build-asan/static/%.o,$(STATIC_SRC))
.PHONY: sqloom
## sqloom: the SQL layer when SQLite's allocations or the database's file operations fail, under ASan + UBSan (in make test)
sqloom:
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g" LTO= \
	  SANFLAGS="$(ASAN_FLAGS)" $(ASAN_SQL_OBJ) build-asan/libkv.a
	$(CC) $(WARN) -O1 -g -D_GNU_SOURCE $(ASAN_FLAGS) tests/sqloom.c \
	  $(ASAN_SQL_OBJ) build-asan/libkv.a -lsqlite3 $(LDLIBS) \
	  -o build-asan/sqloom
	ASAN_OPTIONS=detect_leaks=1 ./build-asan/sqloom $(SQLOOM_STRIDE)
	SQLOOM_IO=1 ASAN_OPTIONS=detect_leaks=1 ./build-asan/sqloom 1

test: sqloom
.PHONY: sqloom-stress
sqloom-stress:
	$(MAKE) --no-print-directory sqloom SQLOOM_STRIDE=1
stress: sqloom-stress

# ---------------------------------------------------------------- clients
# (issue #19) interrupttest: sqlite3_interrupt stops kvstore_compact,
# kvstore_checkpoint and kvstore_backup (about 10 s); run it against
# another SQLite with LD_LIBRARY_PATH.
# tests/stepsweeptest.py: statement shapes interrupted at every
# SWEEP_STRIDE-th step (with and without a statement cache), about 20 s
SWEEP_STRIDE ?= 3
.PHONY: interrupttest
## interrupttest: sqlite3_interrupt stops kvstore_compact, _checkpoint, _backup; store unchanged; statements interrupted at every step (in make test)
interrupttest: all
	$(PYTHON) tests/interrupttest.py
	$(PYTHON) tests/stepsweeptest.py --stride $(SWEEP_STRIDE)

test: interrupttest

# make install / make uninstall [PREFIX=/usr/local] [DESTDIR=]
#   $(LIBDIR)/kvstore.so            the loadable extension, beside Debian's
#                                   own (mod_spatialite, libsqlite3-mod-*):
#                                   `.load kvstore` by name with PREFIX=/usr
#                                   (a default search directory of the
#                                   dynamic linker), by path always
#   $(LIBDIR)/libkvstore.a          the engine and the extension compiled
#                                   with SQLITE_CORE (no test-only code)
#   $(LIBDIR)/pkgconfig/kvstore.pc  Cflags for <kvstore/kv.h> and <kv.h>
#   $(INCLUDEDIR)/kvstore/kv.h
#   $(BINDIR)/kvtool                when $(BUILD)/kvtool was built
# doc/install.md says why these places.
PREFIX     ?= /usr/local
DESTDIR    ?=
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null)
LIBDIR     ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
PCDIR      ?= $(LIBDIR)/pkgconfig
INSTALL    ?= install

.PHONY: install uninstall installtest

## install: install kvstore.so, libkvstore.a, kv.h, kvstore.pc, kvtool (PREFIX, DESTDIR)
install: all libkvstore.a
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR) \
	  $(DESTDIR)$(INCLUDEDIR)/kvstore
	$(INSTALL) -m 755 kvstore.so $(DESTDIR)$(LIBDIR)/kvstore.so
	$(INSTALL) -m 644 libkvstore.a $(DESTDIR)$(LIBDIR)/libkvstore.a
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' \
	  'includedir=$(INCLUDEDIR)' '' 'Name: kvstore' \
	  'Description: LSM-tree key-value engine and its SQLite virtual table' \
	  'Version: $(VERSION)' \
	  'Cflags: -I$${includedir} -I$${includedir}/kvstore' \
	  'Libs: -L$${libdir} -lkvstore -lz -lpthread' \
	  > $(DESTDIR)$(PCDIR)/kvstore.pc
	chmod 644 $(DESTDIR)$(PCDIR)/kvstore.pc
	$(INSTALL) -m 644 engine/kv.h $(DESTDIR)$(INCLUDEDIR)/kvstore/kv.h
	@if [ -x $(BUILD)/kvtool ]; then \
	  echo "$(INSTALL) -d $(DESTDIR)$(BINDIR)"; $(INSTALL) -d $(DESTDIR)$(BINDIR); \
	  echo "$(INSTALL) -m 755 $(BUILD)/kvtool $(DESTDIR)$(BINDIR)/kvtool"; \
	  $(INSTALL) -m 755 $(BUILD)/kvtool $(DESTDIR)$(BINDIR)/kvtool; \
	fi

## uninstall: remove what make install put in place (same PREFIX, DESTDIR)
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/kvstore.so $(DESTDIR)$(LIBDIR)/libkvstore.a \
	  $(DESTDIR)$(PCDIR)/kvstore.pc $(DESTDIR)$(INCLUDEDIR)/kvstore/kv.h \
	  $(DESTDIR)$(BINDIR)/kvtool
	rmdir $(DESTDIR)$(INCLUDEDIR)/kvstore 2>/dev/null || true

# installtest: install into a temporary DESTDIR, build a program with
# pkg-config's flags, load the installed extension in the sqlite3 shell,
# uninstall and find nothing left (about 10 s).
## installtest: install into a temporary DESTDIR, use it, uninstall (in make test)
installtest: all
	sh tests/installtest.sh

test: installtest

# test-clients: every example of examples/clients/ (Python sqlite3 and
# apsw, Tcl, Node better-sqlite3, Go mattn/go-sqlite3, Rust rusqlite) run
# as written, output compared with expected.txt; missing toolchains are
# installed (Debian packages as root, better-sqlite3 with npm). The first
# run builds better-sqlite3 and go-sqlite3 from source (minutes); later
# runs take seconds. clienttest (in make test): the cheap ones.
.PHONY: test-clients clienttest
## test-clients: run every client example (Python, apsw, Tcl, Node, Go, Rust)
test-clients: all
	BUILD=$(BUILD) sh examples/clients/run.sh

## clienttest: the Python and Tcl client examples (in make test)
clienttest: all
	BUILD=$(BUILD) sh examples/clients/run.sh python-sqlite3 python-apsw tcl

test: clienttest

# ---------------------------------------------------------------- many processes
# (issue #16) mproctest: tests/mproctest.py, many processes on one store
# (writers and a reader, turns between two connections, the sqlite3 shell,
# readers beside an open write transaction, lost updates, kill -9 mid
# transaction, flush and compaction), every check beside an ordinary
# WITHOUT ROWID table (72 s for both in the last run, the machine shared).
# make stress: writers for MPROC_STRESS_DURATION seconds,
# MPROC_STRESS_KILLS kills per kill check.
MPROC_STRESS_DURATION ?= 20
MPROC_STRESS_TURNS    ?= 2000
MPROC_STRESS_KILLS    ?= 30
.PHONY: mproctest mproctest-stress
## mproctest: many processes on one store, each check beside an ordinary table (in make test)
mproctest: all
	SQLITE3=$(SQLITE3) $(PYTHON) tests/mproctest.py

## mproctest-stress: mproctest longer: MPROC_STRESS_DURATION, _TURNS, _KILLS (in make stress)
mproctest-stress: all
	SQLITE3=$(SQLITE3) timeout $(STRESS_TIMEOUT) $(PYTHON) tests/mproctest.py \
	  --duration $(MPROC_STRESS_DURATION) --turns $(MPROC_STRESS_TURNS) \
	  --kills $(MPROC_STRESS_KILLS)

test: mproctest
stress: mproctest-stress

# bench-mproc: bench/mproc.py alone (make bench runs it too, from
# bench/run.sh): aggregate point-read and write throughput of 1, 2 and 4
# processes, kvstore beside an ordinary table, peak RSS per process, the
# issue's targets with verdicts; bench/results/mproc.md. Never while other
# work loads the machine.
MPROC_ROWS ?= $(BENCH_KEYS)
.PHONY: bench-mproc
bench-mproc: DEPS_INSTALL := 1
## bench-mproc: many processes on one table, kvstore vs ordinary table (bench/results/mproc.md)
bench-mproc: all
	$(PYTHON) bench/mproc.py --rows $(MPROC_ROWS) --out bench/results \
	  --command "make bench-mproc MPROC_ROWS=$(MPROC_ROWS)"

# ---------------------------------------------------------------- documents
# doclinks: tests/doclinks.py checks that every relative link of README.md,
# CHANGELOG.md, doc/*.md and bench/README.md names a file that exists and,
# with a #fragment, a heading or <a id> of that page (under a second).
.PHONY: doclinks
## doclinks: every link in README.md, CHANGELOG.md, doc/ and bench/README.md resolves (file and anchor)
doclinks:
	$(PYTHON) tests/doclinks.py

test: doclinks

# tests/spilltest.py: transactions past txn_spill (runs on disk, savepoints
# rolled back into them) against an ordinary table, and kill -9 during
# spilled commits (about 12 s);
# `python3 tests/spilltest.py --rss 1000000` measures peak RSS (not in test)
## spilltest: transactions larger than txn_spill, against an ordinary table
spilltest: all
	$(PYTHON) tests/spilltest.py
test: spilltest

# tests/rangeruntest.py: range DELETEs of 150,000 rows with txn_spill=1MB
# collapse as they go (no spill run, no spilled commit), integer, text and
# blob keys, against an ordinary table (about 5 s; doc/rangedel.md)
## rangeruntest: range DELETEs larger than txn_spill, against an ordinary table
rangeruntest: all
	$(PYTHON) tests/rangeruntest.py
test: rangeruntest
