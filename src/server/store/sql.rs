//! The little SQL the store needs, over either database: statements with `?1`-style
//! placeholders, text and integer values, and write transactions.
//!
//! The store's logic is written once against [`Connection`]; each engine adds only how it
//! runs a statement and what its dialect needs (a row lock, a lock around migrations).

use super::StoreError;

/// One argument or column value: the store keeps text and 64-bit integers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// SQL NULL (of a text column: the store has no nullable integers).
    Null,
    /// TEXT.
    Text(String),
    /// BIGINT / INTEGER.
    Int(i64),
}

impl Value {
    /// The text, or `None` for NULL; an integer where text belongs is a schema error.
    pub(super) fn text(&self) -> Result<Option<&str>, StoreError> {
        match self {
            Self::Null => Ok(None),
            Self::Text(text) => Ok(Some(text)),
            Self::Int(_) => Err(StoreError::Schema("an integer where text was expected")),
        }
    }

    /// The text of a column that is never NULL.
    pub(super) fn string(&self) -> Result<String, StoreError> {
        self.text()?
            .map(str::to_owned)
            .ok_or(StoreError::Schema("NULL where text was expected"))
    }

    /// The integer of a column that is never NULL.
    pub(super) fn int(&self) -> Result<i64, StoreError> {
        match self {
            Self::Int(n) => Ok(*n),
            _ => Err(StoreError::Schema(
                "text or NULL where an integer was expected",
            )),
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Option<&str>> for Value {
    fn from(text: Option<&str>) -> Self {
        text.map_or(Self::Null, Self::from)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

/// A row: its columns in the order the query names them.
pub(super) type Row = Vec<Value>;

/// Which SQL engine a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    /// SQLite: a write transaction locks the whole database.
    Sqlite,
    /// PostgreSQL: rows are locked one by one (`FOR UPDATE`).
    Postgres,
}

impl Engine {
    /// The clause that locks the rows a `SELECT` reads until the transaction ends (SQLite
    /// needs none: its write transaction already excludes every other writer).
    pub(super) const fn for_update(self) -> &'static str {
        match self {
            Self::Sqlite => "",
            Self::Postgres => " FOR UPDATE",
        }
    }
}

/// One connection to the database.
pub(super) trait Connection: Send {
    /// Which engine this is.
    fn engine(&self) -> Engine;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError>;

    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError>;

    /// Runs statements without arguments, one after another (schema changes).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// Begins a transaction that will write.
    fn begin(&mut self) -> Result<(), StoreError>;

    /// Takes the engine's lock that serialises schema migrations across processes, for
    /// the current transaction (SQLite: the write transaction is that lock already).
    fn lock_migrations(&mut self) -> Result<(), StoreError>;
}

/// A transaction on a connection: rolled back when dropped uncommitted.
pub(super) struct Transaction<'c> {
    conn: &'c mut dyn Connection,
    done: bool,
}

impl<'c> Transaction<'c> {
    /// Begins a write transaction on `conn`.
    pub(super) fn begin(conn: &'c mut dyn Connection) -> Result<Self, StoreError> {
        conn.begin()?;
        Ok(Self { conn, done: false })
    }

    /// The engine of the connection.
    pub(super) fn engine(&self) -> Engine {
        self.conn.engine()
    }

    /// See [`Connection::execute`].
    pub(super) fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        self.conn.execute(sql, args)
    }

    /// See [`Connection::query`].
    pub(super) fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        self.conn.query(sql, args)
    }

    /// The first row of a query, if any.
    pub(super) fn query_one(
        &mut self,
        sql: &str,
        args: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.conn.query(sql, args)?.into_iter().next())
    }

    /// See [`Connection::batch`].
    pub(super) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.batch(sql)
    }

    /// See [`Connection::lock_migrations`].
    pub(super) fn lock_migrations(&mut self) -> Result<(), StoreError> {
        self.conn.lock_migrations()
    }

    /// Commits.
    pub(super) fn commit(mut self) -> Result<(), StoreError> {
        self.done = true;
        self.conn.batch("COMMIT")
    }

    /// Rolls back.
    pub(super) fn rollback(mut self) -> Result<(), StoreError> {
        self.done = true;
        self.conn.batch("ROLLBACK")
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // An error path left early; the statement that failed has said why.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// `sql` with SQLite's `?N` placeholders written as PostgreSQL's `$N`. A `?` inside a
/// string literal would be changed too: the store's statements have none.
pub(super) fn numbered_placeholders(sql: &str) -> String {
    sql.replace('?', "$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_for_postgres() {
        assert_eq!(
            numbered_placeholders("UPDATE t SET a = ?2 WHERE id = ?1"),
            "UPDATE t SET a = $2 WHERE id = $1"
        );
    }

    #[test]
    fn values_say_when_the_schema_is_not_what_was_expected() {
        assert_eq!(Value::from("x").string().unwrap(), "x");
        assert_eq!(Value::Null.text().unwrap(), None);
        assert_eq!(Value::from(7).int().unwrap(), 7);
        assert!(Value::Null.string().is_err());
        assert!(Value::from("7").int().is_err());
        assert!(Value::from(7).text().is_err());
    }
}
