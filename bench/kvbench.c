/*
** kvbench.c - engine-level benchmark: db_bench and YCSB workloads run through
** the C API of one storage engine.
**
** The same source is compiled once per engine, selected at compile time:
**
**   -DENGINE_KVSTORE   engine/kv.h (our LSM engine, build/libkv.a)
**   -DENGINE_LEVELDB   <leveldb/c.h>
**   -DENGINE_ROCKSDB   <rocksdb/c.h>
**   -DENGINE_LMDB      <lmdb.h>
**   -DENGINE_SQLITE    <sqlite3.h>, a WITHOUT ROWID table in WAL mode
**
** Each engine sits behind the small adapter below (open, put, get, delete,
** write batch, iterator start/step, close), so the workload code is shared
** and every engine executes exactly the same key sequence. One process runs
** ONE workload (bench/run.sh starts a fresh process per workload and engine,
** interleaving engines), so the peak RSS reported is that workload's own.
**
**   kvbench --workload=NAME --db=DIR [--num=N] [--ops=N] [--threads=T]
**           [--duration=SECONDS] [--value_size=100] [--stats] [--header]
**           [--compression=default|none|fast]
**           [--opt=NAME=VALUE ...]   (kvstore only: any kv_options_set name)
**
** --compression picks how the engines store their blocks, so that they can
** be compared like with like as well as with their defaults:
**
**   default   each engine its own default: kvstore none, LevelDB and
**             RocksDB snappy
**   none      every engine uncompressed (kvstore compression=none, LevelDB
**             and RocksDB kNoCompression)
**   fast      each engine its fastest compressor: kvstore compression=zlib
**             (the only one it has), LevelDB snappy, RocksDB lz4 (snappy if
**             the library was built without lz4)
**
** LMDB and SQLite do not compress; the option changes nothing for them. The
** last CSV column names what the engine was asked for: "default" when a
** compressing engine was left at its default, always "none" for LMDB and
** SQLite.
**
** It prints one CSV line (the columns of CSV_HEADER) on stdout; --stats
** also prints the engine's own statistics (kvstore: kv_stats JSON; LevelDB,
** RocksDB: their "stats" property) on stderr after the workload.
**
** Workloads (n = --num; keys are "%016d" of an integer, 16 bytes; values
** are 100 bytes, half compressible, cut from a 1 MiB buffer in the manner
** of db_bench's RandomGenerator):
**
**   fillseq       n puts, keys 0..n-1 ascending, into a fresh store
**   fillrandom    n puts, each key of 0..n-1 exactly once in a random order
**                 (a keyed permutation), into a fresh store
**   fillbatch     as fillrandom, in write batches of 1000
**   fillsync      --ops puts (default 10000) of random keys, every write
**                 synced, from --threads writer threads, into a fresh store
**   overwrite     n puts of uniformly random existing keys
**   readrandom    n gets of uniformly random existing keys
**   readmissing   n gets of absent keys (an existing key plus "."; it sorts
**                 inside the key range, so range checks cannot skip it)
**   readhot       n gets of random keys among the first 1% of the key space
**   readseq       iterate forward from the first key over up to n entries
**   readreverse   iterate backward from the last key over up to n entries
**   seekrandom    --ops (default n/10) seeks to a random existing key, each
**                 followed by 10 nexts; one op = seek + 10 nexts
**   deleterandom  n deletes of uniformly random keys (with repetition)
**   ycsba..ycsbf  --ops operations (default n) over the n records, request
**                 distribution zipfian(0.99) scrambled by a 64-bit FNV hash
**                 (YCSB's ScrambledZipfian), except D (latest):
**                   A 50% read 50% update       B 95% read 5% update
**                   C 100% read                 D 95% read 5% insert, latest
**                   E 95% scan (1..100 entries, uniform) 5% insert
**                   F 50% read 50% read-modify-write
**                 Inserts append new keys n, n+1, ...
**
** Every workload but fillrandom (whose store the reads use) stops early
** after --duration seconds (default 60), reporting what it did, so a slow
** engine cannot blow the time budget of `make bench`.
**
** Measurements: ops/s and MB/s (key+value bytes moved per second) over the
** timed loop only (not open/close); p50/p99 latency from a log-linear
** histogram (1/32 octave resolution) of per-op clock_gettime deltas (for
** readseq/readreverse every 16th op is timed, to keep the clock's cost out
** of the throughput); peak RSS = getrusage ru_maxrss of this process;
** bytes on disk = allocated blocks of the directory after close; write
** amplification = (write_bytes - cancelled_write_bytes of /proc/self/io,
** open to close) / user bytes written, for every engine alike, plus
** kvstore's own figure from kv_stats; fsyncs per commit = kv_stats WAL
** syncs over the commits (puts, deletes, batches) this process made;
** CPU microseconds per op = user+sys time of the whole process (all
** threads, open and close included) over the ops done, a figure that other
** load on the machine disturbs far less than ops/s.
*/
#ifndef _GNU_SOURCE
# define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define BENCH_NAME "kvbench"
#include "benchutil.h"

#define CSV_HEADER "engine,workload,num,ops,found,seconds,ops_per_sec," \
  "mb_per_sec,p50_us,p99_us,peak_rss_mb,disk_mb,user_mb,wamp_io," \
  "wamp_engine,fsyncs_per_commit,cpu_us_per_op,compression"

/* Comparable sizes for every engine (stated in the results). */
#define WRITE_BUFFER  (4u<<20)     /* memtable / write buffer */
#define CACHE_SIZE    (8u<<20)     /* block cache / page cache */
#define BLOOM_BITS    10
#define BATCH_SIZE    1000
#define SCAN_NEXTS    10

/* --compression: COMP_DEFAULT leaves every engine at its default. zComp is
** what the adapter asked its engine for, printed in the CSV line. */
enum { COMP_DEFAULT, COMP_NONE, COMP_FAST };
static int eComp = COMP_DEFAULT;
#if defined(ENGINE_LMDB) || defined(ENGINE_SQLITE)
static const char *zComp = "none";
#else
static const char *zComp = "default";
#endif

