//! The Slack methods: authentication, scopes, rate limits, and each method's work.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::ServerConfig;
use super::admission::Slots;
use super::avatars::{AvatarFiles, IMAGE_KEYS, profile_urls};
use super::ops::{Levels, Metrics};
use super::params::{ImageArg, Params};
use super::profile;
use super::ratelimit::RateLimiter;
pub(super) use super::reply::Reply;
use super::store::{Caller, Store, StoredAvatar, User, id_hash, is_user_id};
use crate::error::BoxError;
use crate::{Code, SetPhotoRequest};

/// The limiter "method" under which failed authentications are counted per address.
const AUTH_FAILURE: &str = "auth";

/// Stripes of the per-user lock (a user maps to one by a hash of the id).
const USER_LOCK_STRIPES: usize = 64;

/// What every request shares.
#[derive(Debug)]
pub(super) struct State {
    pub(super) config: ServerConfig,
    pub(super) store: Store,
    pub(super) files: AvatarFiles,
    limiter: RateLimiter,
    /// Failed authentications per client address (see `ServerConfig::auth_failures_per_minute`).
    auth_failures: RateLimiter,
    /// The allowances live in the database, shared with other replicas (PostgreSQL), not
    /// in the two limiters above.
    shared_limits: bool,
    public_url: String,
    engine: Semaphore,
    /// The memory budget, in [`crate::budget::UNIT_BYTES`] units (see
    /// `ServerConfig::memory_budget`).
    memory: Semaphore,
    /// Request bodies read and held at once (see `ServerConfig::bodies_in_flight`).
    pub(super) bodies: Slots,
    /// File bodies streamed at once (see `ServerConfig::files_in_flight`).
    pub(super) file_slots: Arc<Semaphore>,
    /// What `/metrics` reports.
    pub(super) metrics: Metrics,
    /// Serialises "write files, point the database at them, remove the old ones" per
    /// user, so concurrent calls for one user cannot remove each other's files.
    user_locks: Vec<tokio::sync::Mutex<()>>,
}

