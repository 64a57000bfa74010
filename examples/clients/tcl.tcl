# kvstore from Tcl (Debian: libsqlite3-tcl).
#   tclsh examples/clients/tcl.tcl
# Run from the project root after `make` (KVSTORE_SO names the extension
# elsewhere).
package require sqlite3

set ext [expr {[info exists env(KVSTORE_SO)] ? $env(KVSTORE_SO) : "./kvstore"}]
set tmp [file join [expr {[info exists env(TMPDIR)] ? $env(TMPDIR) : "/tmp"}] \
             kvstore-tcl-[pid]]
file mkdir $tmp

sqlite3 db [file join $tmp app.db]
db enable_load_extension 1
db eval {SELECT load_extension($ext)}
db enable_load_extension 0

db eval {CREATE VIRTUAL TABLE fruit USING kvstore}
db transaction {
  foreach {k v} {banana yellow apple red cherry {dark red} date brown
                 blueberry blue} {
    db eval {INSERT INTO fruit(key, value) VALUES ($k, $v)}
  }
}

puts "apple = [db onecolumn {SELECT value FROM fruit WHERE key = 'apple'}]"
set out {}
db eval {SELECT key, value FROM fruit
         WHERE key BETWEEN 'banana' AND 'cherry' ORDER BY key} {
  lappend out "$key=$value"
}
puts "banana..cherry: [join $out { }]"
puts "descending: [join [db eval {SELECT key FROM fruit ORDER BY key DESC}] { }]"
puts "prefix 'b': [join [db eval {SELECT key FROM fruit
                                  WHERE key >= 'b' AND key < 'c'
                                  ORDER BY key}] { }]"
puts "rows: [db onecolumn {SELECT count(*) FROM fruit}]"
db close
file delete -force $tmp