/* ------------------------------------------------------------------ adapter
** Every engine implements:
**
**   Db  *dbOpen(zDir, bSync)      open/create the store in zDir
**   void dbClose(Db*)
**   void dbPut(Db*, k, nk, v, nv) one write (synced when bSync)
**   int  dbGet(Db*, k, nk)        1 found, 0 not found; returns value size
**                                 through *pnVal
**   void dbDelete(Db*, k, nk)
**   void dbBatchPut / dbBatchCommit   a write batch, committed atomically
**   Iter *dbIterNew(Db*); dbIterStart(it, key|NULL, bReverse) positions
**   at the first key >= key (or first/last when key is NULL); dbIterStep
**   moves in the direction chosen at start; dbIterValid/Key/Value;
**   dbIterFree.
**   char *dbEngineStats(Db*)      kvstore only: the kv_stats JSON
**
** Puts may be called from several threads at once (fillsync). Errors are
** fatal: a benchmark that silently drops errors measures nothing.
*/
typedef struct Db Db;
typedef struct Iter Iter;

#if defined(ENGINE_KVSTORE)
/* ---------------------------------------------------------------- kvstore */
#include "kv.h"
#define ENGINE_NAME "kvstore"
struct Db { kv_db *db; kv_batch *batch; };
static const char *azKvOpt[16];   /* --opt=name=value, applied last */
static int nKvOpt = 0;
struct Iter { Db *p; kv_iter *it; int bRev; };

static void kvCheck(int rc, const char *zOp){
  if( rc!=KV_OK ) die("kvstore %s: rc=%d %s", zOp, rc, kv_errmsg(0));
}
static void setOpt(kv_options *o, const char *zName, const char *zVal){
  char *zErr = 0;
  if( kv_options_set(o, zName, zVal, &zErr)!=KV_OK ) die("option %s", zErr);
}
static Db *dbOpen(const char *zDir, int bSync){
  Db *p = calloc(1, sizeof(*p));
  kv_options *o = kv_options_new();
  char z[32];
  int i;
  /* sync=normal is the counterpart of the peers' unsynced writes: the
  ** write reaches the OS at once, fsync happens at WAL rotation/flush. */
  setOpt(o, "sync", bSync ? "full" : "normal");
  snprintf(z, sizeof(z), "%u", WRITE_BUFFER); setOpt(o, "memtable_size", z);
  snprintf(z, sizeof(z), "%u", CACHE_SIZE);   setOpt(o, "cache_size", z);
  snprintf(z, sizeof(z), "%d", BLOOM_BITS);   setOpt(o, "bloom_bits_per_key", z);
  if( eComp!=COMP_DEFAULT ){
    zComp = eComp==COMP_NONE ? "none" : "zlib";
    setOpt(o, "compression", zComp);
  }
  for(i=0; i<nKvOpt; i++){
    char zName[64];
    const char *zEq = strchr(azKvOpt[i], '=');
    if( !zEq || zEq-azKvOpt[i]>=(int)sizeof(zName) ) die("bad --opt");
    memcpy(zName, azKvOpt[i], (size_t)(zEq-azKvOpt[i]));
    zName[zEq-azKvOpt[i]] = 0;
    setOpt(o, zName, zEq+1);
  }
  kvCheck(kv_open(zDir, o, &p->db), "open");
  kv_options_free(o);
  p->batch = kv_batch_new();
  return p;
}
static void dbClose(Db *p){
  kv_batch_free(p->batch);
  kvCheck(kv_close(p->db), "close");
  free(p);
}
static void dbPut(Db *p, const char *k, size_t nk, const char *v, size_t nv){
  int rc = kv_put(p->db, k, nk, v, nv);
  if( rc!=KV_OK ) die("kvstore put: rc=%d %s", rc, kv_errmsg(p->db));
}
static int dbGet(Db *p, const char *k, size_t nk, size_t *pnVal){
  void *pVal = 0;
  size_t n = 0;
  int rc = kv_get(p->db, 0, 0, k, nk, &pVal, &n);
  if( rc==KV_NOTFOUND ){ *pnVal = 0; return 0; }
  if( rc!=KV_OK ) die("kvstore get: rc=%d %s", rc, kv_errmsg(p->db));
  kv_free(pVal);
  *pnVal = n;
  return 1;
}
static void dbDelete(Db *p, const char *k, size_t nk){
  int rc = kv_delete(p->db, k, nk);
  if( rc!=KV_OK ) die("kvstore delete: rc=%d %s", rc, kv_errmsg(p->db));
}
static void dbBatchPut(Db *p, const char *k, size_t nk, const char *v,
                       size_t nv){
  kvCheck(kv_batch_put(p->batch, k, nk, v, nv), "batch_put");
}
static void dbBatchCommit(Db *p){
  int rc = kv_write(p->db, p->batch);
  if( rc!=KV_OK ) die("kvstore write: rc=%d %s", rc, kv_errmsg(p->db));
  kv_batch_clear(p->batch);
}
static Iter *dbIterNew(Db *p){
  Iter *it = calloc(1, sizeof(*it));
  it->p = p;
  kvCheck(kv_iter_new(p->db, 0, 0, &it->it), "iter_new");
  return it;
}
static void dbIterStart(Iter *it, const char *k, size_t nk, int bRev){
  int rc;
  it->bRev = bRev;
  if( k ) rc = bRev ? kv_iter_seek_for_prev(it->it, k, nk)
                    : kv_iter_seek(it->it, k, nk);
  else    rc = bRev ? kv_iter_last(it->it) : kv_iter_first(it->it);
  kvCheck(rc, "iter_seek");
}
static void dbIterStep(Iter *it){
  kvCheck(it->bRev ? kv_iter_prev(it->it) : kv_iter_next(it->it), "iter_step");
}
static int dbIterValid(Iter *it){ return kv_iter_valid(it->it); }
static size_t dbIterEntry(Iter *it){
  size_t nk = 0, nv = 0;
  kv_iter_key(it->it, &nk);
  kv_iter_value(it->it, &nv);
  return nk + nv;
}
static void dbIterFree(Iter *it){ kv_iter_free(it->it); free(it); }
static char *dbEngineStats(Db *p){
  char *z = 0;
  if( kv_stats(p->db, &z)!=KV_OK ) return 0;
  return z;
}
static void dbEngineStatsFree(char *z){ kv_free(z); }

