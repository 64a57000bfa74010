/*
** pc.h - shared by the power-cut recorder (pcshim.c), its workload
** (pcdrive.c) and the crash-state builder and checker (pccheck.c).
**
** THE LOG. pcshim.so, preloaded into a process, appends one record per
** file-system operation on a file of the traced directory ($PC_DIR) to
** $PC_LOG. A record is a PcRec header, then nPath1 bytes of a name, nPath2
** bytes of a second name (rename's target), then nData bytes of data.
** Names are base names inside the traced directory (the store is flat).
** Files are told apart by an id the shim gives each file when it is
** created (or first seen), not by inode number, which the file system may
** reuse after an unlink.
**
**   PC_CREATE  name, id       a new file appears under name (open O_CREAT)
**   PC_WRITE   id, off, data  bytes written (write, pwrite, or found
**                             changed in a shared writable mapping)
**   PC_SETSIZE id, off        ftruncate: the size becomes off
**   PC_EXTEND  id, off        fallocate: the size becomes max(size, off)
**   PC_RENAME  name, name2    rename inside the directory
**   PC_UNLINK  name
**   PC_FSYNC   id             fsync or fdatasync of a file (both make its
**                             data and size durable)
**   PC_DIRSYNC                fsync of the directory
**   PC_MARK    data           a note from the workload (pc_mark())
**   PC_MKDIR                  the traced directory itself is created
**   PC_PARENTSYNC             fsync of the directory holding it
**   PC_PRESENT name, id, data a file that existed before the trace, with
**                             its bytes: durable as it is
**   PC_LINK    name, name2    link(): name2 becomes another name of name's
**                             file (kvowner.c makes OWNER so)
**
** With $PC_PARENT_PREFIX set, the files of the directory holding the
** traced one whose base names start with it (an SQLite database and its
** journal or WAL; not its -shm, which SQLite rebuilds) are traced too,
** named "../<base name>": their entries become durable with PC_PARENTSYNC,
** those of the traced directory with PC_DIRSYNC.
**
** Integers are native-endian: the log is read on the machine that wrote it.
*/
#ifndef PC_H
#define PC_H

#include <stdint.h>

#define PC_CREATE   1
#define PC_WRITE    2
#define PC_SETSIZE  3
#define PC_EXTEND   4
#define PC_RENAME   5
#define PC_UNLINK   6
#define PC_FSYNC    7
#define PC_DIRSYNC  8
#define PC_MARK     9
#define PC_MKDIR    10
#define PC_PARENTSYNC 11
#define PC_PRESENT  12
#define PC_LINK     13

/* A name of the parent directory (PC_PARENT_PREFIX). */
#define PC_IS_PARENT(z) ((z)[0]=='.' && (z)[1]=='.' && (z)[2]=='/')

typedef struct PcRec PcRec;
struct PcRec {
  uint32_t eOp;                 /* PC_* */
  uint32_t iFile;               /* file id (CREATE, WRITE, SETSIZE, EXTEND,
                                ** FSYNC) */
  uint64_t iOff;                /* offset or size */
  uint32_t nPath1;              /* bytes of the first name */
  uint32_t nPath2;              /* bytes of the second name */
  uint64_t nData;               /* bytes of data */
};

/* The workload (pcdrive.c) and the checker (pccheck.c) open the store with
** these options: small segments and tables, so that a short run rotates
** the WAL, flushes and compacts many times. */
#define PC_OPTIONS \
  "sync=full", "background=off", "wal_segment_size=4KB", \
  "wal_segment_records=6", "level0_trigger=2", "block_size=512", \
  "target_file_size=4KB", "memtable_size=64KB"

/* Batch n (1-based) puts "last"=n and k<n % PC_NKEYS>, and deletes
** k<(n + PC_NKEYS/2) % PC_NKEYS>; the state after any prefix of batches
** is known. */
#define PC_NKEYS 24

#endif
