// kvstore from Go with mattn/go-sqlite3 (Debian:
// golang-github-mattn-go-sqlite3-dev; or go get github.com/mattn/go-sqlite3).
//   go run examples/clients/go/main.go
// Run from the project root after `make` (KVSTORE_SO names the extension
// elsewhere). With Debian's package, offline:
//   GO111MODULE=off GOPATH=/usr/share/gocode go run examples/clients/go/main.go
package main

import (
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

func main() {
	ext := os.Getenv("KVSTORE_SO")
	if ext == "" {
		ext = "./kvstore" // SQLite adds ".so"
	}
	// Every connection the pool opens loads the extension.
	sql.Register("sqlite3_kvstore", &sqlite3.SQLiteDriver{
		Extensions: []string{ext},
	})
	dir, err := os.MkdirTemp("", "kvstore-go-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite3_kvstore", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	_, err = db.Exec("CREATE VIRTUAL TABLE fruit USING kvstore")
	must(err)
	tx, err := db.Begin()
	must(err)
	for _, r := range [][2]string{{"banana", "yellow"}, {"apple", "red"},
		{"cherry", "dark red"}, {"date", "brown"}, {"blueberry", "blue"}} {
		_, err = tx.Exec("INSERT INTO fruit(key, value) VALUES (?, ?)",
			r[0], r[1])
		must(err)
	}
	must(tx.Commit())

	var v string
	must(db.QueryRow("SELECT value FROM fruit WHERE key = ?", "apple").Scan(&v))
	fmt.Printf("apple = %s\n", v)

	pairs := func(q string) []string {
		rows, err := db.Query(q)
		must(err)
		defer rows.Close()
		var out []string
		cols, _ := rows.Columns()
		for rows.Next() {
			var k, val string
			if len(cols) == 2 {
				must(rows.Scan(&k, &val))
				out = append(out, k+"="+val)
			} else {
				must(rows.Scan(&k))
				out = append(out, k)
			}
		}
		must(rows.Err())
		return out
	}
	fmt.Println("banana..cherry: " + strings.Join(pairs(
		"SELECT key, value FROM fruit WHERE key BETWEEN 'banana' AND 'cherry'"+
			" ORDER BY key"), " "))
	fmt.Println("descending: " + strings.Join(pairs(
		"SELECT key FROM fruit ORDER BY key DESC"), " "))
	fmt.Println("prefix 'b': " + strings.Join(pairs(
		"SELECT key FROM fruit WHERE key >= 'b' AND key < 'c' ORDER BY key"),
		" "))
	var n int
	must(db.QueryRow("SELECT count(*) FROM fruit").Scan(&n))
	fmt.Printf("rows: %d\n", n)
}
