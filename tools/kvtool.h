/*
** kvtool.h - shared declarations of the kvtool command-line tool
** (tools/kvtool.c: commands over a store; tools/kvtool_dump.c: the file
** dumps; tools/kvtool_svg.c: the LSM-shape picture). The tool uses the
** engine alone (engine/kv.h, and engine/kvInt.h for the file formats)
** and never touch SQLite. The commands that name the owning database with
** --db (tools/kvtool_sql.c: put, delete, batch-load, compact, checkpoint,
** repair, and get or scan when given --db) go through SQLite and the
** extension linked in (as libkvstore.a links it). See doc/kvtool.md.
*/
#ifndef KVTOOL_H
#define KVTOOL_H

#include <stdio.h>
#include "kvInt.h"

/* Exit codes (doc/kvtool.md). */
#define KT_OK       0   /* the command did what was asked */
#define KT_PROBLEM  1   /* it ran and found a problem (damage, key absent) */
#define KT_USAGE    2   /* bad command line */
#define KT_CANTOPEN 3   /* the store or file cannot be opened or read */
#define KT_BUSY     4   /* maintenance refused: another process uses the
                        ** store (or the database stayed locked) */

/* Parsed command line common to every command. */
typedef struct KtArgs KtArgs;
struct KtArgs {
  const char *zCmd;             /* command name */
  const char *zDir;             /* STORE_DIR */
  const char *zArg;             /* positional argument after it, or NULL */
  int bJson;                    /* --json */
  int bEntries;                 /* dump-sst --entries */
  int bReverse;                 /* scan --reverse */
  int bFull;                    /* compact --full */
  int bHexKey;                  /* --hex: text keys given as hex */
  long long nLimit;             /* --limit (-1 = none) */
  const char *zPrefix;          /* scan --prefix */
  const char *zFrom, *zTo;      /* scan --from (>=) --to (<) */
  const char *zSvg;             /* --svg FILE */
  const char *zArg2;            /* second positional argument (put VALUE) */
  const char *zDb;              /* --db FILE: the owning database */
  const char *zTable;           /* --table NAME (found from STORE_DIR if not) */
  const char *zType;            /* put --type of VALUE (text by default) */
  long long nGenerate;          /* batch-load --generate N (-1: not given) */
  const char *zFile;            /* batch-load --file F ("-": stdin) */
  long long nValueSize;         /* batch-load --value-size B */
  int bProgress;                /* show a progress bar (stderr a terminal) */
};

/* Print an error "kvtool: ..." on stderr; returns exit code e. */
int ktFail(int e, const char *zFmt, ...);
/* JSON string of n bytes (control characters, quote, backslash escaped;
** bytes that are not valid UTF-8 as \u00XX). */
void ktJsonStr(FILE *f, const void *p, size_t n);
/* Lower-case hex of n bytes. */
void ktHex(FILE *f, const void *p, size_t n);
/* A stored key shown as the table shows it, in SQL literal form (text
** mode) or as a JSON value (bJson): eKeyType is KV_KEY_*. */
void ktShowKey(FILE *f, int eKeyType, const u8 *p, size_t n, int bJson);
/* A stored value (the row encoding of kvrow.h) likewise; a value that
** does not follow the encoding is shown as its hex with a note. */
void ktShowValue(FILE *f, const u8 *p, size_t n, int bJson);
/* The SQL type name of a stored value ("integer", "real", "text", "blob",
** "null", or "invalid"). */
const char *ktValueType(const u8 *p, size_t n);
/* Human size: "1.5 MiB". Static buffer per call (rotating, 4 slots). */
const char *ktSize(u64 n);

/* Is zDir a directory holding a store (its KVSTORE file)? KT_OK, or the
** exit code after printing why not. */
int ktCheckStoreDir(const char *zDir);

/* Does another process use the store a->zDir? The ONE place that knows
** the store's LOCK protocol (kvtool.c). KT_OK when none does; KT_BUSY (its
** message printed, naming a->zCmd) when one does; KT_CANTOPEN when LOCK
** cannot be taken for another reason. With ppHold, the store stays claimed
** on KT_OK until ktStoreRelease(*ppHold); without it, the claim ends at
** once (the caller's own open of the store then claims it). */
int ktStoreClaim(const KtArgs *a, KvFile **ppHold);
void ktStoreRelease(KvFile *pHold);

/* Keys given on the command line (kvtool.c). ktParseKey encodes z as the
** table stores keys of eKeyType (kvMalloc'd *pa); KT_OK or KT_USAGE with a
** message naming zWhat. ktScanBounds turns scan's --prefix, --from and --to
** into an inclusive lower bound (*paFrom, NULL: none) and an exclusive
** upper one (*paEnd, NULL: none), both kvMalloc'd encoded keys. */
int ktParseKey(const KtArgs *a, int eKeyType, const char *zWhat,
               const char *z, u8 **pa, size_t *pn);
int ktScanBounds(const KtArgs *a, int eKeyType, u8 **paFrom, size_t *pnFrom,
                 u8 **paEnd, size_t *pnEnd);
/* Decode hex (ab01 or x'ab01') into *pa (kvMalloc); 0 if not hex. */
int ktParseHex(const char *z, u8 **pa, size_t *pn);
const char *ktKeyTypeName(int eKeyType);

/* Progress bar on stderr (kvtool.c), drawn only when a->bProgress (stderr
** is a terminal), at most ten times a second: "what [####    ] 42% ...".
** ktProgressEnd clears the line. nTotal 0: unknown (done shown alone). */
void ktProgress(const KtArgs *a, const char *zWhat, u64 nDone, u64 nTotal);
void ktProgressEnd(const KtArgs *a);

/* tools/kvtool_sql.c: commands through the owning database (--db). */
int ktSqlPut(const KtArgs *a);
int ktSqlDelete(const KtArgs *a);
int ktSqlBatchLoad(const KtArgs *a);
int ktSqlGet(const KtArgs *a);
int ktSqlScan(const KtArgs *a);
int ktSqlCompact(const KtArgs *a);
int ktSqlCheckpoint(const KtArgs *a);
int ktSqlRepair(const KtArgs *a);

/* tools/kvtool_repair.c: point a damaged or lost CURRENT at the newest
** usable manifest, the store claimed (ktStoreClaim) meanwhile. KT_OK with
** *pbRebuild set when no manifest is usable (the caller rebuilds one
** through the database: kvstore_repair); *pbRebuild 0 and KT_OK when it
** repaired CURRENT or found nothing to repair (it printed which). */
int ktRepairCurrent(const KtArgs *a, int *pbRebuild);

/* tools/kvtool_dump.c */
int ktDumpSst(const KtArgs *a);
int ktDumpWal(const KtArgs *a);
int ktDumpManifest(const KtArgs *a);
/* Path of a file argument: as given when it holds a '/', else inside the
** store directory. kvFree. */
char *ktFilePath(const char *zDir, const char *zFile);

/* tools/kvtool_svg.c: write the shape of the live SSTables as an SVG. */
int ktWriteSvg(const char *zPath, const char *zStore, int eKeyType,
               int nLevel, const kv_sstable_info *aInfo, int nInfo);

#endif /* KVTOOL_H */
