//! The embedded engine: one SQLite file in the data folder, in WAL mode so that
//! `setphoto token create` can add tokens while a server runs.

use std::path::Path;

use rusqlite::types::ValueRef;

use super::StoreError;
use super::sql::{Connection, Engine, Row, Value};

/// A connection to a SQLite database file.
pub(super) struct Sqlite(rusqlite::Connection);

impl Sqlite {
    /// Opens (creating if needed) the database at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before the superseded files are removed, so a power
        // loss cannot roll the database back to an avatar whose files are gone.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Self(conn))
    }
}

fn arguments(args: &[Value]) -> Vec<rusqlite::types::Value> {
    args.iter()
        .map(|arg| match arg {
            Value::Null => rusqlite::types::Value::Null,
            Value::Text(text) => rusqlite::types::Value::Text(text.clone()),
            Value::Int(n) => rusqlite::types::Value::Integer(*n),
        })
        .collect()
}

impl Connection for Sqlite {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let changed = self
            .0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(arguments(args)))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.0.prepare_cached(sql)?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(arguments(args)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(StoreError::Schema(
                            "a column of a type the store never writes",
                        ));
                    }
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        // IMMEDIATE: take the write lock now, not at the first write, so that two
        // read-then-write transactions cannot deadlock on the upgrade.
        self.batch("BEGIN IMMEDIATE")
    }

    fn lock_migrations(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
