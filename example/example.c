/*
** example.c - an application that links SQLite and kvstore statically.
**
** Build and run (make static does both):
**
**   cc example/example.c libkvstore.a -lsqlite3 -lz -lpthread -o example
**   ./example
**
** libkvstore.a holds the extension compiled with SQLITE_CORE, so it calls
** SQLite directly instead of through a loader's function table. The
** application registers its entry point once with sqlite3_auto_extension();
** every connection opened afterwards has the kvstore module, with no
** .load and no extension loading enabled.
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

int sqlite3_kvstore_init(sqlite3*, char**, const sqlite3_api_routines*);

static int printRow(void *pArg, int nCol, char **azVal, char **azCol){
  int i;
  (void)pArg;
  for(i=0; i<nCol; i++){
    printf("%s%s=%s", i ? "  " : "", azCol[i], azVal[i] ? azVal[i] : "NULL");
  }
  printf("\n");
  return 0;
}

int main(void){
  sqlite3 *db = 0;
  char *zErr = 0;
  int rc;

  rc = sqlite3_auto_extension((void(*)(void))sqlite3_kvstore_init);
  if( rc==SQLITE_OK ) rc = sqlite3_open(":memory:", &db);
  if( rc==SQLITE_OK ){
    /* An in-memory database: the table's store lives in a private
    ** temporary directory, removed when the connection closes. */
    rc = sqlite3_exec(db,
        "CREATE VIRTUAL TABLE kv USING kvstore(key_type=integer);"
        "INSERT INTO kv VALUES (-1, 'minus one'), (2, 'two'), (1, 'one');"
        "SELECT key, value FROM kv WHERE key >= 0 ORDER BY key DESC;"
        "SELECT name FROM pragma_module_list WHERE name = 'kvstore';",
        printRow, 0, &zErr);
  }
  if( rc!=SQLITE_OK ){
    fprintf(stderr, "example: %s\n", zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  sqlite3_close(db);
  return rc==SQLITE_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