#elif defined(ENGINE_LEVELDB) || defined(ENGINE_ROCKSDB)
/* ------------------------------------------------------- LevelDB, RocksDB
** Their C APIs are nearly isomorphic; the macros map one onto the other. */
#if defined(ENGINE_LEVELDB)
#include <leveldb/c.h>
#define ENGINE_NAME "leveldb"
#define L(x) leveldb_##x
typedef leveldb_t LDb;
#else
#include <rocksdb/c.h>
#define ENGINE_NAME "rocksdb"
#define L(x) rocksdb_##x
typedef rocksdb_t LDb;
#endif
struct Db {
  LDb *db;
  L(options_t) *opts;
  L(readoptions_t) *ropts;
  L(writeoptions_t) *wopts;
  L(writebatch_t) *batch;
  L(cache_t) *cache;
#if defined(ENGINE_ROCKSDB)
  rocksdb_block_based_table_options_t *bbo;
#else
  leveldb_filterpolicy_t *filter;
#endif
};
struct Iter { L(iterator_t) *it; int bRev; };

static void lCheck(char *zErr, const char *zOp){
  if( zErr ) die(ENGINE_NAME " %s: %s", zOp, zErr);
}
static Db *dbOpen(const char *zDir, int bSync){
  Db *p = calloc(1, sizeof(*p));
  char *zErr = 0;
  p->opts = L(options_create)();
  L(options_set_create_if_missing)(p->opts, 1);
  L(options_set_write_buffer_size)(p->opts, WRITE_BUFFER);
  p->cache = L(cache_create_lru)(CACHE_SIZE);
#if defined(ENGINE_LEVELDB)
  /* LevelDB's defaults: snappy, 4 KiB blocks, 2 MiB files; no filter
  ** unless asked, so add the same 10-bit bloom filter kvstore uses. */
  p->filter = leveldb_filterpolicy_create_bloom(BLOOM_BITS);
  leveldb_options_set_filter_policy(p->opts, p->filter);
  leveldb_options_set_cache(p->opts, p->cache);
#else
  p->bbo = rocksdb_block_based_options_create();
  rocksdb_block_based_options_set_block_cache(p->bbo, p->cache);
  rocksdb_block_based_options_set_filter_policy(p->bbo,
      rocksdb_filterpolicy_create_bloom(BLOOM_BITS));
  rocksdb_options_set_block_based_table_factory(p->opts, p->bbo);
#endif
#if defined(ENGINE_LEVELDB)
  if( eComp!=COMP_DEFAULT ){
    zComp = eComp==COMP_NONE ? "none" : "snappy";
    leveldb_options_set_compression(p->opts, eComp==COMP_NONE ?
        leveldb_no_compression : leveldb_snappy_compression);
  }
#else
  if( eComp!=COMP_DEFAULT ){
    zComp = eComp==COMP_NONE ? "none" : "lz4";
    rocksdb_options_set_compression(p->opts, eComp==COMP_NONE ?
        rocksdb_no_compression : rocksdb_lz4_compression);
  }
#endif
  p->db = L(open)(p->opts, zDir, &zErr);
#if defined(ENGINE_ROCKSDB)
  if( zErr && eComp==COMP_FAST ){
    /* A library built without lz4 refuses it at open: use snappy. */
    rocksdb_free(zErr);
    zErr = 0;
    zComp = "snappy";
    rocksdb_options_set_compression(p->opts, rocksdb_snappy_compression);
    p->db = L(open)(p->opts, zDir, &zErr);
  }
#endif
  lCheck(zErr, "open");
  p->ropts = L(readoptions_create)();
  p->wopts = L(writeoptions_create)();
  L(writeoptions_set_sync)(p->wopts, bSync);
  p->batch = L(writebatch_create)();
  return p;
}
static void dbClose(Db *p){
  L(close)(p->db);
  L(writebatch_destroy)(p->batch);
  L(readoptions_destroy)(p->ropts);
  L(writeoptions_destroy)(p->wopts);
  L(options_destroy)(p->opts);
#if defined(ENGINE_ROCKSDB)
  rocksdb_block_based_options_destroy(p->bbo);
#else
  leveldb_filterpolicy_destroy(p->filter);
#endif
  L(cache_destroy)(p->cache);
  free(p);
}
static void dbPut(Db *p, const char *k, size_t nk, const char *v, size_t nv){
  char *zErr = 0;
  L(put)(p->db, p->wopts, k, nk, v, nv, &zErr);
  lCheck(zErr, "put");
}
static int dbGet(Db *p, const char *k, size_t nk, size_t *pnVal){
  char *zErr = 0;
  size_t n = 0;
  char *v = L(get)(p->db, p->ropts, k, nk, &n, &zErr);
  lCheck(zErr, "get");
  *pnVal = v ? n : 0;
  if( v ){ L(free)(v); return 1; }
  return 0;
}
static void dbDelete(Db *p, const char *k, size_t nk){
  char *zErr = 0;
  L(delete)(p->db, p->wopts, k, nk, &zErr);
  lCheck(zErr, "delete");
}
static void dbBatchPut(Db *p, const char *k, size_t nk, const char *v,
                       size_t nv){
  L(writebatch_put)(p->batch, k, nk, v, nv);
}
static void dbBatchCommit(Db *p){
  char *zErr = 0;
  L(write)(p->db, p->wopts, p->batch, &zErr);
  lCheck(zErr, "write");
  L(writebatch_clear)(p->batch);
}
static Iter *dbIterNew(Db *p){
  Iter *it = calloc(1, sizeof(*it));
  it->it = L(create_iterator)(p->db, p->ropts);
  return it;
}
static void dbIterStart(Iter *it, const char *k, size_t nk, int bRev){
  it->bRev = bRev;
  if( k ){
    L(iter_seek)(it->it, k, nk);
    if( bRev ){
      /* seek_for_prev: step back unless the seek landed on key itself */
      if( !L(iter_valid)(it->it) ) L(iter_seek_to_last)(it->it);
      else{
        size_t n; const char *z = L(iter_key)(it->it, &n);
        if( n!=nk || memcmp(z, k, n)!=0 ) L(iter_prev)(it->it);
      }
    }
  }else if( bRev ){
    L(iter_seek_to_last)(it->it);
  }else{
    L(iter_seek_to_first)(it->it);
  }
}
static void dbIterStep(Iter *it){
  if( it->bRev ) L(iter_prev)(it->it); else L(iter_next)(it->it);
}
static int dbIterValid(Iter *it){ return L(iter_valid)(it->it); }
static size_t dbIterEntry(Iter *it){
  size_t nk = 0, nv = 0;
  L(iter_key)(it->it, &nk);
  L(iter_value)(it->it, &nv);
  return nk + nv;
}
static void dbIterFree(Iter *it){
  char *zErr = 0;
  L(iter_get_error)(it->it, &zErr);
  lCheck(zErr, "iterator");
  L(iter_destroy)(it->it);
  free(it);
}
static char *dbEngineStats(Db *p){
  return L(property_value)(p->db, ENGINE_NAME ".stats");
}
static void dbEngineStatsFree(char *z){ L(free)(z); }

