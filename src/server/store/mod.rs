//! Users, tokens and current avatars in a database: an embedded SQLite file (the
//! default, `setphoto.db` in the data folder) or a PostgreSQL server that several replicas
//! share. One store logic for both, over the few SQL operations of `sql`; the schema is
//! versioned and migrated at start-up. Tokens are stored as
//! SHA-256 digests only: they are long random strings, so a plain digest is enough to make
//! a stolen database useless for calling the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

mod pg;
mod sql;
mod sqlite;

use sql::{Connection, Engine, Transaction};

/// The database file's name inside the data folder.
pub const DATABASE_FILE: &str = "setphoto.db";

/// The team a user joins when `token create` names none.
pub const DEFAULT_TEAM: &str = "T00000001";

/// The scopes a token gets when `token create` names none: every method the server has.
pub const DEFAULT_SCOPES: &[&str] = &[
    "users.profile:read",
    "users.profile:write",
    "users:read",
    "identity.basic",
    "identity.avatar",
];

/// What went wrong in the store: the database, or an argument it refuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (a locked, corrupt or unwritable database).
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed (unreachable, refused the login, or an error in a statement).
    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// The database holds something this build does not expect.
    #[error("unexpected database contents: {0}")]
    Schema(&'static str),
    /// A user, team or scope that the store does not accept.
    #[error("{0}")]
    Invalid(String),
    /// The data folder could not be created.
    #[error("cannot create the data folder: {0}")]
    Io(#[from] std::io::Error),
    /// The operating system's random source failed.
    #[error("no randomness for a token: {0}")]
    Random(String),
}

/// The files and hash of one avatar, as stored: file names only, URLs are made per
/// response from the server's public URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAvatar {
    /// The `avatar_hash` of the set.
    pub avatar_hash: String,
    /// `image_24` ... `image_1024`, `image_original` -> file name.
    pub files: BTreeMap<String, String>,
}

impl StoredAvatar {
    /// Every distinct file name of the avatar.
    pub fn file_names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self.files.values().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter()
    }
}

/// A user as the profile methods show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `U...` id.
    pub id: String,
    /// `T...` id.
    pub team: String,
    /// Handle.
    pub name: String,
    /// Full name (may be empty).
    pub real_name: String,
    /// Display name (may be empty).
    pub display_name: String,
    /// The other profile text fields set through users.profile.set (`title`, `phone`...).
    pub fields: BTreeMap<String, String>,
    /// The uploaded avatar; `None` means the generated placeholder.
    pub avatar: Option<StoredAvatar>,
    /// Unix seconds of the last change.
    pub updated: i64,
}

/// The user and scopes a token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who the token acts for.
    pub user_id: String,
    /// The token's own key in the store (its digest), for rate limiting.
    pub token_key: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

impl Caller {
    /// Whether the token has `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Where the store keeps its data: `--database`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (default: `setphoto.db` in the data folder).
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its connection URL.
    Postgres(String),
}