impl State {
    pub(super) fn new(
        config: ServerConfig,
        store: Store,
        public_url: String,
    ) -> std::io::Result<Self> {
        let files = AvatarFiles::open(
            &config
                .store
                .clone()
                .unwrap_or_else(|| super::FileStore::Folder(config.data_dir.clone())),
        )?;
        // What a crash between writing files and committing left behind. With a shared
        // database other replicas may be writing into the shared store now: their files
        // are spared until they are older than any request can take.
        files.sweep(
            &|| store.avatar_files().map_err(std::io::Error::other),
            orphan_spare(&config, &store),
        )?;
        Ok(Self {
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            auth_failures: RateLimiter::new(config.auth_failures_per_minute),
            shared_limits: store.is_shared(),
            engine: Semaphore::new(config.engine_threads.max(1)),
            memory: Semaphore::new(crate::budget::budget_units(config.memory_budget) as usize),
            bodies: Slots::new(
                config.bodies_in_flight,
                config.anonymous_bodies,
                config.slot_wait,
            ),
            file_slots: Arc::new(Semaphore::new(config.files_in_flight.max(1))),
            metrics: Metrics::new(),
            user_locks: (0..USER_LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            config,
            store,
            files,
            public_url,
        })
    }

    /// How full the engine, the body slots and the file slots are now.
    pub(super) fn levels(&self) -> Levels {
        let config = &self.config;
        let used = |total: usize, free: usize| total.max(1).saturating_sub(free);
        Levels {
            engine_busy: used(config.engine_threads, self.engine.available_permits()),
            bodies_held: self.bodies.held(),
            files_streaming: used(config.files_in_flight, self.file_slots.available_permits()),
        }
    }

    fn user_lock(&self, user: &str) -> &tokio::sync::Mutex<()> {
        let stripe = id_hash(user) % USER_LOCK_STRIPES as u64;
        &self.user_locks[usize::try_from(stripe).unwrap_or(0)]
    }

    fn avatar_base(&self, folder: &str) -> String {
        format!("{}/avatars/{folder}", self.public_url)
    }
}

/// How young an unreferenced file the orphan sweep leaves alone.
fn orphan_spare(config: &ServerConfig, store: &Store) -> std::time::Duration {
    if store.is_shared() {
        config.orphan_age
    } else {
        std::time::Duration::ZERO
    }
}

/// Removes files that no avatar references and that are older than `orphan_age`: what a
/// replica that crashed between writing files and committing left behind.
pub(super) async fn sweep_orphans(state: &Arc<State>) {
    let swept = blocking(state, |s| {
        s.files.sweep(
            &|| s.store.avatar_files().map_err(std::io::Error::other),
            orphan_spare(&s.config, &s.store),
        )
    })
    .await;
    match swept {
        Ok(0) => {}
        Ok(n) => tracing::info!(target: "setphoto::serve", "removed {n} orphaned files"),
        Err(e) => {
            let _ = Reply::internal("sweeping orphaned files", e);
        }
    }
}

/// Removes the superseded files whose grace (`keep_old`) has passed, each under its
/// user's lock so that a setPhoto making the same picture current again cannot race it.
pub(super) async fn sweep_superseded(state: &Arc<State>) {
    if state.shared_limits {
        // An allowance untouched for a minute is full again: its row says nothing.
        let before = super::store::now_millis().saturating_sub(60_000);
        if let Err(e) = blocking(state, move |s| s.store.prune_allowances(before)).await {
            let _ = Reply::internal("pruning rate-limit windows", e);
        }
    }
    let keep = i64::try_from(state.config.keep_old.as_millis()).unwrap_or(i64::MAX);
    let cutoff = super::store::now_millis().saturating_sub(keep);
    let expired = match blocking(state, move |s| s.store.expired_superseded(cutoff)).await {
        Ok(expired) => expired,
        Err(e) => {
            let _ = Reply::internal("listing superseded files", e);
            return;
        }
    };
    for (user, names) in expired {
        let _guard = state.user_lock(&user).lock().await;
        let swept = blocking(state, move |s| {
            let taken = s.store.take_superseded(&user, &names, cutoff)?;
            s.files.remove(&user, &taken);
            Ok::<_, super::StoreError>(())
        })
        .await;
        if let Err(e) = swept {
            let _ = Reply::internal("removing superseded files", e);
        }
    }
}

/// The methods served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    SetPhoto,
    DeletePhoto,
    ProfileGet,
    ProfileSet,
    Info,
    Identity,
    AuthTest,
    ApiTest,
}

impl Method {
    pub(super) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "users.setPhoto" => Self::SetPhoto,
            "users.deletePhoto" => Self::DeletePhoto,
            "users.profile.get" => Self::ProfileGet,
            "users.profile.set" => Self::ProfileSet,
            "users.info" => Self::Info,
            "users.identity" => Self::Identity,
            "auth.test" => Self::AuthTest,
            "api.test" => Self::ApiTest,
            _ => return None,
        })
    }

    pub(super) const fn name(self) -> &'static str {
        match self {
            Self::SetPhoto => "users.setPhoto",
            Self::DeletePhoto => "users.deletePhoto",
            Self::ProfileGet => "users.profile.get",
            Self::ProfileSet => "users.profile.set",
            Self::Info => "users.info",
            Self::Identity => "users.identity",
            Self::AuthTest => "auth.test",
            Self::ApiTest => "api.test",
        }
    }

    /// The scope a token needs (Slack's, per method); `None`: any valid token will do.
    const fn scope(self) -> Option<&'static str> {
        match self {
            Self::SetPhoto | Self::DeletePhoto | Self::ProfileSet => Some("users.profile:write"),
            Self::ProfileGet => Some("users.profile:read"),
            Self::Info => Some("users:read"),
            Self::Identity => Some("identity.basic"),
            Self::AuthTest | Self::ApiTest => None,
        }
    }
}