#elif defined(ENGINE_LMDB)
/* ------------------------------------------------------------------- LMDB
** Unsynced writes use MDB_NOSYNC (commits are written with pwrite but not
** fsynced, the counterpart of the LSMs' unsynced WAL appends); fillsync
** uses LMDB's default durable commit. Each get runs in a read transaction
** renewed per operation (LMDB's cheap way to read the latest state). */
#include <lmdb.h>
#define ENGINE_NAME "lmdb"
struct Db {
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *rtxn;        /* reset read transaction, renewed by each dbGet */
  MDB_txn *wtxn;        /* open write transaction of a batch, or NULL */
};
struct Iter { MDB_txn *txn; MDB_cursor *cur; int bRev; int bValid;
              MDB_val k, v; };

static void mCheck(int rc, const char *zOp){
  if( rc!=MDB_SUCCESS ) die("lmdb %s: %s", zOp, mdb_strerror(rc));
}
/* The map's size in GiB; valgrind cannot reserve 64 GiB of address space,
** so doc/readpath.md builds a copy with -DKVBENCH_LMDB_MAP_GIB=4. */
#ifndef KVBENCH_LMDB_MAP_GIB
# define KVBENCH_LMDB_MAP_GIB 64
#endif
static Db *dbOpen(const char *zDir, int bSync){
  Db *p = calloc(1, sizeof(*p));
  MDB_txn *txn;
  mkdir(zDir, 0755);
  mCheck(mdb_env_create(&p->env), "env_create");
  mCheck(mdb_env_set_mapsize(p->env, (size_t)KVBENCH_LMDB_MAP_GIB<<30),
         "set_mapsize");
  mCheck(mdb_env_open(p->env, zDir, MDB_NOTLS | (bSync ? 0 : MDB_NOSYNC),
                      0644), "env_open");
  mCheck(mdb_txn_begin(p->env, 0, 0, &txn), "txn_begin");
  mCheck(mdb_dbi_open(txn, 0, 0, &p->dbi), "dbi_open");
  mCheck(mdb_txn_commit(txn), "txn_commit");
  mCheck(mdb_txn_begin(p->env, 0, MDB_RDONLY, &p->rtxn), "txn_begin");
  mdb_txn_reset(p->rtxn);
  return p;
}
static void dbClose(Db *p){
  mdb_txn_abort(p->rtxn);
  mCheck(mdb_env_sync(p->env, 1), "env_sync");
  mdb_env_close(p->env);
  free(p);
}
static void dbPut(Db *p, const char *k, size_t nk, const char *v, size_t nv){
  MDB_txn *txn;
  MDB_val mk = {nk, (void*)k}, mv = {nv, (void*)v};
  mCheck(mdb_txn_begin(p->env, 0, 0, &txn), "txn_begin");
  mCheck(mdb_put(txn, p->dbi, &mk, &mv, 0), "put");
  mCheck(mdb_txn_commit(txn), "commit");
}
static int dbGet(Db *p, const char *k, size_t nk, size_t *pnVal){
  MDB_val mk = {nk, (void*)k}, mv;
  int rc;
  mCheck(mdb_txn_renew(p->rtxn), "txn_renew");
  rc = mdb_get(p->rtxn, p->dbi, &mk, &mv);
  if( rc!=MDB_NOTFOUND ) mCheck(rc, "get");
  *pnVal = rc==MDB_SUCCESS ? mv.mv_size : 0;
  mdb_txn_reset(p->rtxn);
  return rc==MDB_SUCCESS;
}
static void dbDelete(Db *p, const char *k, size_t nk){
  MDB_txn *txn;
  MDB_val mk = {nk, (void*)k};
  int rc;
  mCheck(mdb_txn_begin(p->env, 0, 0, &txn), "txn_begin");
  rc = mdb_del(txn, p->dbi, &mk, 0);
  if( rc!=MDB_NOTFOUND ) mCheck(rc, "del");
  mCheck(mdb_txn_commit(txn), "commit");
}
static void dbBatchPut(Db *p, const char *k, size_t nk, const char *v,
                       size_t nv){
  MDB_val mk = {nk, (void*)k}, mv = {nv, (void*)v};
  if( !p->wtxn ) mCheck(mdb_txn_begin(p->env, 0, 0, &p->wtxn), "txn_begin");
  mCheck(mdb_put(p->wtxn, p->dbi, &mk, &mv, 0), "put");
}
static void dbBatchCommit(Db *p){
  if( p->wtxn ) mCheck(mdb_txn_commit(p->wtxn), "commit");
  p->wtxn = 0;
}
static Iter *dbIterNew(Db *p){
  Iter *it = calloc(1, sizeof(*it));
  mCheck(mdb_txn_begin(p->env, 0, MDB_RDONLY, &it->txn), "txn_begin");
  mCheck(mdb_cursor_open(it->txn, p->dbi, &it->cur), "cursor_open");
  return it;
}
static void iterMove(Iter *it, MDB_cursor_op op){
  int rc = mdb_cursor_get(it->cur, &it->k, &it->v, op);
  if( rc!=MDB_NOTFOUND ) mCheck(rc, "cursor_get");
  it->bValid = rc==MDB_SUCCESS;
}
static void dbIterStart(Iter *it, const char *k, size_t nk, int bRev){
  it->bRev = bRev;
  if( k ){
    it->k.mv_size = nk; it->k.mv_data = (void*)k;
    iterMove(it, MDB_SET_RANGE);
    if( bRev ){
      if( !it->bValid ) iterMove(it, MDB_LAST);
      else if( it->k.mv_size!=nk || memcmp(it->k.mv_data, k, nk)!=0 ){
        iterMove(it, MDB_PREV);
      }
    }
  }else{
    iterMove(it, bRev ? MDB_LAST : MDB_FIRST);
  }
}
static void dbIterStep(Iter *it){ iterMove(it, it->bRev ? MDB_PREV : MDB_NEXT); }
static int dbIterValid(Iter *it){ return it->bValid; }
static size_t dbIterEntry(Iter *it){ return it->k.mv_size + it->v.mv_size; }
static void dbIterFree(Iter *it){
  mdb_cursor_close(it->cur);
  mdb_txn_abort(it->txn);
  free(it);
}
static char *dbEngineStats(Db *p){ (void)p; return 0; }
static void dbEngineStatsFree(char *z){ (void)z; }