impl Database {
    /// Reads a `--database` value: `sqlite://PATH` (a relative path is taken from the
    /// current folder) or `postgres://...` / `postgresql://...`.
    ///
    /// # Errors
    /// Any other scheme, in words.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(
                    "sqlite:// needs a file path, as in sqlite:///var/lib/setphoto/setphoto.db"
                        .into(),
                );
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(format!(
            "{url:?}: use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        ))
    }

    /// The default: SQLite in `data_dir`.
    #[must_use]
    pub fn in_folder(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join(DATABASE_FILE))
    }

    /// The engine's name, as `/healthz` and the start-up line give it.
    #[must_use]
    pub const fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Whether several replicas may share this database (PostgreSQL; a SQLite file is one
    /// machine's): rate limits then live in it, and the orphan sweep must spare what
    /// another replica may be writing.
    #[must_use]
    pub const fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

/// The schema, one step a migration: step `n` takes a database at version `n` to `n + 1`.
/// Applied in order at start-up, each database records its version in `schema_version`;
/// types are the ones both engines read alike (TEXT, BIGINT).
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (
         id TEXT PRIMARY KEY,
         team TEXT NOT NULL,
         name TEXT NOT NULL,
         real_name TEXT NOT NULL DEFAULT '',
         display_name TEXT NOT NULL DEFAULT '',
         avatar TEXT,
         updated BIGINT NOT NULL,
         fields TEXT NOT NULL DEFAULT '{}'
     );
     CREATE TABLE IF NOT EXISTS superseded (
         user_id TEXT NOT NULL,
         name TEXT NOT NULL,
         at BIGINT NOT NULL,
         PRIMARY KEY (user_id, name)
     );
     CREATE TABLE IF NOT EXISTS tokens (
         digest TEXT PRIMARY KEY,
         user_id TEXT NOT NULL REFERENCES users(id),
         scopes TEXT NOT NULL,
         created BIGINT NOT NULL
     );",
    // Rate-limit windows shared by replicas: a token bucket per key and label, in
    // thousandths of a call.
    "CREATE TABLE IF NOT EXISTS allowances (
         bucket TEXT NOT NULL,
         label TEXT NOT NULL,
         milli BIGINT NOT NULL,
         at_ms BIGINT NOT NULL,
         PRIMARY KEY (bucket, label)
     );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database: one connection, serialised by a mutex (every query is a point lookup or
/// a one-row update, far cheaper than the image work around it).
pub struct Store {
    conn: Mutex<Box<dyn Connection>>,
    engine: &'static str,
    shared: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        Self::connect(&Database::in_folder(data_dir))
    }

    /// Opens `database` and brings its schema to [`SCHEMA_VERSION`].
    pub fn connect(database: &Database) -> Result<Self, StoreError> {
        let mut conn: Box<dyn Connection> = match database {
            Database::Sqlite(path) => Box::new(sqlite::Sqlite::open(path)?),
            Database::Postgres(url) => Box::new(pg::Postgres::connect(url)?),
        };
        migrate(conn.as_mut())?;
        Ok(Self {
            conn: Mutex::new(conn),
            engine: database.engine(),
            shared: database.is_shared(),
        })
    }

    /// The engine's name: `sqlite` or `postgres`.
    #[must_use]
    pub const fn engine(&self) -> &'static str {
        self.engine
    }

    /// Whether several replicas may share this database ([`Database::is_shared`]).
    #[must_use]
    pub const fn is_shared(&self) -> bool {
        self.shared
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Box<dyn Connection>> {
        // A panic while holding the lock cannot leave the database inconsistent (an open
        // transaction is rolled back when dropped), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a token for `user` (created on first use, in `team`) with `scopes`, and
    /// returns it. Only its digest is stored.
    pub fn create_token(
        &self,
        user: &str,
        team: &str,
        scopes: &[String],
    ) -> Result<String, StoreError> {
        check_id("user", user, &['U', 'W'], 3)?;
        check_id("team", team, &['T'], 9)?;
        if scopes.is_empty() {
            return Err(StoreError::Invalid(
                "a token needs at least one scope".into(),
            ));
        }
        if let Some(bad) = scopes.iter().find(|s| !is_scope_name(s)) {
            return Err(StoreError::Invalid(format!(
                "{bad:?} is not a scope name (letters, digits, '.', '_', ':')"
            )));
        }
        let token = new_token()?;
        let now = unix_now();
        let mut conn = self.conn();
        let mut tx = Transaction::begin(conn.as_mut())?;
        let lock = tx.engine().for_update();
        let existing = tx.query_one(
            &format!("SELECT team FROM users WHERE id = ?1{lock}"),
            &[user.into()],
        )?;
        match existing.map(|row| row[0].string()).transpose()? {
            Some(existing) if existing != team => {
                return Err(StoreError::Invalid(format!(
                    "user {user} already belongs to team {existing}"
                )));
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO users (id, team, name, updated) VALUES (?1, ?2, ?3, ?4)",
                    &[
                        user.into(),
                        team.into(),
                        user.to_ascii_lowercase().into(),
                        now.into(),
                    ],
                )?;
            }
        }
        tx.execute(
            "INSERT INTO tokens (digest, user_id, scopes, created) VALUES (?1, ?2, ?3, ?4)",
            &[
                token_digest(&token).into(),
                user.into(),
                scopes.join(",").into(),
                now.into(),
            ],
        )?;
        tx.commit()?;
        Ok(token)
    }

    /// Checks the database answers and takes a write: begins a write transaction, reads,
    /// and rolls back.
    ///
    /// # Errors
    /// What the database said: locked, read-only, unreachable, missing or corrupt.
    pub fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let mut tx = Transaction::begin(conn.as_mut())?;
        tx.query("SELECT count(*) FROM users", &[])?;
        tx.rollback()
    }

    /// The caller a token stands for, or `None` for an unknown token.
    pub fn authenticate(&self, token: &str) -> Result<Option<Caller>, StoreError> {
        let digest = token_digest(token);
        let rows = self.conn().query(
            "SELECT user_id, scopes FROM tokens WHERE digest = ?1",
            &[digest.as_str().into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Caller {
            user_id: row[0].string()?,
            token_key: digest,
            scopes: row[1].string()?.split(',').map(str::to_owned).collect(),
        }))
    }

    /// The user with `id`, if any.
    pub fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let rows = self.conn().query(
            "SELECT id, team, name, real_name, display_name, avatar, updated, fields
             FROM users WHERE id = ?1",
            &[id.into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(User {
            id: row[0].string()?,
            team: row[1].string()?,
            name: row[2].string()?,
            real_name: row[3].string()?,
            display_name: row[4].string()?,
            avatar: row[5]
                .text()?
                .and_then(|json| serde_json::from_str(json).ok()),
            updated: row[6].int()?,
            fields: serde_json::from_str(&row[7].string()?).unwrap_or_default(),
        }))
    }

    /// Makes `avatar` the user's current one (`None`: back to the placeholder) and returns
    /// the one it replaced, read and written in one transaction that locks the user's row,
    /// so concurrent calls (on any replica) apply one after the other. With `retire`, the
    /// replaced avatar's files that the new one does not use are recorded as superseded
    /// now (see [`Store::expired_superseded`]) in the same transaction; a file the new
    /// avatar uses is never superseded.
    pub fn replace_avatar(
        &self,
        user: &str,
        avatar: Option<&StoredAvatar>,
        retire: bool,
    ) -> Result<Option<StoredAvatar>, StoreError> {
        let json = avatar
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut conn = self.conn();
        let mut tx = Transaction::begin(conn.as_mut())?;
        let lock = tx.engine().for_update();
        let Some(row) = tx.query_one(
            &format!("SELECT avatar FROM users WHERE id = ?1{lock}"),
            &[user.into()],
        )?
        else {
            return Err(StoreError::Invalid(format!("no user {user}")));
        };
        let previous: Option<StoredAvatar> = row[0]
            .text()?
            .and_then(|json| serde_json::from_str(json).ok());
        tx.execute(
            "UPDATE users SET avatar = ?2, updated = ?3 WHERE id = ?1",
            &[user.into(), json.as_deref().into(), unix_now().into()],
        )?;
        let current: Vec<&str> = avatar.map(|a| a.file_names().collect()).unwrap_or_default();
        for name in &current {
            tx.execute(
                "DELETE FROM superseded WHERE user_id = ?1 AND name = ?2",
                &[user.into(), (*name).into()],
            )?;
        }
        if let (true, Some(previous)) = (retire, &previous) {
            for name in previous.file_names().filter(|n| !current.contains(n)) {
                tx.execute(
                    "INSERT INTO superseded (user_id, name, at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (user_id, name) DO UPDATE SET at = excluded.at",
                    &[user.into(), name.into(), unix_millis().into()],
                )?;
            }
        }
        tx.commit()?;
        Ok(previous)
    }

    /// Sets profile text fields: `real_name` and `display_name` in their columns, any
    /// other name among the user's `fields`. Fields not named are left alone.
    pub fn update_profile(
        &self,
        user: &str,
        changes: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let mut tx = Transaction::begin(conn.as_mut())?;
        let lock = tx.engine().for_update();
        let Some(row) = tx.query_one(
            &format!("SELECT fields FROM users WHERE id = ?1{lock}"),
            &[user.into()],
        )?
        else {
            return Err(StoreError::Invalid(format!("no user {user}")));
        };
        let mut fields: BTreeMap<String, String> =
            serde_json::from_str(&row[0].string()?).unwrap_or_default();
        let mut real_name = None;
        let mut display_name = None;
        for (name, value) in changes {
            match name.as_str() {
                "real_name" => real_name = Some(value.as_str()),
                "display_name" => display_name = Some(value.as_str()),
                _ => {
                    fields.insert(name.clone(), value.clone());
                }
            }
        }
        let fields =
            serde_json::to_string(&fields).map_err(|e| StoreError::Invalid(e.to_string()))?;
        tx.execute(
            "UPDATE users SET real_name = COALESCE(?2, real_name),
                              display_name = COALESCE(?3, display_name),
                              fields = ?4,
                              updated = ?5
             WHERE id = ?1",
            &[
                user.into(),
                real_name.into(),
                display_name.into(),
                fields.into(),
                unix_now().into(),
            ],
        )?;
        tx.commit()
    }

    /// Superseded files recorded at or before `cutoff_ms` (Unix milliseconds), per user.
    pub fn expired_superseded(
        &self,
        cutoff_ms: i64,
    ) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let rows = self.conn().query(
            "SELECT user_id, name FROM superseded WHERE at <= ?1",
            &[cutoff_ms.into()],
        )?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            out.entry(row[0].string()?)
                .or_default()
                .push(row[1].string()?);
        }
        Ok(out)
    }

    /// Of `names`, those still recorded as superseded for `user` at or before `cutoff_ms`,
    /// forgotten in the same transaction: the caller removes exactly these files.
    pub fn take_superseded(
        &self,
        user: &str,
        names: &[String],
        cutoff_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let mut tx = Transaction::begin(conn.as_mut())?;
        let mut taken = Vec::new();
        for name in names {
            let gone = tx.execute(
                "DELETE FROM superseded WHERE user_id = ?1 AND name = ?2 AND at <= ?3",
                &[user.into(), name.as_str().into(), cutoff_ms.into()],
            )?;
            if gone > 0 {
                taken.push(name.clone());
            }
        }
        tx.commit()?;
        Ok(taken)
    }

    /// Takes `cost` calls (0: only looks) from the allowance of `bucket` under `label`, a
    /// token bucket of `per_minute` calls that refills continuously, at `now_ms` (Unix
    /// milliseconds): `Ok(Ok(()))` when at least one call is left, else `Ok(Err(seconds))`
    /// to wait. Kept in the database, so every replica draws on one allowance.
    pub fn take_allowance(
        &self,
        bucket: &str,
        label: &str,
        per_minute: u32,
        now_ms: i64,
        cost: u32,
    ) -> Result<Result<(), u64>, StoreError> {
        let per_minute = i64::from(per_minute);
        let capacity = per_minute * 1000;
        let mut conn = self.conn();
        let mut tx = Transaction::begin(conn.as_mut())?;
        let lock = tx.engine().for_update();
        let row = tx.query_one(
            &format!("SELECT milli, at_ms FROM allowances WHERE bucket = ?1 AND label = ?2{lock}"),
            &[bucket.into(), label.into()],
        )?;
        let (milli, at_ms) = match row {
            Some(row) => (row[0].int()?, row[1].int()?),
            None => (capacity, now_ms),
        };
        // Thousandths of a call earned since `at_ms`: per_minute * 1000 per 60 000 ms.
        let earned = (now_ms - at_ms).max(0).saturating_mul(per_minute) / 60;
        let milli = milli.saturating_add(earned).min(capacity);
        if milli < 1000 {
            tx.rollback()?;
            return Ok(Err(seconds_until_one_call(milli, per_minute)));
        }
        if cost > 0 {
            tx.execute(
                "INSERT INTO allowances (bucket, label, milli, at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (bucket, label) DO UPDATE SET milli = excluded.milli,
                                                          at_ms = excluded.at_ms",
                &[
                    bucket.into(),
                    label.into(),
                    (milli - i64::from(cost) * 1000).into(),
                    now_ms.into(),
                ],
            )?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Forgets allowances untouched since `before_ms`: full again by then for any limit
    /// of at least one call a minute, so forgetting them changes nothing.
    pub fn prune_allowances(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.conn().execute(
            "DELETE FROM allowances WHERE at_ms < ?1",
            &[before_ms.into()],
        )
    }

    /// Every user id with the file names of its current avatar and of its superseded
    /// files still in their grace period (for the start-up sweep).
    pub fn avatar_files(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let mut conn = self.conn();
        let mut out = BTreeMap::new();
        for row in conn.query("SELECT id, avatar FROM users", &[])? {
            let avatar: Option<StoredAvatar> = row[1]
                .text()?
                .and_then(|json| serde_json::from_str(json).ok());
            let names = avatar
                .map(|a| a.file_names().map(str::to_owned).collect())
                .unwrap_or_default();
            out.insert(row[0].string()?, names);
        }
        for row in conn.query("SELECT user_id, name FROM superseded", &[])? {
            out.entry(row[0].string()?)
                .or_insert_with(Vec::new)
                .push(row[1].string()?);
        }
        Ok(out)
    }
}

/// Whole seconds (at least 1) until a bucket holding `milli` thousandths of a call, refilled
/// at `per_minute` calls a minute, holds one call.
fn seconds_until_one_call(milli: i64, per_minute: i64) -> u64 {
    let missing = u64::try_from(1000 - milli).unwrap_or(0);
    let per_minute = u64::try_from(per_minute).unwrap_or(1).max(1);
    let ms = (missing * 60).div_ceil(per_minute);
    ms.div_ceil(1000).max(1)
}

/// Brings the schema to [`SCHEMA_VERSION`], in one transaction under the engine's
/// migration lock, so replicas starting together apply each step once.
fn migrate(conn: &mut dyn Connection) -> Result<(), StoreError> {
    let mut tx = Transaction::begin(conn)?;
    tx.lock_migrations()?;
    tx.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let mut version = match tx.query_one("SELECT version FROM schema_version", &[])? {
        Some(row) => row[0].int()?,
        None => {
            let legacy = adopt_legacy_sqlite(&mut tx)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                &[legacy.into()],
            )?;
            legacy
        }
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Invalid(format!(
            "the database's schema is version {version}, newer than this build's \
             {SCHEMA_VERSION}: run a newer setphoto"
        )));
    }
    while version < SCHEMA_VERSION {
        let step = MIGRATIONS[usize::try_from(version).unwrap_or(usize::MAX)];
        tx.batch(step)?;
        version += 1;
        tx.execute("UPDATE schema_version SET version = ?1", &[version.into()])?;
    }
    tx.commit()
}