/// Runs `work` on the blocking pool (database and file work), re-raising its panic here.
async fn blocking<T: Send + 'static>(
    state: &Arc<State>,
    work: impl FnOnce(&State) -> T + Send + 'static,
) -> T {
    let state = state.clone();
    match tokio::task::spawn_blocking(move || work(&state)).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the blocking pool shut down mid-request"),
    }
}

/// A caller whose token, from the query string or the `Authorization` header, passed
/// before the body was read: authenticated, with the scope, and charged one call.
#[derive(Debug)]
pub(super) struct Admitted {
    token: String,
    caller: Caller,
}

/// What the token seen before the body says about a request.
#[derive(Debug)]
pub(super) enum Admission {
    /// It passed; the call is charged and needs no second check if the body names no other.
    Admitted(Admitted),
    /// No token, or one that did not pass: the body may still carry one that wins (the
    /// form field wins, as Slack documents), so nothing is answered yet.
    Anonymous,
    /// A valid token over its rate limit: answered before the body is read.
    Refused(Reply),
}

/// Checks the token a request carries before its body: the query string's `token` (which
/// wins over the header, as it does once the body is read), else `bearer`.
pub(super) async fn admit(
    state: &Arc<State>,
    method: Method,
    client: IpAddr,
    query_token: Option<String>,
    bearer: Option<String>,
) -> Admission {
    let Some(token) = query_token.filter(|t| !t.is_empty()).or(bearer) else {
        return Admission::Anonymous;
    };
    if let Err(reply) = check_failures(state, client).await {
        return Admission::Refused(reply);
    }
    let lookup = token.clone();
    let caller = match blocking(state, move |s| s.store.authenticate(&lookup)).await {
        Ok(Some(caller)) if method.scope().is_none_or(|scope| caller.has_scope(scope)) => caller,
        // Unknown, lacking the scope, or not checkable now: the full check after the body
        // answers it, unless the body names a token that wins.
        _ => return Admission::Anonymous,
    };
    match take(state, Allowance::Calls, &caller.token_key, method.name(), 1).await {
        Ok(()) => Admission::Admitted(Admitted { token, caller }),
        Err(retry_after) => Admission::Refused(Reply::RateLimited { retry_after }),
    }
}

/// Authenticates, checks scope and rate limit, and runs `method`. `admitted` is what
/// [`admit`] found before the body; it stands if the winning token is the same one.
pub(super) async fn call(
    state: &Arc<State>,
    method: Method,
    client: IpAddr,
    params: &Params,
    bearer: Option<String>,
    admitted: Option<Admitted>,
) -> Reply {
    if method == Method::ApiTest {
        return api_test(params);
    }
    // The form field wins over the header, as Slack documents.
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or(bearer);
    let Some(token) = token else {
        return Reply::error(Code::NotAuthed);
    };
    let caller = match admitted {
        Some(admitted) if admitted.token == token => admitted.caller,
        _ => match authenticate(state, method, client, token).await {
            Ok(caller) => caller,
            Err(reply) => return reply,
        },
    };
    match method {
        Method::SetPhoto => set_photo(state, &caller, params).await,
        Method::DeletePhoto => delete_photo(state, &caller).await,
        Method::ProfileGet => profile_get(state, &caller, params).await,
        Method::ProfileSet => profile_set(state, &caller, params).await,
        Method::Info => info(state, &caller, params).await,
        Method::Identity => identity(state, &caller).await,
        Method::AuthTest => auth_test(state, &caller).await,
        Method::ApiTest => api_test(params),
    }
}

