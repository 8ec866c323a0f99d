//! A method's answer and its one mapping to the wire: `{"ok":true,...}`, or
//! `{"ok":false,"error":CODE,...}` with HTTP 200, or 429 with `Retry-After`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::error::BoxError;
use crate::{Code, Error};

/// A method's answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    /// `{"ok":true, ...}`.
    Ok(Map<String, Value>),
    /// `{"ok":false,"error":code, ...extra}`.
    Error {
        code: Code,
        extra: Map<String, Value>,
    },
    /// HTTP 429 with `Retry-After`, `{"ok":false,"error":"ratelimited"}`.
    RateLimited { retry_after: u64 },
    /// api.test's answer: `{"ok":true,"args":{...}}`, or `{"ok":false,"error":E,
    /// "args":{...}}` with the caller's own `error` argument as `E` (not a code of ours).
    Test {
        error: Option<String>,
        args: Map<String, Value>,
    },
}

impl Reply {
    /// `{"ok":false,"error":code}`.
    pub(super) fn error(code: Code) -> Self {
        Self::Error {
            code,
            extra: Map::new(),
        }
    }

    /// `{"ok":true, ...members}`; `members` must be a JSON object.
    pub(super) fn ok(members: Value) -> Self {
        match members {
            Value::Object(map) => Self::Ok(map),
            _ => Self::internal("a reply", "the members of an answer are not an object"),
        }
    }

    /// A failure that is not the caller's fault: logged with its whole `source()` chain
    /// (never with a token, which no error here carries), answered `internal_error`.
    pub(super) fn internal(what: &str, error: impl Into<BoxError>) -> Self {
        Self::from(&Error::internal(Context {
            what: what.to_owned(),
            source: error.into(),
        }))
    }

    /// The JSON body.
    pub(super) fn body(&self) -> Value {
        let mut body = Map::new();
        match self {
            Self::Ok(members) => {
                body.insert("ok".into(), Value::Bool(true));
                body.extend(members.clone());
            }
            Self::Error { code, extra } => {
                body.insert("ok".into(), Value::Bool(false));
                body.insert("error".into(), Value::from(code.as_str()));
                body.extend(extra.clone());
            }
            Self::RateLimited { .. } => {
                body.insert("ok".into(), Value::Bool(false));
                body.insert("error".into(), Value::from(Code::Ratelimited.as_str()));
            }
            Self::Test { error, args } => {
                body.insert("ok".into(), Value::Bool(error.is_none()));
                if let Some(error) = error {
                    body.insert("error".into(), Value::from(error.as_str()));
                }
                body.insert("args".into(), Value::Object(args.clone()));
            }
        }
        Value::Object(body)
    }

    /// The wire code of the answer: `ok`, or the error code (`error` for api.test's
    /// caller-chosen error, which is not a code of ours).
    pub(super) const fn wire_code(&self) -> &'static str {
        match self {
            Self::Ok(_) | Self::Test { error: None, .. } => "ok",
            Self::Error { code, .. } => code.as_str(),
            Self::RateLimited { .. } => Code::Ratelimited.as_str(),
            Self::Test { error: Some(_), .. } => "error",
        }
    }

    /// The HTTP response: the JSON body with HTTP 200, or 429 with `Retry-After`. It
    /// carries its [`WireCode`] as an extension, for the access log and metrics.
    pub(super) fn response(&self) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(&self.body()).unwrap_or_else(|_| {
            format!(
                r#"{{"ok":false,"error":"{}"}}"#,
                Code::InternalError.as_str()
            )
            .into_bytes()
        });
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Self::RateLimited { retry_after } = self {
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response.extensions_mut().insert(WireCode(self.wire_code()));
        response
    }
}

/// The wire code a response answers with, as a response extension (never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct WireCode(pub(super) &'static str);

/// The one mapping from an engine error to an answer; an internal one is logged first.
impl From<&Error> for Reply {
    fn from(error: &Error) -> Self {
        if let Error::Internal(_) = error {
            tracing::error!(target: "setphoto::serve", "{}", chain(error));
        }
        Self::error(error.wire_code())
    }
}

/// What the server was doing when an internal failure happened, in front of the failure.
#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct Context {
    what: String,
    #[source]
    source: BoxError,
}

/// `error` and every `source()` under it, joined by `: `.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_their_codes() {
        let reply = Reply::from(&Error::TooManyFrames { max: 3 });
        assert_eq!(
            reply.body().to_string(),
            r#"{"ok":false,"error":"too_many_frames"}"#
        );
    }

    #[test]
    fn internal_keeps_what_and_the_whole_chain() {
        let error = Error::internal(Context {
            what: "storing an avatar".into(),
            source: Box::new(std::io::Error::other("disk full")),
        });
        assert_eq!(
            chain(&error),
            "internal error: storing an avatar: disk full"
        );
        assert_eq!(
            Reply::internal("x", "y").body().to_string(),
            r#"{"ok":false,"error":"internal_error"}"#
        );
    }

    #[test]
    fn rate_limited_replies_are_429_with_retry_after() {
        let response = Reply::RateLimited { retry_after: 7 }.response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(
            response.extensions().get::<WireCode>(),
            Some(&WireCode("ratelimited"))
        );
    }
}
