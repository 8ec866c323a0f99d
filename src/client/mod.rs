//! A thin, dependable client for any users.setPhoto endpoint (cargo feature `client`):
//! Slack itself or a compatible service such as `setphoto serve`.
//!
//! ```no_run
//! use setphoto::client::{Client, ClientConfig};
//!
//! # fn main() -> Result<(), setphoto::client::ClientError> {
//! let client = Client::new(ClientConfig::new("xoxp-...").base_url("http://127.0.0.1:8080/api/"))?;
//! let bytes = std::fs::read("photo.jpg").expect("readable");
//! let profile = client.set_photo(bytes, None)?;
//! println!("{}", profile.avatar_hash);
//! # Ok(())
//! # }
//! ```
//!
//! Blocking, on `ureq`: an upload is one request, so a whole async stack would buy nothing.
//! Retries: HTTP 429 waits for `Retry-After` (capped); connection failures, timeouts and
//! 5xx back off exponentially with jitter; both are bounded by `max_retries`. An
//! `ok:false` answer other than `ratelimited` is never retried. The token is sent only in
//! the `Authorization` header and never appears in `Debug` output or errors.

mod form;
mod retry;

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

pub use retry::RetryPolicy;

use crate::format::sniff;
use crate::profile::Profile;
use crate::{Code, CropBox, Policy, SetPhotoRequest};
use form::Form;

/// Slack's Web API.
pub const SLACK_API: &str = "https://slack.com/api/";

/// Largest response body read (profiles are a few KiB).
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// How to reach the endpoint.
#[derive(Clone)]
pub struct ClientConfig {
    base_url: String,
    token: String,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl ClientConfig {
    /// Slack's API with `token`, 10 s to connect, 60 s per request, default retries.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            base_url: SLACK_API.to_owned(),
            token: token.into(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }

    /// The base URL that method names are appended to (`.../api/`).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Time allowed to open a connection.
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one whole request, upload and answer.
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failures are retried.
    #[must_use]
    pub const fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The endpoint answered `ok:false` (after retries, for `ratelimited`).
    #[error("the endpoint refused the call: {code}")]
    Api {
        /// Slack's error code.
        code: String,
        /// The endpoint's JSON body, as sent.
        body: String,
    },
    /// `--normalize` refused the image locally, before any network.
    #[error(transparent)]
    Image(#[from] crate::Error),
    /// No answer: connection refused or reset, timeout, DNS, TLS (after retries).
    #[error("no answer from {url} after {attempts} attempt(s): {message}")]
    Transport {
        /// The method URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// An answer that is not a Slack API answer (not JSON, wrong shape, 5xx after retries).
    #[error("unexpected answer from {url} (HTTP {status}): {message}")]
    InvalidResponse {
        /// The method URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        message: String,
        /// The body, as sent (at most 1 MiB).
        body: String,
    },
    /// The client was set up wrongly (no token, a base URL that is not http(s)).
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// A Slack-style error code for this failure: the endpoint's own as it sent it (any
    /// endpoint may answer codes that are not a [`Code`]), else [`ClientError::known_code`].
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::Api { code, .. } => code,
            _ => self
                .known_code()
                .map_or(Code::UnknownError.as_str(), Code::as_str),
        }
    }

    /// The failure as one of setphoto's [`Code`]s: the engine's, `transport_error`,
    /// `invalid_response`, `invalid_arguments`, or the endpoint's when it is one of ours
    /// (`None` for an endpoint code setphoto does not know).
    #[must_use]
    pub fn known_code(&self) -> Option<Code> {
        Some(match self {
            Self::Api { code, .. } => return Code::parse(code),
            Self::Image(e) => e.wire_code(),
            Self::Transport { .. } => Code::TransportError,
            Self::InvalidResponse { .. } => Code::InvalidResponse,
            Self::Config(_) => Code::InvalidArguments,
        })
    }

    /// The endpoint's body, when there was one.
    #[must_use]
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } | Self::InvalidResponse { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// An `ok:true` answer: the parsed JSON and the body as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The parsed body.
    pub json: Value,
    /// The body as the endpoint sent it.
    pub body: String,
}

/// The client.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    config: ClientConfig,
}