#elif defined(ENGINE_SQLITE)
/* ----------------------------------------------------------------- SQLite
** CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, WAL mode,
** synchronous=NORMAL (FULL for fillsync), 8 MiB page cache. One connection;
** a mutex serializes the writer threads of fillsync. Every put and get is
** its own autocommit statement; a batch is BEGIN ... COMMIT. */
#include <sqlite3.h>
#define ENGINE_NAME "sqlite"
struct Db {
  sqlite3 *db;
  sqlite3_stmt *pPut, *pGet, *pDel, *pBegin, *pCommit;
  pthread_mutex_t mu;
  int bInBatch;
};
struct Iter { Db *p; sqlite3_stmt *pStmt; int bValid; };

static void sCheck(Db *p, int rc, const char *zOp){
  if( rc!=SQLITE_OK && rc!=SQLITE_DONE && rc!=SQLITE_ROW ){
    die("sqlite %s: %s", zOp, sqlite3_errmsg(p->db));
  }
}
static void sExec(Db *p, const char *zSql){
  sCheck(p, sqlite3_exec(p->db, zSql, 0, 0, 0), zSql);
}
static sqlite3_stmt *sPrep(Db *p, const char *zSql){
  sqlite3_stmt *s = 0;
  sCheck(p, sqlite3_prepare_v2(p->db, zSql, -1, &s, 0), zSql);
  return s;
}
static Db *dbOpen(const char *zDir, int bSync){
  Db *p = calloc(1, sizeof(*p));
  char zPath[4096];
  mkdir(zDir, 0755);
  snprintf(zPath, sizeof(zPath), "%s/db.sqlite", zDir);
  if( sqlite3_open(zPath, &p->db)!=SQLITE_OK ) die("sqlite open %s", zPath);
  sExec(p, "PRAGMA journal_mode=WAL");
  sExec(p, bSync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  sExec(p, "PRAGMA cache_size=-8192");
  sExec(p, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB)"
           " WITHOUT ROWID");
  p->pPut = sPrep(p, "INSERT OR REPLACE INTO kv(k,v) VALUES(?1,?2)");
  p->pGet = sPrep(p, "SELECT v FROM kv WHERE k=?1");
  p->pDel = sPrep(p, "DELETE FROM kv WHERE k=?1");
  p->pBegin = sPrep(p, "BEGIN");
  p->pCommit = sPrep(p, "COMMIT");
  pthread_mutex_init(&p->mu, 0);
  return p;
}
static void dbClose(Db *p){
  sqlite3_finalize(p->pPut); sqlite3_finalize(p->pGet);
  sqlite3_finalize(p->pDel); sqlite3_finalize(p->pBegin);
  sqlite3_finalize(p->pCommit);
  if( sqlite3_close(p->db)!=SQLITE_OK ) die("sqlite close");
  pthread_mutex_destroy(&p->mu);
  free(p);
}
static void sStep(Db *p, sqlite3_stmt *s, const char *zOp){
  int rc = sqlite3_step(s);
  sCheck(p, rc, zOp);
  sqlite3_reset(s);
}
static void dbPut(Db *p, const char *k, size_t nk, const char *v, size_t nv){
  pthread_mutex_lock(&p->mu);
  sqlite3_bind_blob(p->pPut, 1, k, (int)nk, SQLITE_STATIC);
  sqlite3_bind_blob(p->pPut, 2, v, (int)nv, SQLITE_STATIC);
  sStep(p, p->pPut, "put");
  pthread_mutex_unlock(&p->mu);
}
static int dbGet(Db *p, const char *k, size_t nk, size_t *pnVal){
  int rc;
  sqlite3_bind_blob(p->pGet, 1, k, (int)nk, SQLITE_STATIC);
  rc = sqlite3_step(p->pGet);
  sCheck(p, rc, "get");
  *pnVal = rc==SQLITE_ROW ? (size_t)sqlite3_column_bytes(p->pGet, 0) : 0;
  sqlite3_reset(p->pGet);
  return rc==SQLITE_ROW;
}
static void dbDelete(Db *p, const char *k, size_t nk){
  sqlite3_bind_blob(p->pDel, 1, k, (int)nk, SQLITE_STATIC);
  sStep(p, p->pDel, "delete");
}
static void dbBatchPut(Db *p, const char *k, size_t nk, const char *v,
                       size_t nv){
  if( !p->bInBatch ){ sStep(p, p->pBegin, "begin"); p->bInBatch = 1; }
  dbPut(p, k, nk, v, nv);
}
static void dbBatchCommit(Db *p){
  if( p->bInBatch ) sStep(p, p->pCommit, "commit");
  p->bInBatch = 0;
}
static Iter *dbIterNew(Db *p){
  Iter *it = calloc(1, sizeof(*it));
  it->p = p;
  return it;
}
static void iterStepS(Iter *it){
  int rc = sqlite3_step(it->pStmt);
  sCheck(it->p, rc, "scan");
  it->bValid = rc==SQLITE_ROW;
}
static void dbIterStart(Iter *it, const char *k, size_t nk, int bRev){
  static const char *azSql[4] = {
    "SELECT k,v FROM kv ORDER BY k",
    "SELECT k,v FROM kv ORDER BY k DESC",
    "SELECT k,v FROM kv WHERE k>=?1 ORDER BY k",
    "SELECT k,v FROM kv WHERE k<=?1 ORDER BY k DESC",
  };
  if( it->pStmt ) sqlite3_finalize(it->pStmt);
  it->pStmt = sPrep(it->p, azSql[(k ? 2 : 0) + (bRev ? 1 : 0)]);
  if( k ) sqlite3_bind_blob(it->pStmt, 1, k, (int)nk, SQLITE_STATIC);
  iterStepS(it);
}
static void dbIterStep(Iter *it){ iterStepS(it); }
static int dbIterValid(Iter *it){ return it->bValid; }
static size_t dbIterEntry(Iter *it){
  return (size_t)sqlite3_column_bytes(it->pStmt, 0)
       + (size_t)sqlite3_column_bytes(it->pStmt, 1);
}
static void dbIterFree(Iter *it){
  sqlite3_finalize(it->pStmt);
  free(it);
}
static char *dbEngineStats(Db *p){ (void)p; return 0; }
static void dbEngineStatsFree(char *z){ (void)z; }

