/*
** log_format.h - the framing constants of log.c's records and of wal.c's
** record header, defined once for the engine and its tests. The formats
** themselves are documented at the top of log.c and wal.c.
*/
#ifndef KV_LOG_FORMAT_H
#define KV_LOG_FORMAT_H

#include <stdint.h>

#define KV_LOG_MAGIC        0xA1                  /* first byte of a record */
#define KV_LOG_HEADER       13                    /* log.c record header */
#define KV_LOG_MAX_PAYLOAD  ((uint64_t)1 << 30)   /* largest payload */
#define KV_WAL_HEADER       20   /* wal.c: first seq, timestamp, count */

#endif /* KV_LOG_FORMAT_H */