/// Refuses a client address over its allowance of failed authentications.
async fn check_failures(state: &Arc<State>, client: IpAddr) -> Result<(), Reply> {
    take(
        state,
        Allowance::AuthFailures,
        &client.to_string(),
        AUTH_FAILURE,
        0,
    )
    .await
    .map_err(|retry_after| Reply::RateLimited { retry_after })
}

/// The allowances a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowance {
    /// Calls per token and method (`ServerConfig::rate_limit_per_minute`).
    Calls,
    /// Failed authentications per client address
    /// (`ServerConfig::auth_failures_per_minute`).
    AuthFailures,
}

/// Takes `cost` calls (0: only looks) from `which` allowance of `key` under `label`:
/// `Ok`, or the whole seconds to wait. With PostgreSQL the allowance lives in the database,
/// so every replica draws on the same one, as Slack's clients see one limit; with SQLite
/// (one replica) in this process's memory. A database that cannot answer lets the call
/// through: a limit is not worth an outage.
async fn take(
    state: &Arc<State>,
    which: Allowance,
    key: &str,
    label: &'static str,
    cost: u32,
) -> Result<(), u64> {
    let (limiter, per_minute) = match which {
        Allowance::Calls => (&state.limiter, state.config.rate_limit_per_minute),
        Allowance::AuthFailures => (&state.auth_failures, state.config.auth_failures_per_minute),
    };
    if !state.shared_limits || per_minute == 0 {
        return match cost {
            0 => limiter.peek(key, label, Instant::now()),
            _ => limiter.check(key, label, Instant::now()),
        };
    }
    let key = key.to_owned();
    let now = super::store::now_millis();
    let taken = blocking(state, move |s| {
        s.store.take_allowance(&key, label, per_minute, now, cost)
    })
    .await;
    taken.unwrap_or_else(|e| {
        tracing::warn!(target: "setphoto::serve", "rate limit not checked: {e}");
        Ok(())
    })
}

/// The caller of `token` if it is valid, has the scope of `method` and is within its rate
/// limit (charging one call); else the answer.
async fn authenticate(
    state: &Arc<State>,
    method: Method,
    client: IpAddr,
    token: String,
) -> Result<Caller, Reply> {
    check_failures(state, client).await?;
    let caller = match blocking(state, move |s| s.store.authenticate(&token)).await {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            // Counted per address so that guessing tokens is slow; the answer stays
            // invalid_auth until the allowance is spent, then the address is refused.
            let _ = take(
                state,
                Allowance::AuthFailures,
                &client.to_string(),
                AUTH_FAILURE,
                1,
            )
            .await;
            return Err(Reply::error(Code::InvalidAuth));
        }
        Err(e) => return Err(Reply::internal("token lookup", e)),
    };
    if let Some(scope) = method.scope().filter(|scope| !caller.has_scope(scope)) {
        let mut extra = Map::new();
        extra.insert("needed".into(), Value::from(scope));
        extra.insert("provided".into(), Value::from(caller.scopes.join(",")));
        return Err(Reply::Error {
            code: Code::MissingScope,
            extra,
        });
    }
    if let Err(retry_after) =
        take(state, Allowance::Calls, &caller.token_key, method.name(), 1).await
    {
        return Err(Reply::RateLimited { retry_after });
    }
    Ok(caller)
}