/// The version of a SQLite database made before schema versions existed: 1 if it has
/// the tables (adding the `fields` column the oldest ones lack), else 0.
fn adopt_legacy_sqlite(tx: &mut Transaction<'_>) -> Result<i64, StoreError> {
    if tx.engine() != Engine::Sqlite {
        return Ok(0);
    }
    let has_users = tx
        .query_one(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'",
            &[],
        )?
        .is_some();
    if !has_users {
        return Ok(0);
    }
    let has_fields = tx
        .query_one(
            "SELECT 1 FROM pragma_table_info('users') WHERE name = 'fields'",
            &[],
        )?
        .is_some();
    if !has_fields {
        tx.batch("ALTER TABLE users ADD COLUMN fields TEXT NOT NULL DEFAULT '{}'")?;
    }
    Ok(1)
}

/// Whether `id` is a Slack-style id: `prefix` letter then upper-case letters and digits.
fn check_id(what: &str, id: &str, prefixes: &[char], min_len: usize) -> Result<(), StoreError> {
    let ok = id.len() >= min_len
        && id.len() <= 64
        && id.starts_with(prefixes)
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        let prefixes: String = prefixes.iter().collect();
        Err(StoreError::Invalid(format!(
            "{what} id {id:?} must start with one of {prefixes:?} and be at least {min_len} \
             upper-case letters and digits, like Slack's ids"
        )))
    }
}

