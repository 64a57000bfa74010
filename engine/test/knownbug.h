/*
** knownbug.h - the list of known engine bugs, shared by the unit tests
** (through testutil.h) and the power-cut checker (tests/powercut/pccheck.c),
** which does not use cmocka. Header-only.
*/
#ifndef KV_KNOWNBUG_H
#define KV_KNOWNBUG_H

#include <stdlib.h>
#include <string.h>

/*
** Known engine bugs whose tests are committed before their fix. The
** Makefile's KNOWN_BUGS list reaches the tests as $KV_KNOWN_BUGS (names
** separated by spaces or commas). A test that shows a listed bug reports
** it as an expected failure (XFAIL) instead of failing; a listed bug that
** no longer shows fails the test (XPASS), so the list is emptied when the
** fix lands. Names:
**   wal-cut-unsynced   a WAL segment preallocated and fsynced, then cut to
**                      its real length at close without an fsync: after a
**                      power cut it ends in zeros, replay stops there and
**                      skips the later segments (wal.c walRotate,
**                      env_posix.c posixClose/appendCut)
**   missing-current    a store whose CURRENT is missing is created anew
**   store-dir-unsynced kv_open creates the store's directory (db.c,
**                      xMkdir) and never fsyncs its parent: a power cut
**                      may take the whole new store (tests/powercut/)
*/
static inline int tuKnownBug(const char *zName){
  const char *z = getenv("KV_KNOWN_BUGS");
  size_t n = strlen(zName);
  while( z && *z ){
    size_t m;
    while( *z==' ' || *z==',' ) z++;
    m = strcspn(z, " ,");
    if( m==n && memcmp(z, zName, n)==0 ) return 1;
    z += m;
  }
  return 0;
}

#endif /* KV_KNOWNBUG_H */