async fn set_photo(state: &Arc<State>, caller: &Caller, params: &Params) -> Reply {
    let image = match params.image() {
        Some(ImageArg::File(bytes)) => bytes.clone(),
        // Text where a file belongs, or nothing at all: there is no image to read.
        Some(ImageArg::Text) | None => return Reply::error(Code::BadImage),
    };
    let request = match SetPhotoRequest::from_form(
        image,
        params.get("crop_x"),
        params.get("crop_y"),
        params.get("crop_w"),
    ) {
        Ok(request) => request,
        Err(e) => return Reply::from(&e),
    };
    let set = {
        // Bounded: an image waits until its estimated peak fits in the memory budget
        // (refusals from the header answer here, taking none of it), and at most
        // `engine_threads` images are decoded at once, whatever the number of connections.
        let policy = state.config.policy.clone();
        // The headers are checked and the plan made once: the estimate comes from them,
        // and so does the processing.
        let planned = {
            let (request, policy) = (request.clone(), policy.clone());
            blocking(state, move |_| crate::Planned::new(&request, &policy)).await
        };
        let planned = match planned {
            Ok(planned) => planned,
            Err(e) => {
                state.metrics.image(e.wire_code().as_str());
                return Reply::from(&e);
            }
        };
        let units = crate::budget::image_units(
            planned.estimated_peak_bytes(&request),
            crate::budget::budget_units(state.config.memory_budget),
        );
        let waiting = state.metrics.engine_wait();
        let Ok(_memory) = state.memory.acquire_many(units).await else {
            return Reply::error(Code::InternalError);
        };
        let Ok(_permit) = state.engine.acquire().await else {
            return Reply::error(Code::InternalError);
        };
        drop(waiting);
        let processed = blocking(state, move |_| planned.process(&request, &policy)).await;
        state.metrics.image(
            processed
                .as_ref()
                .map_or_else(|e| e.wire_code().as_str(), |_| "ok"),
        );
        match processed {
            Ok(set) => set,
            Err(e) => return Reply::from(&e),
        }
    };
    let user = caller.user_id.clone();
    let _guard = state.user_lock(&user).lock().await;
    let folder = user.clone();
    let stored = blocking(state, move |s| -> Result<StoredAvatar, BoxError> {
        // Files first, then the database: a crash in between leaves the old avatar
        // current and the new files as garbage for the start-up sweep; a failure in
        // between removes the files this call created (write_set does so itself).
        let written = s.files.write_set(&folder, &set)?;
        let grace = !s.config.keep_old.is_zero();
        let previous = match s
            .store
            .replace_avatar(&folder, Some(&written.avatar), grace)
        {
            Ok(previous) => previous,
            Err(e) => {
                s.files.discard(&folder, &written);
                return Err(e.into());
            }
        };
        // Superseded files stay served for `keep_old` (old URLs were cached as
        // immutable); the sweeper removes them after it. Without a grace, now.
        if let (false, Some(previous)) = (grace, previous) {
            s.files
                .remove_superseded(&folder, &previous, Some(&written.avatar));
        }
        Ok(written.avatar)
    })
    .await;
    match stored {
        Ok(stored) => Reply::ok(json!({
            "profile": profile_urls(&state.avatar_base(&user), &stored),
        })),
        Err(e) => Reply::internal("storing an avatar", e),
    }
}

async fn delete_photo(state: &Arc<State>, caller: &Caller) -> Reply {
    let user = caller.user_id.clone();
    let _guard = state.user_lock(&user).lock().await;
    let result = blocking(state, move |s| {
        // The user asked for the picture to be gone: its files go at once, no grace.
        let previous = s.store.replace_avatar(&user, None, false)?;
        if let Some(previous) = previous {
            s.files.remove_superseded(&user, &previous, None);
        }
        Ok::<_, super::StoreError>(())
    })
    .await;
    match result {
        Ok(()) => Reply::ok(json!({})),
        Err(e) => Reply::internal("deleting an avatar", e),
    }
}

/// The user a read method asks about: `user` if given, else the caller.
async fn target_user(state: &Arc<State>, caller: &Caller, params: &Params) -> Result<User, Reply> {
    let id = params
        .get("user")
        .filter(|u| !u.is_empty())
        .unwrap_or(&caller.user_id)
        .to_owned();
    if !is_user_id(&id) {
        return Err(Reply::error(Code::UserNotFound));
    }
    match blocking(state, move |s| s.store.user(&id)).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Reply::error(Code::UserNotFound)),
        Err(e) => Err(Reply::internal("user lookup", e)),
    }
}

