// kvstore from Node.js with better-sqlite3 (npm install better-sqlite3).
//   node examples/clients/node.js
// Run from the project root after `make` (KVSTORE_SO names the extension
// elsewhere; NODE_PATH where better-sqlite3 is installed, if not nearby).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const Database = require('better-sqlite3');

const ext = process.env.KVSTORE_SO || './kvstore';   // SQLite adds ".so"
const fruit = [['banana', 'yellow'], ['apple', 'red'], ['cherry', 'dark red'],
               ['date', 'brown'], ['blueberry', 'blue']];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvstore-node-'));
try {
  const db = new Database(path.join(dir, 'app.db'));
  db.loadExtension(ext);

  db.exec('CREATE VIRTUAL TABLE fruit USING kvstore');
  const insert = db.prepare('INSERT INTO fruit(key, value) VALUES (?, ?)');
  db.transaction((rows) => { for (const r of rows) insert.run(r); })(fruit);

  const v = db.prepare('SELECT value FROM fruit WHERE key = ?').pluck()
    .get('apple');
  console.log(`apple = ${v}`);
  const rows = db.prepare("SELECT key, value FROM fruit" +
    " WHERE key BETWEEN 'banana' AND 'cherry' ORDER BY key").all();
  console.log('banana..cherry: ' +
    rows.map((r) => `${r.key}=${r.value}`).join(' '));
  const desc = db.prepare('SELECT key FROM fruit ORDER BY key DESC').pluck()
    .all();
  console.log('descending: ' + desc.join(' '));
  const pre = db.prepare("SELECT key FROM fruit" +
    " WHERE key >= 'b' AND key < 'c' ORDER BY key").pluck().all();
  console.log("prefix 'b': " + pre.join(' '));
  console.log('rows: ' +
    db.prepare('SELECT count(*) FROM fruit').pluck().get());
  db.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