impl Client {
    /// A client for `config`; refuses an empty token or a base URL that is not http(s).
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if config.token.trim().is_empty() {
            return Err(ClientError::Config(
                "no token: pass --token or set SLACK_TOKEN".into(),
            ));
        }
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "the base URL must start with http:// or https://, got {:?}",
                config.base_url
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.timeout))
            // A redirected POST would lose its body or its token; an API endpoint that
            // redirects is misconfigured, and saying so beats a confusing error later.
            .max_redirects(0)
            .user_agent(concat!("setphoto/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { agent, config })
    }

    /// The URL of `method`.
    fn url(&self, method: &str) -> String {
        format!("{}/{method}", self.config.base_url.trim_end_matches('/'))
    }

    /// Uploads `image` as the caller's avatar, with an optional crop box, and returns the
    /// checked profile (nine keys, a 12-hex `avatar_hash`).
    pub fn set_photo(
        &self,
        image: impl Into<Bytes>,
        crop: Option<CropBox>,
    ) -> Result<Profile, ClientError> {
        let answer = self.set_photo_answer(image.into(), crop)?;
        parse_profile(&self.url("users.setPhoto"), &answer)
    }

    /// Like [`Client::set_photo`], returning the endpoint's whole answer.
    pub fn set_photo_answer(
        &self,
        image: Bytes,
        crop: Option<CropBox>,
    ) -> Result<Answer, ClientError> {
        let (filename, content_type) = match sniff(&image) {
            Some(format) => (format!("image.{}", format.extension()), format.mime_type()),
            // Not ours to judge without --normalize: the endpoint says bad_image.
            None => ("image.bin".to_owned(), "application/octet-stream"),
        };
        let mut form = Form::default();
        if let Some(crop) = crop {
            form = form
                .text("crop_x", crop.x().to_string())
                .text("crop_y", crop.y().to_string())
                .text("crop_w", crop.side().to_string());
        }
        let form = form.file("image", &filename, content_type, image);
        self.call("users.setPhoto", &form)
    }

    /// Runs the engine locally first (validate, orient, crop or letterbox) and uploads the
    /// square at most 1024 px, so a bad file fails here, before any network, with the code
    /// the endpoint would give.
    pub fn set_photo_normalized(
        &self,
        image: impl Into<Bytes>,
        crop: Option<CropBox>,
        policy: &Policy,
    ) -> Result<Answer, ClientError> {
        let square = normalize(image.into(), crop, policy)?;
        self.set_photo_answer(square, None)
    }

    /// `users.profile.get` for the caller.
    pub fn profile_get(&self) -> Result<Answer, ClientError> {
        self.call("users.profile.get", &Form::default())
    }

    /// `users.info` for `user`.
    pub fn users_info(&self, user: &str) -> Result<Answer, ClientError> {
        self.call("users.info", &Form::default().text("user", user))
    }

    /// `users.identity` for the caller.
    pub fn identity(&self) -> Result<Answer, ClientError> {
        self.call("users.identity", &Form::default())
    }

    /// `users.deletePhoto`: back to the default avatar.
    pub fn delete_photo(&self) -> Result<Answer, ClientError> {
        self.call("users.deletePhoto", &Form::default())
    }

    /// The `avatar_hash` the endpoint now serves for the caller (`users.profile.get`).
    pub fn current_avatar_hash(&self) -> Result<String, ClientError> {
        let answer = self.profile_get()?;
        answer.json["profile"]["avatar_hash"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ClientError::InvalidResponse {
                url: self.url("users.profile.get"),
                status: 200,
                message: "no profile.avatar_hash".into(),
                body: answer.body.clone(),
            })
    }

    /// POSTs `form` to `method` with retries; `Ok` only for `ok:true`.
    pub(crate) fn call(&self, method: &str, form: &Form) -> Result<Answer, ClientError> {
        let url = self.url(method);
        let (content_type, body) = form.encode();
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self
                .agent
                .post(&url)
                .header("Authorization", format!("Bearer {}", self.config.token))
                .header("Content-Type", &content_type)
                .send(&body[..]);
            let wait = match outcome {
                Ok(response) => {
                    let reply = read_reply(&url, response)?;
                    match reply {
                        Reply::Done(result) => return result,
                        Reply::RateLimited { retry_after, body } => {
                            if attempt > policy.max_retries {
                                return Err(ClientError::Api {
                                    code: Code::Ratelimited.as_str().into(),
                                    body,
                                });
                            }
                            policy.rate_limit_wait(retry_after, attempt)
                        }
                        Reply::ServerError { status, body } => {
                            if attempt > policy.max_retries {
                                return Err(ClientError::InvalidResponse {
                                    url,
                                    status,
                                    message: "server error".into(),
                                    body,
                                });
                            }
                            policy.backoff(attempt)
                        }
                    }
                }
                Err(e) if is_retryable(&e) && attempt <= policy.max_retries => {
                    policy.backoff(attempt)
                }
                Err(e) => {
                    return Err(ClientError::Transport {
                        url,
                        attempts: attempt,
                        message: e.to_string(),
                    });
                }
            };
            std::thread::sleep(wait);
        }
    }
}