/// The image fields of a user's current avatar, and whether it is an upload.
async fn avatar_fields(
    state: &Arc<State>,
    user: &User,
) -> Result<(Map<String, Value>, bool), Reply> {
    let (folder, avatar, custom) = match &user.avatar {
        Some(avatar) => (user.id.clone(), avatar.clone(), true),
        None => {
            let id = user.id.clone();
            match blocking(state, move |s| s.files.placeholder(&id)).await {
                Ok(avatar) => (super::avatars::PLACEHOLDER_DIR.to_owned(), avatar, false),
                Err(e) => return Err(Reply::internal("making a placeholder", e)),
            }
        }
    };
    let profile = profile_urls(&state.avatar_base(&folder), &avatar);
    let Ok(Value::Object(mut fields)) = serde_json::to_value(profile) else {
        return Err(Reply::error(Code::InternalError));
    };
    if !custom {
        // Slack has no original for a default avatar.
        fields.remove("image_original");
    }
    Ok((fields, custom))
}

/// The profile object of users.profile.get / users.info / users.profile.set.
async fn profile_object(state: &Arc<State>, user: &User) -> Result<Value, Reply> {
    let (images, custom) = avatar_fields(state, user).await?;
    let field = |name: &str| user.fields.get(name).cloned().unwrap_or_default();
    let mut profile = json!({
        "real_name": user.real_name,
        "real_name_normalized": profile::normalized(&user.real_name),
        "display_name": user.display_name,
        "display_name_normalized": profile::normalized(&user.display_name),
        "title": field("title"),
        "phone": field("phone"),
        "skype": field("skype"),
        "status_text": field("status_text"),
        "status_emoji": field("status_emoji"),
        "status_expiration": 0,
        "fields": {},
        "team": user.team,
        "is_custom_image": custom,
    });
    if let Value::Object(map) = &mut profile {
        // Slack shows these only once they are set.
        for name in ["first_name", "last_name", "pronouns"] {
            if let Some(value) = user.fields.get(name) {
                map.insert(name.into(), Value::from(value.clone()));
            }
        }
        map.extend(images);
    }
    Ok(profile)
}

