//! A PostgreSQL server, shared by every replica: `--database postgres://...`.
//!
//! The synchronous client of rust-postgres runs its own small runtime, so it is called
//! from the blocking pool exactly as SQLite is. A connection that breaks (a server restart,
//! a network cut) is opened again at the next call.

use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use super::StoreError;
use super::sql::{Connection, Engine, Row, Value, numbered_placeholders};

/// The advisory lock key that serialises schema migrations ("setphoto" in ASCII).
const MIGRATION_LOCK: i64 = 0x7365_7470_686f_746f;

/// A connection to a PostgreSQL database.
pub(super) struct Postgres {
    url: String,
    client: Option<Client>,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or the
    /// key=value form libpq takes).
    pub(super) fn connect(url: &str) -> Result<Self, StoreError> {
        let mut conn = Self {
            url: url.to_owned(),
            client: None,
        };
        conn.client()?;
        Ok(conn)
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(Client::connect(&self.url, NoTls)?);
        }
        self.client
            .as_mut()
            .ok_or(StoreError::Schema("no PostgreSQL connection"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The client owns a runtime, which must not be dropped on an async worker thread
        // (the server's state may be dropped there); a thread of its own is always safe.
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new()
                .name("setphoto-pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

fn arguments(args: &[Value]) -> Vec<Box<dyn ToSql + Sync>> {
    args.iter()
        .map(|arg| -> Box<dyn ToSql + Sync> {
            match arg {
                Value::Null => Box::new(None::<String>),
                Value::Text(text) => Box::new(text.clone()),
                Value::Int(n) => Box::new(*n),
            }
        })
        .collect()
}

impl Connection for Postgres {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let args = arguments(args);
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(AsRef::as_ref).collect();
        Ok(self.client()?.execute(&numbered_placeholders(sql), &refs)?)
    }

    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let args = arguments(args);
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(AsRef::as_ref).collect();
        let rows = self.client()?.query(&numbered_placeholders(sql), &refs)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match *row.columns()[i].type_() {
                        Type::INT8 => Ok(row
                            .try_get::<_, Option<i64>>(i)?
                            .map_or(Value::Null, Value::Int)),
                        Type::INT4 => Ok(row
                            .try_get::<_, Option<i32>>(i)?
                            .map_or(Value::Null, |n| Value::Int(n.into()))),
                        _ => Ok(row
                            .try_get::<_, Option<String>>(i)?
                            .map_or(Value::Null, Value::Text)),
                    })
                    .collect()
            })
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client()?.batch_execute(sql)?)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.batch("BEGIN")
    }

    fn lock_migrations(&mut self) -> Result<(), StoreError> {
        self.execute(
            "SELECT pg_advisory_xact_lock(?1)",
            &[Value::Int(MIGRATION_LOCK)],
        )
        .map(drop)
    }
}
