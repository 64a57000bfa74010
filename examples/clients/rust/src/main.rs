// kvstore from Rust with rusqlite (Debian: librust-rusqlite-dev; or
// crates.io), feature "load_extension".
//   cargo run --manifest-path examples/clients/rust/Cargo.toml
// Run from the project root after `make` (KVSTORE_SO names the extension
// elsewhere). doc/clients.md shows how to build offline against Debian's
// crates.
use rusqlite::{params, Connection, Result};

fn main() -> Result<()> {
    let ext = std::env::var("KVSTORE_SO").unwrap_or_else(|_| "./kvstore".into());
    let dir = std::env::temp_dir().join(format!("kvstore-rust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut db = Connection::open(dir.join("app.db"))?;
    // Loading an extension runs its native code: unsafe in rusqlite's terms.
    unsafe {
        db.load_extension_enable()?;
        db.load_extension(&ext, None)?; // SQLite adds ".so"
        db.load_extension_disable()?;
    }

    db.execute_batch("CREATE VIRTUAL TABLE fruit USING kvstore")?;
    let tx = db.transaction()?;
    for (k, v) in [("banana", "yellow"), ("apple", "red"), ("cherry", "dark red"),
                   ("date", "brown"), ("blueberry", "blue")] {
        tx.execute("INSERT INTO fruit(key, value) VALUES (?1, ?2)", params![k, v])?;
    }
    tx.commit()?;

    let v: String = db.query_row("SELECT value FROM fruit WHERE key = ?1",
                                 ["apple"], |r| r.get(0))?;
    println!("apple = {}", v);
    let mut st = db.prepare("SELECT key, value FROM fruit \
                             WHERE key BETWEEN 'banana' AND 'cherry' ORDER BY key")?;
    let pairs: Vec<String> = st
        .query_map([], |r| Ok(format!("{}={}", r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<_>>()?;
    println!("banana..cherry: {}", pairs.join(" "));
    let keys = |q: &str| -> Result<Vec<String>> {
        let mut st = db.prepare(q)?;
        let v = st.query_map([], |r| r.get(0))?.collect();
        v
    };
    println!("descending: {}", keys("SELECT key FROM fruit ORDER BY key DESC")?.join(" "));
    println!("prefix 'b': {}",
             keys("SELECT key FROM fruit WHERE key >= 'b' AND key < 'c' ORDER BY key")?.join(" "));
    let n: i64 = db.query_row("SELECT count(*) FROM fruit", [], |r| r.get(0))?;
    println!("rows: {}", n);
    drop(st);
    db.close().map_err(|(_, e)| e)?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