async fn profile_get(state: &Arc<State>, caller: &Caller, params: &Params) -> Reply {
    let user = match target_user(state, caller, params).await {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    match profile_object(state, &user).await {
        Ok(profile) => Reply::ok(json!({ "profile": profile })),
        Err(reply) => reply,
    }
}

async fn profile_set(state: &Arc<State>, caller: &Caller, params: &Params) -> Reply {
    let changes = match profile_changes(params) {
        Ok(changes) => changes,
        Err(code) => return Reply::error(code),
    };
    let user = caller.user_id.clone();
    let updated = blocking(state, move |s| {
        if !changes.is_empty() {
            s.store.update_profile(&user, &changes)?;
        }
        s.store.user(&user)
    })
    .await;
    let user = match updated {
        Ok(Some(user)) => user,
        Ok(None) => return Reply::error(Code::UserNotFound),
        Err(e) => return Reply::internal("updating a profile", e),
    };
    match profile_object(state, &user).await {
        Ok(profile) => Reply::ok(json!({ "username": user.name, "profile": profile })),
        Err(reply) => reply,
    }
}

/// The stored fields a users.profile.set call changes, cleaned: `profile` (a JSON
/// object) wins, else one `name` + `value` pair. Keys Slack has but that are not stored
/// here, and keys Slack does not know, are ignored, as Slack ignores unknown keys.
fn profile_changes(params: &Params) -> Result<Vec<(String, String)>, Code> {
    // A part over 64 KiB was dropped while the form was read: it is a value no profile
    // field can hold, not a missing argument.
    if ["profile", "name", "value"]
        .iter()
        .any(|n| params.oversized(n))
    {
        return Err(Code::InvalidProfile);
    }
    let mut changes = Vec::new();
    let mut set = |name: &str, value: &str| -> Result<(), Code> {
        if let Some(max) = profile::limit(name) {
            changes.push((name.to_owned(), profile::clean(value, max)?));
        }
        Ok(())
    };
    if let Some(profile) = params.get("profile") {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(profile) else {
            return Err(Code::InvalidProfile);
        };
        for (key, value) in &fields {
            if profile::limit(key).is_none() {
                // status_expiration: 0, fields: {...}, email...: not kept, whatever
                // their type.
                continue;
            }
            let Value::String(value) = value else {
                return Err(Code::InvalidProfile);
            };
            set(key, value)?;
        }
    } else if let (Some(name), Some(value)) = (params.get("name"), params.get("value")) {
        set(name, value)?;
    } else {
        return Err(Code::InvalidArguments);
    }
    Ok(changes)
}

async fn info(state: &Arc<State>, caller: &Caller, params: &Params) -> Reply {
    let user = match target_user(state, caller, params).await {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    let profile = match profile_object(state, &user).await {
        Ok(profile) => profile,
        Err(reply) => return reply,
    };
    let colour = id_hash(&user.id) & 0x00ff_ffff;
    Reply::ok(json!({
        "user": {
            "id": user.id,
            "team_id": user.team,
            "name": user.name,
            "deleted": false,
            "color": format!("{colour:06x}"),
            "real_name": user.real_name,
            "is_admin": false,
            "is_owner": false,
            "is_primary_owner": false,
            "is_restricted": false,
            "is_ultra_restricted": false,
            "is_bot": false,
            "is_app_user": false,
            "updated": user.updated,
            "profile": profile,
        }
    }))
}

async fn identity(state: &Arc<State>, caller: &Caller) -> Reply {
    let id = caller.user_id.clone();
    let user = match blocking(state, move |s| s.store.user(&id)).await {
        Ok(Some(user)) => user,
        Ok(None) => return Reply::error(Code::UserNotFound),
        Err(e) => return Reply::internal("user lookup", e),
    };
    let mut person = Map::new();
    person.insert("id".into(), Value::from(user.id.clone()));
    person.insert("name".into(), Value::from(user.name.clone()));
    if caller.has_scope("identity.avatar") {
        // users.identity carries 24..512 only.
        let (images, _) = match avatar_fields(state, &user).await {
            Ok(fields) => fields,
            Err(reply) => return reply,
        };
        let sizes = IMAGE_KEYS
            .iter()
            .filter(|(_, size)| (1..=512).contains(size));
        for (key, _) in sizes {
            if let Some(url) = images.get(*key) {
                person.insert((*key).into(), url.clone());
            }
        }
    }
    Reply::ok(json!({ "user": person, "team": { "id": user.team } }))
}

/// auth.test: who the token is, in Slack's shape (apps call it first to learn their user
/// and team; Bolt calls it at start-up).
async fn auth_test(state: &Arc<State>, caller: &Caller) -> Reply {
    let id = caller.user_id.clone();
    let user = match blocking(state, move |s| s.store.user(&id)).await {
        Ok(Some(user)) => user,
        Ok(None) => return Reply::error(Code::UserNotFound),
        Err(e) => return Reply::internal("user lookup", e),
    };
    Reply::ok(json!({
        "url": format!("{}/", state.public_url),
        "team": user.team,
        "user": user.name,
        "team_id": user.team,
        "user_id": user.id,
        "is_enterprise_install": false,
    }))
}

/// api.test: echoes the arguments (never the token), and answers `ok:false` with the
/// caller's own `error` argument when one is sent, as Slack does.
fn api_test(params: &Params) -> Reply {
    let mut args = Map::new();
    for (name, value) in params.pairs() {
        if name != "token" && !args.contains_key(name) {
            args.insert(name.to_owned(), Value::from(value));
        }
    }
    let error = params
        .get("error")
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    Reply::Test { error, args }
}