#else
# error "compile with one of -DENGINE_KVSTORE -DENGINE_LEVELDB -DENGINE_ROCKSDB -DENGINE_LMDB -DENGINE_SQLITE"
#endif

/* ------------------------------------------------------------ generators */

/* Zipfian over [0,n) with constant theta, after Gray et al., "Quickly
** generating billion-record synthetic databases" (the algorithm YCSB's
** ZipfianGenerator uses). Rank 0 is the most popular item. */
typedef struct Zipf { uint64_t n; double theta, alpha, zetan, eta; } Zipf;
static double zeta(uint64_t n, double theta){
  double s = 0;
  uint64_t i;
  for(i=1; i<=n; i++) s += 1.0/pow((double)i, theta);
  return s;
}
static void zipfInit(Zipf *z, uint64_t n, double theta){
  double zeta2 = zeta(2, theta);
  z->n = n; z->theta = theta;
  z->alpha = 1.0/(1.0-theta);
  z->zetan = zeta(n, theta);
  z->eta = (1.0 - pow(2.0/(double)n, 1.0-theta)) / (1.0 - zeta2/z->zetan);
}
static uint64_t zipfNext(const Zipf *z, Rng *r){
  double u = rngDouble(r), uz = u*z->zetan;
  uint64_t v;
  if( uz<1.0 ) return 0;
  if( uz<1.0 + pow(0.5, z->theta) ) return 1;
  v = (uint64_t)((double)z->n * pow(z->eta*u - z->eta + 1.0, z->alpha));
  return v>=z->n ? z->n-1 : v;
}
/* Scatter popular ranks over the key space (YCSB's scrambled zipfian). */
static uint64_t fnv64(uint64_t x){
  uint64_t h = 0xcbf29ce484222325ull;
  int i;
  for(i=0; i<8; i++){ h ^= x & 0xff; h *= 0x100000001b3ull; x >>= 8; }
  return h;
}

/* Values: consecutive slices of valBufNew()'s buffer (benchutil.h). */
typedef struct ValGen { char *a; size_t pos, n; } ValGen;
static void valInit(ValGen *g, size_t nVal){
  g->a = valBufNew(nVal);
  g->n = nVal; g->pos = 0;
}
static const char *valNext(ValGen *g){
  const char *z;
  if( g->pos + g->n > VBUF_SIZE ) g->pos = 0;
  z = g->a + g->pos;
  g->pos += g->n;
  return z;
}

/* ------------------------------------------------------------ measuring */
static void ioBytes(uint64_t *pWrite, uint64_t *pCancel){
  FILE *f = fopen("/proc/self/io", "r");
  char z[128];
  *pWrite = *pCancel = 0;
  if( !f ) return;
  while( fgets(z, sizeof(z), f) ){
    unsigned long long v;
    if( sscanf(z, "write_bytes: %llu", &v)==1 ) *pWrite = v;
    if( sscanf(z, "cancelled_write_bytes: %llu", &v)==1 ) *pCancel = v;
  }
  fclose(f);
}

/* A number out of a JSON text: the value after "\"name\":". */
static double jsonNum(const char *zJson, const char *zName){
  char zPat[64];
  const char *z;
  if( !zJson ) return -1;
  snprintf(zPat, sizeof(zPat), "\"%s\":", zName);
  z = strstr(zJson, zPat);
  return z ? atof(z + strlen(zPat)) : -1;
}

/* ------------------------------------------------------------ workloads */
typedef struct Bench {
  const char *zWork;
  Db *db;
  uint64_t n;            /* records in the store */
  uint64_t nOps;         /* operations requested */
  int nThread;
  double duration;       /* stop a non-fill workload after this many secs */
  size_t nVal;
  /* results */
  uint64_t nDone, nFound, nByte, nUserByte;
  uint64_t nCommit;      /* commits made (puts, deletes, batches) */
  Hist hist;
} Bench;

typedef struct Worker {
  Bench *b;
  int iThread;
  uint64_t nOps;
  Hist hist;
  uint64_t nByte;
} Worker;

static void *fillsyncThread(void *pArg){
  Worker *w = (Worker*)pArg;
  Rng r = {1000 + (uint64_t)w->iThread};
  ValGen g;
  uint64_t i;
  char k[KEY_SIZE];
  valInit(&g, w->b->nVal);
  for(i=0; i<w->nOps; i++){
    uint64_t t0;
    keyFmt(k, rngUniform(&r, w->b->n));
    t0 = nowNs();
    dbPut(w->b->db, k, KEY_SIZE, valNext(&g), w->b->nVal);
    histAdd(&w->hist, nowNs() - t0);
    w->nByte += KEY_SIZE + w->b->nVal;
  }
  free(g.a);
  return 0;
}

static int isFill(const char *z){ return strncmp(z, "fill", 4)==0; }