/// The square at most 1024 px that `--normalize` uploads: the engine's largest rendition.
pub fn normalize(
    image: Bytes,
    crop: Option<CropBox>,
    policy: &Policy,
) -> Result<Bytes, ClientError> {
    let request = SetPhotoRequest::new(image).with_crop_box(crop);
    let set = crate::process(&request, policy)?;
    let largest = set
        .rendition_for(crate::RENDITION_SIZES[0])
        .ok_or_else(|| crate::Error::Internal("the engine made no rendition".into()))?;
    Ok(Bytes::copy_from_slice(largest.bytes()))
}

enum Reply {
    Done(Result<Answer, ClientError>),
    RateLimited {
        retry_after: Option<u64>,
        body: String,
    },
    ServerError {
        status: u16,
        body: String,
    },
}

fn read_reply(
    url: &str,
    mut response: ureq::http::Response<ureq::Body>,
) -> Result<Reply, ClientError> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = match response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
    {
        Ok(body) => body,
        // The answer broke off: as good as no answer, retried like one.
        Err(_) if status >= 500 => String::new(),
        Err(e) => {
            return Err(ClientError::InvalidResponse {
                url: url.to_owned(),
                status,
                message: format!("unreadable body: {e}"),
                body: String::new(),
            });
        }
    };
    if status == 429 {
        return Ok(Reply::RateLimited { retry_after, body });
    }
    if status >= 500 {
        return Ok(Reply::ServerError { status, body });
    }
    let invalid = |message: String, body: String| ClientError::InvalidResponse {
        url: url.to_owned(),
        status,
        message,
        body,
    };
    let json: Value = match serde_json::from_str(&body) {
        Ok(json) => json,
        Err(_) => return Ok(Reply::Done(Err(invalid("not JSON".into(), body)))),
    };
    let result = match json.get("ok") {
        Some(Value::Bool(true)) => Ok(Answer { json, body }),
        Some(Value::Bool(false)) => Err(ClientError::Api {
            code: json
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or(Code::UnknownError.as_str())
                .to_owned(),
            body,
        }),
        _ => Err(invalid("no boolean \"ok\"".into(), body)),
    };
    Ok(Reply::Done(result))
}

/// The profile of a setPhoto answer, checked: exactly the nine keys, a 12-hex hash.
fn parse_profile(url: &str, answer: &Answer) -> Result<Profile, ClientError> {
    let invalid = |message: String| ClientError::InvalidResponse {
        url: url.to_owned(),
        status: 200,
        message,
        body: answer.body.clone(),
    };
    let profile: Profile = serde_json::from_value(answer.json["profile"].clone())
        .map_err(|e| invalid(format!("profile: {e}")))?;
    let hash_ok = profile.avatar_hash.len() == 12
        && profile
            .avatar_hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hash_ok {
        return Err(invalid(format!(
            "avatar_hash {:?} is not 12 lowercase hex digits",
            profile.avatar_hash
        )));
    }
    Ok(profile)
}

/// Failures worth another attempt: nothing (or half an answer) came back.
fn is_retryable(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
            | ureq::Error::HostNotFound
    )
}
