/*
** kvtool.h - shared declarations of the kvtool command-line tool
** (tools/kvtool.c: commands over a store; tools/kvtool_dump.c: the file
** dumps; tools/kvtool_svg.c: the LSM-shape picture). The tool uses the
** engine alone (engine/kv.h, and engine/kvInt.h for the file formats); it
** never links SQLite. See doc/kvtool.md.
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
#define KT_BUSY     4   /* maintenance refused: another process uses the store */

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

/* tools/kvtool_repair.c */
int ktRepair(const KtArgs *a);

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