static void runWorkload(Bench *b){
  const char *w = b->zWork;
  Rng r = {42};
  ValGen g;
  char k[KEY_SIZE+1];
  uint64_t i, t0;
  double tEnd = nowSec() + b->duration;
  int bTimed = strcmp(w, "fillrandom")!=0;  /* the base store must be whole */
  size_t nv;

  valInit(&g, b->nVal);
#define TIMEUP() (bTimed && (i & 255)==0 && nowSec()>tEnd)
#define OP_BEGIN() t0 = nowNs()
#define OP_END() histAdd(&b->hist, nowNs() - t0)

  if( strcmp(w, "fillseq")==0 || strcmp(w, "fillrandom")==0
   || strcmp(w, "overwrite")==0 ){
    Perm perm;
    int mode = w[4]=='s' ? 0 : w[4]=='r' ? 1 : 2;
    permInit(&perm, b->n);
    for(i=0; i<b->nOps; i++){
      uint64_t key = mode==0 ? i : mode==1 ? permAt(&perm, i)
                                          : rngUniform(&r, b->n);
      if( TIMEUP() ) break;
      keyFmt(k, key);
      OP_BEGIN();
      dbPut(b->db, k, KEY_SIZE, valNext(&g), b->nVal);
      OP_END();
      b->nByte += KEY_SIZE + b->nVal;
    }
    b->nDone = b->nCommit = i;
    b->nUserByte = b->nByte;
  }else if( strcmp(w, "fillbatch")==0 ){
    Perm perm;
    permInit(&perm, b->n);
    for(i=0; i<b->nOps; ){
      uint64_t j, nb = b->nOps - i < BATCH_SIZE ? b->nOps - i : BATCH_SIZE;
      if( nowSec()>tEnd ) break;
      OP_BEGIN();
      for(j=0; j<nb; j++){
        keyFmt(k, permAt(&perm, i+j));
        dbBatchPut(b->db, k, KEY_SIZE, valNext(&g), b->nVal);
      }
      dbBatchCommit(b->db);
      OP_END();                          /* latency of a whole batch */
      b->nCommit++;
      b->nByte += nb*(KEY_SIZE + b->nVal);
      i += nb;
    }
    b->nDone = i;
    b->nUserByte = b->nByte;
  }else if( strcmp(w, "fillsync")==0 ){
    Worker *aW = calloc((size_t)b->nThread, sizeof(Worker));
    pthread_t *aT = calloc((size_t)b->nThread, sizeof(pthread_t));
    int t;
    for(t=0; t<b->nThread; t++){
      aW[t].b = b; aW[t].iThread = t;
      aW[t].nOps = b->nOps/(uint64_t)b->nThread
                 + ((uint64_t)t < b->nOps%(uint64_t)b->nThread);
      if( pthread_create(&aT[t], 0, fillsyncThread, &aW[t]) ) die("thread");
    }
    for(t=0; t<b->nThread; t++){
      pthread_join(aT[t], 0);
      histMerge(&b->hist, &aW[t].hist);
      b->nByte += aW[t].nByte;
    }
    b->nDone = b->nCommit = b->nOps;
    b->nUserByte = b->nByte;
    free(aW); free(aT);
  }else if( strcmp(w, "readrandom")==0 || strcmp(w, "readmissing")==0
         || strcmp(w, "readhot")==0 ){
    uint64_t range = w[4]=='h' ? (b->n/100 ? b->n/100 : 1) : b->n;
    size_t nk = w[4]=='m' ? KEY_SIZE+1 : KEY_SIZE;
    k[KEY_SIZE] = '.';
    for(i=0; i<b->nOps; i++){
      if( TIMEUP() ) break;
      keyFmt(k, rngUniform(&r, range));
      OP_BEGIN();
      if( dbGet(b->db, k, nk, &nv) ){ b->nFound++; b->nByte += nk + nv; }
      OP_END();
    }
    b->nDone = i;
  }else if( strcmp(w, "readseq")==0 || strcmp(w, "readreverse")==0 ){
    Iter *it = dbIterNew(b->db);
    int bRev = w[4]=='r';
    dbIterStart(it, 0, 0, bRev);
    for(i=0; i<b->nOps && dbIterValid(it); i++){
      if( TIMEUP() ) break;
      b->nByte += dbIterEntry(it);
      b->nFound++;
      if( (i & 15)==0 ){
        OP_BEGIN(); dbIterStep(it); OP_END();
      }else{
        dbIterStep(it);
      }
    }
    b->nDone = i;
    dbIterFree(it);
  }else if( strcmp(w, "seekrandom")==0 ){
    for(i=0; i<b->nOps; i++){
      Iter *it;
      int j;
      if( TIMEUP() ) break;
      keyFmt(k, rngUniform(&r, b->n));
      OP_BEGIN();
      it = dbIterNew(b->db);
      dbIterStart(it, k, KEY_SIZE, 0);
      if( dbIterValid(it) && dbIterEntry(it) ) b->nFound++;
      for(j=0; j<=SCAN_NEXTS && dbIterValid(it); j++){
        b->nByte += dbIterEntry(it);
        if( j<SCAN_NEXTS ) dbIterStep(it);
      }
      dbIterFree(it);
      OP_END();
    }
    b->nDone = i;
  }else if( strcmp(w, "deleterandom")==0 ){
    for(i=0; i<b->nOps; i++){
      if( TIMEUP() ) break;
      keyFmt(k, rngUniform(&r, b->n));
      OP_BEGIN();
      dbDelete(b->db, k, KEY_SIZE);
      OP_END();
      b->nByte += KEY_SIZE;
    }
    b->nDone = b->nCommit = i;
    b->nUserByte = b->nByte;
  }else if( strncmp(w, "ycsb", 4)==0 && w[4]>='a' && w[4]<='f' && !w[5] ){
    /* percentages: read, update, insert, scan, rmw */
    static const int aMix[6][5] = {
      {50,50,0,0,0}, {95,5,0,0,0}, {100,0,0,0,0},
      {95,0,5,0,0}, {0,0,5,95,0}, {50,0,0,0,50},
    };
    const int *mix = aMix[w[4]-'a'];
    int bLatest = w[4]=='d';
    uint64_t nRec = b->n;              /* grows with inserts */
    Zipf z;
    zipfInit(&z, b->n, 0.99);
    for(i=0; i<b->nOps; i++){
      int p = (int)rngUniform(&r, 100);
      uint64_t rank = zipfNext(&z, &r), key;
      if( TIMEUP() ) break;
      key = bLatest ? nRec - 1 - rank : fnv64(rank) % b->n;
      keyFmt(k, key);
      OP_BEGIN();
      if( p < mix[0] ){                                   /* read */
        if( dbGet(b->db, k, KEY_SIZE, &nv) ){
          b->nFound++; b->nByte += KEY_SIZE + nv;
        }
      }else if( (p -= mix[0]) < mix[1] ){                 /* update */
        dbPut(b->db, k, KEY_SIZE, valNext(&g), b->nVal);
        b->nByte += KEY_SIZE + b->nVal;
        b->nUserByte += KEY_SIZE + b->nVal;
        b->nCommit++;
      }else if( (p -= mix[1]) < mix[2] ){                 /* insert */
        keyFmt(k, nRec++);
        dbPut(b->db, k, KEY_SIZE, valNext(&g), b->nVal);
        b->nByte += KEY_SIZE + b->nVal;
        b->nUserByte += KEY_SIZE + b->nVal;
        b->nCommit++;
      }else if( (p -= mix[2]) < mix[3] ){                 /* scan */
        int len = 1 + (int)rngUniform(&r, 100), j;
        Iter *it = dbIterNew(b->db);
        dbIterStart(it, k, KEY_SIZE, 0);
        if( dbIterValid(it) ) b->nFound++;
        for(j=0; j<len && dbIterValid(it); j++){
          b->nByte += dbIterEntry(it);
          dbIterStep(it);
        }
        dbIterFree(it);
      }else{                                              /* rmw */
        if( dbGet(b->db, k, KEY_SIZE, &nv) ){
          b->nFound++; b->nByte += KEY_SIZE + nv;
        }
        dbPut(b->db, k, KEY_SIZE, valNext(&g), b->nVal);
        b->nByte += KEY_SIZE + b->nVal;
        b->nUserByte += KEY_SIZE + b->nVal;
        b->nCommit++;
      }
      OP_END();
    }
    b->nDone = i;
  }else{
    die("unknown workload '%s'", w);
  }
  free(g.a);
}

