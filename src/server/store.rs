//! Users, tokens and current avatars in an embedded SQLite database.
//!
//! One database file, `setphoto.db`, in the data folder, opened in WAL mode so that
//! `setphoto token create` can add tokens while a server runs. Tokens are stored as
//! SHA-256 digests only: they are long random strings, so a plain digest is enough to make
//! a stolen database useless for calling the API.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

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

/// The database: one connection, serialised by a mutex (every query is a point lookup or
/// a one-row update, far cheaper than the image work around it).
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let conn = Connection::open(data_dir.join(DATABASE_FILE))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a commit is on disk before the superseded files are removed, so a power
        // loss cannot roll the database back to an avatar whose files are gone.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                 id TEXT PRIMARY KEY,
                 team TEXT NOT NULL,
                 name TEXT NOT NULL,
                 real_name TEXT NOT NULL DEFAULT '',
                 display_name TEXT NOT NULL DEFAULT '',
                 avatar TEXT,
                 updated INTEGER NOT NULL,
                 fields TEXT NOT NULL DEFAULT '{}'
             );
             CREATE TABLE IF NOT EXISTS superseded (
                 user_id TEXT NOT NULL,
                 name TEXT NOT NULL,
                 at INTEGER NOT NULL,
                 PRIMARY KEY (user_id, name)
             );
             CREATE TABLE IF NOT EXISTS tokens (
                 digest TEXT PRIMARY KEY,
                 user_id TEXT NOT NULL REFERENCES users(id),
                 scopes TEXT NOT NULL,
                 created INTEGER NOT NULL
             );",
        )?;
        // Databases made before the `fields` column get it.
        let has_fields: bool = conn.query_row(
            "SELECT COUNT(*) FROM pragma_table_info('users') WHERE name = 'fields'",
            [],
            |r| r.get::<_, i64>(0).map(|n| n > 0),
        )?;
        if !has_fields {
            conn.execute_batch("ALTER TABLE users ADD COLUMN fields TEXT NOT NULL DEFAULT '{}'")?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (its own
        // transactions roll back), so a poisoned lock is still usable.
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
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<String> = tx
            .query_row("SELECT team FROM users WHERE id = ?1", [user], |r| r.get(0))
            .optional()?;
        match existing {
            Some(existing) if existing != team => {
                return Err(StoreError::Invalid(format!(
                    "user {user} already belongs to team {existing}"
                )));
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO users (id, team, name, updated) VALUES (?1, ?2, ?3, ?4)",
                    params![user, team, user.to_ascii_lowercase(), now],
                )?;
            }
        }
        tx.execute(
            "INSERT INTO tokens (digest, user_id, scopes, created) VALUES (?1, ?2, ?3, ?4)",
            params![token_digest(&token), user, scopes.join(","), now],
        )?;
        tx.commit()?;
        Ok(token)
    }

    /// Checks the database answers and takes a write: begins an immediate (writing)
    /// transaction and rolls it back.
    ///
    /// # Errors
    /// What SQLite said: a locked, read-only, missing or corrupt database.
    pub fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.query_row("SELECT count(*) FROM users", [], |row| row.get::<_, i64>(0))?;
        tx.rollback()?;
        Ok(())
    }

    /// The caller a token stands for, or `None` for an unknown token.
    pub fn authenticate(&self, token: &str) -> Result<Option<Caller>, StoreError> {
        let digest = token_digest(token);
        let row = self
            .conn()
            .query_row(
                "SELECT user_id, scopes FROM tokens WHERE digest = ?1",
                [&digest],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        Ok(row.map(|(user_id, scopes)| Caller {
            user_id,
            token_key: digest,
            scopes: scopes.split(',').map(str::to_owned).collect(),
        }))
    }

    /// The user with `id`, if any.
    pub fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, team, name, real_name, display_name, avatar, updated, fields
                 FROM users WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        User {
                            id: r.get(0)?,
                            team: r.get(1)?,
                            name: r.get(2)?,
                            real_name: r.get(3)?,
                            display_name: r.get(4)?,
                            fields: serde_json::from_str(&r.get::<_, String>(7)?)
                                .unwrap_or_default(),
                            avatar: None,
                            updated: r.get(6)?,
                        },
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.map(|(mut user, avatar)| {
            user.avatar = avatar.and_then(|json| serde_json::from_str(&json).ok());
            user
        }))
    }

    /// Makes `avatar` the user's current one (`None`: back to the placeholder) and returns
    /// the one it replaced, read and written in one transaction. With `retire`, the
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
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let previous: Option<Option<String>> = tx
            .query_row("SELECT avatar FROM users WHERE id = ?1", [user], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(previous) = previous else {
            return Err(StoreError::Invalid(format!("no user {user}")));
        };
        tx.execute(
            "UPDATE users SET avatar = ?2, updated = ?3 WHERE id = ?1",
            params![user, json, unix_now()],
        )?;
        let previous: Option<StoredAvatar> =
            previous.and_then(|json| serde_json::from_str(&json).ok());
        let current: Vec<&str> = avatar.map(|a| a.file_names().collect()).unwrap_or_default();
        for name in &current {
            tx.execute(
                "DELETE FROM superseded WHERE user_id = ?1 AND name = ?2",
                params![user, name],
            )?;
        }
        if let (true, Some(previous)) = (retire, &previous) {
            for name in previous.file_names().filter(|n| !current.contains(n)) {
                tx.execute(
                    "INSERT OR REPLACE INTO superseded (user_id, name, at) VALUES (?1, ?2, ?3)",
                    params![user, name, unix_millis()],
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
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let fields: Option<String> = tx
            .query_row("SELECT fields FROM users WHERE id = ?1", [user], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(fields) = fields else {
            return Err(StoreError::Invalid(format!("no user {user}")));
        };
        let mut fields: BTreeMap<String, String> =
            serde_json::from_str(&fields).unwrap_or_default();
        let mut real_name = None;
        let mut display_name = None;
        for (name, value) in changes {
            match name.as_str() {
                "real_name" => real_name = Some(value),
                "display_name" => display_name = Some(value),
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
            params![user, real_name, display_name, fields, unix_now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Superseded files recorded at or before `cutoff_ms` (Unix milliseconds), per user.
    pub fn expired_superseded(
        &self,
        cutoff_ms: i64,
    ) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare("SELECT user_id, name FROM superseded WHERE at <= ?1")?;
        let rows = statement.query_map([cutoff_ms], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            let (user, name) = row?;
            out.entry(user).or_default().push(name);
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
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut taken = Vec::new();
        for name in names {
            let gone = tx.execute(
                "DELETE FROM superseded WHERE user_id = ?1 AND name = ?2 AND at <= ?3",
                params![user, name, cutoff_ms],
            )?;
            if gone > 0 {
                taken.push(name.clone());
            }
        }
        tx.commit()?;
        Ok(taken)
    }

    /// Every user id with the file names of its current avatar (for the start-up sweep).
    pub fn avatar_files(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare("SELECT id, avatar FROM users")?;
        let rows = statement.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, avatar) = row?;
            let avatar: Option<StoredAvatar> =
                avatar.and_then(|json| serde_json::from_str(&json).ok());
            let names = avatar
                .map(|a| a.file_names().map(str::to_owned).collect())
                .unwrap_or_default();
            out.insert(id, names);
        }
        drop(statement);
        // Superseded files still in their grace period are kept too.
        let mut statement = conn.prepare("SELECT user_id, name FROM superseded")?;
        let rows =
            statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (user, name) = row?;
            out.entry(user).or_insert_with(Vec::new).push(name);
        }
        Ok(out)
    }
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