fn is_scope_name(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':'))
}

/// Whether `id` could be a user id (used to refuse other strings before any lookup).
#[must_use]
pub fn is_user_id(id: &str) -> bool {
    check_id("user", id, &['U', 'W'], 3).is_ok()
}

/// A stable polynomial hash of an id (multiplier 31): placeholder colour, `users.info`
/// colour and lock stripe all derive from it, so one user always maps the same way.
#[must_use]
pub fn id_hash(id: &str) -> u64 {
    id.bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// A new token: `xoxp-` and 48 hex digits from the operating system's random source.
fn new_token() -> Result<String, StoreError> {
    let mut random = [0u8; 24];
    getrandom::fill(&mut random).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!("xoxp-{}", hex::encode(random)))
}

/// The stored form of a token.
fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, in Unix milliseconds (the clock of [`Store::expired_superseded`]).
#[must_use]
pub fn now_millis() -> i64 {
    unix_millis()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn tokens_authenticate_and_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let token = store
            .create_token("U123", DEFAULT_TEAM, &scopes(&["users:read"]))
            .unwrap();
        assert!(token.starts_with("xoxp-") && token.len() == 53, "{token}");
        let caller = store.authenticate(&token).unwrap().unwrap();
        assert_eq!(caller.user_id, "U123");
        assert!(caller.has_scope("users:read"));
        assert!(!caller.has_scope("users.profile:write"));
        assert!(store.authenticate("xoxp-nope").unwrap().is_none());
        let database = std::fs::read(dir.path().join(DATABASE_FILE)).unwrap();
        let wal = std::fs::read(dir.path().join("setphoto.db-wal")).unwrap_or_default();
        for bytes in [database, wal] {
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "the token itself is never written"
            );
        }
    }

    #[test]
    fn a_database_from_before_schema_versions_is_adopted() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The oldest layout: no schema_version, no `fields` column.
            let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE users (id TEXT PRIMARY KEY, team TEXT NOT NULL,
                     name TEXT NOT NULL, real_name TEXT NOT NULL DEFAULT '',
                     display_name TEXT NOT NULL DEFAULT '', avatar TEXT,
                     updated INTEGER NOT NULL);
                 CREATE TABLE superseded (user_id TEXT NOT NULL, name TEXT NOT NULL,
                     at INTEGER NOT NULL, PRIMARY KEY (user_id, name));
                 CREATE TABLE tokens (digest TEXT PRIMARY KEY,
                     user_id TEXT NOT NULL REFERENCES users(id), scopes TEXT NOT NULL,
                     created INTEGER NOT NULL);
                 INSERT INTO users (id, team, name, real_name, updated)
                     VALUES ('U0OLD', 'T00000001', 'u0old', 'Old Timer', 1);",
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let user = store.user("U0OLD").unwrap().unwrap();
        assert_eq!(user.real_name, "Old Timer");
        store
            .update_profile("U0OLD", &[("title".into(), "Elder".into())])
            .unwrap();
        assert_eq!(
            store.user("U0OLD").unwrap().unwrap().fields["title"],
            "Elder"
        );
        let version: i64 = rusqlite::Connection::open(dir.path().join(DATABASE_FILE))
            .unwrap()
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn allowances_burst_then_refill_and_say_how_long_to_wait() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t0 = 1_000_000;
        for _ in 0..20 {
            assert_eq!(
                store.take_allowance("k", "users.info", 20, t0, 1).unwrap(),
                Ok(())
            );
        }
        // 20 a minute: one call every 3 s.
        assert_eq!(
            store.take_allowance("k", "users.info", 20, t0, 1).unwrap(),
            Err(3)
        );
        assert_eq!(
            store.take_allowance("k", "users.info", 20, t0, 0).unwrap(),
            Err(3)
        );
        assert_eq!(
            store
                .take_allowance("k", "users.setPhoto", 20, t0, 1)
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            store.take_allowance("j", "users.info", 20, t0, 1).unwrap(),
            Ok(())
        );
        assert_eq!(
            store
                .take_allowance("k", "users.info", 20, t0 + 1_500, 1)
                .unwrap(),
            Err(2)
        );
        assert_eq!(
            store
                .take_allowance("k", "users.info", 20, t0 + 3_000, 1)
                .unwrap(),
            Ok(())
        );
        assert_eq!(store.prune_allowances(t0 + 1).unwrap(), 2);
        assert_eq!(store.prune_allowances(t0 + 1).unwrap(), 0);
    }

    #[test]
    fn database_urls_parse_or_say_what_to_write() {
        assert_eq!(
            Database::parse("sqlite:///var/lib/x.db").unwrap(),
            Database::Sqlite("/var/lib/x.db".into())
        );
        assert_eq!(
            Database::parse("postgres://u:p@db:5432/setphoto")
                .unwrap()
                .engine(),
            "postgres"
        );
        assert!(Database::parse("postgresql://db/x").is_ok());
        assert!(Database::parse("sqlite://").is_err());
        assert!(
            Database::parse("mysql://db/x")
                .unwrap_err()
                .contains("postgres://")
        );
    }

    #[test]
    fn refuses_bad_ids_scopes_and_team_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let read = scopes(&["users:read"]);
        for user in ["", "u123", "X123", "U1", "U12-3"] {
            assert!(
                store.create_token(user, DEFAULT_TEAM, &read).is_err(),
                "{user}"
            );
        }
        assert!(store.create_token("U123", "T1", &read).is_err());
        assert!(store.create_token("U123", DEFAULT_TEAM, &[]).is_err());
        assert!(
            store
                .create_token("U123", DEFAULT_TEAM, &scopes(&["a b"]))
                .is_err()
        );
        store.create_token("U123", DEFAULT_TEAM, &read).unwrap();
        assert!(store.create_token("U123", "T99999999", &read).is_err());
    }

    #[test]
    fn replace_avatar_returns_the_previous_one_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let avatar = StoredAvatar {
            avatar_hash: "0123456789ab".into(),
            files: [("image_24".to_owned(), "x_24.jpg".to_owned())].into(),
        };
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .create_token("U1X", DEFAULT_TEAM, &scopes(&["users:read"]))
                .unwrap();
            assert_eq!(
                store.replace_avatar("U1X", Some(&avatar), true).unwrap(),
                None
            );
            assert!(store.replace_avatar("U404", None, false).is_err());
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.user("U1X").unwrap().unwrap().avatar,
            Some(avatar.clone())
        );
        assert_eq!(
            store.replace_avatar("U1X", None, false).unwrap(),
            Some(avatar)
        );
        assert_eq!(store.user("U1X").unwrap().unwrap().avatar, None);
    }
}