int main(int argc, char **argv){
  Bench b;
  const char *zDb = 0, *v;
  int i, bSync, bStats = 0;
  uint64_t w0, c0, w1, c1;
  double t0, secs, wampEngine = -1, fsyncs = -1;
  struct rusage ru;
  char *zStats;

  memset(&b, 0, sizeof(b));
  b.n = 1000000; b.nThread = 1; b.duration = 60; b.nVal = 100;
  for(i=1; i<argc; i++){
    const char *a = argv[i];
    if( strncmp(a, "--", 2)==0 ) a += 2;
    if( strcmp(a, "header")==0 ){ printf("%s\n", CSV_HEADER); return 0; }
    else if( strcmp(a, "stats")==0 ) bStats = 1;
#ifdef ENGINE_KVSTORE
    else if( (v = argVal(a, "opt")) && nKvOpt<16 ) azKvOpt[nKvOpt++] = v;
#endif
    else if( (v = argVal(a, "workload")) ) b.zWork = v;
    else if( (v = argVal(a, "db")) ) zDb = v;
    else if( (v = argVal(a, "num")) ) b.n = strtoull(v, 0, 10);
    else if( (v = argVal(a, "ops")) ) b.nOps = strtoull(v, 0, 10);
    else if( (v = argVal(a, "threads")) ) b.nThread = atoi(v);
    else if( (v = argVal(a, "duration")) ) b.duration = atof(v);
    else if( (v = argVal(a, "value_size")) ) b.nVal = (size_t)atoi(v);
    else if( (v = argVal(a, "compression")) ){
      if( strcmp(v, "default")==0 ) eComp = COMP_DEFAULT;
      else if( strcmp(v, "none")==0 ) eComp = COMP_NONE;
      else if( strcmp(v, "fast")==0 ) eComp = COMP_FAST;
      else die("--compression=%s: use default, none or fast", v);
    }
    else die("unknown argument '%s' (see the comment at the top of "
             "bench/kvbench.c)", argv[i]);
  }
  if( !b.zWork || !zDb ) die("usage: %s --workload=NAME --db=DIR [--num=N] "
      "[--ops=N] [--threads=T] [--duration=S] [--value_size=N] "
      "[--compression=default|none|fast] | --header",
      argv[0]);
  if( b.n==0 || b.nThread<1 || b.nVal>VBUF_SIZE ) die("bad --num/--threads/"
      "--value_size");
  if( b.nOps==0 ){
    if( strcmp(b.zWork, "fillsync")==0 ) b.nOps = 10000;
    else if( strcmp(b.zWork, "seekrandom")==0 ) b.nOps = b.n/10 ? b.n/10 : 1;
    else b.nOps = b.n;
  }
  bSync = strcmp(b.zWork, "fillsync")==0;
  if( isFill(b.zWork) ) rmTree(zDb);

  ioBytes(&w0, &c0);
  b.db = dbOpen(zDb, bSync);
  t0 = nowSec();
  runWorkload(&b);
  secs = nowSec() - t0;
  zStats = dbEngineStats(b.db);
  if( bStats ) fprintf(stderr, "%s\n", zStats ? zStats : "(no stats)");
  if( zStats ){
    /* kv_stats "commits" counts commit groups (one per leader), so divide
    ** the fsyncs by the commits this process made instead. */
    double s = jsonNum(zStats, "syncs");
    if( b.nUserByte ) wampEngine = jsonNum(zStats, "write_amplification");
    if( s>=0 && b.nCommit>0 ) fsyncs = s/(double)b.nCommit;
    dbEngineStatsFree(zStats);
  }
  dbClose(b.db);
  ioBytes(&w1, &c1);
  getrusage(RUSAGE_SELF, &ru);

  printf("%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.3f,%.0f,%.2f,%.2f,%.2f,"
         "%.1f,%.1f,%.1f,",
         ENGINE_NAME, b.zWork, b.n, b.nDone, b.nFound, secs,
         secs>0 ? (double)b.nDone/secs : 0,
         secs>0 ? (double)b.nByte/secs/1048576.0 : 0,
         histPct(&b.hist, 50)/1000.0, histPct(&b.hist, 99)/1000.0,
         ru.ru_maxrss/1024.0, diskBytes(zDb)/1048576.0,
         b.nUserByte/1048576.0);
  if( b.nUserByte ){
    double io = ((double)w1 - (double)c1) - ((double)w0 - (double)c0);
    printf("%.2f,", (io>0 ? io : 0) / (double)b.nUserByte);
  }else{
    printf(",");
  }
  if( wampEngine>=0 ) printf("%.2f,", wampEngine); else printf(",");
  if( fsyncs>=0 ) printf("%.3f,", fsyncs); else printf(",");
  printf("%.2f,%s\n", b.nDone ? cpuSecs(&ru)*1e6/(double)b.nDone : 0.0,
         zComp);
  return 0;
}
