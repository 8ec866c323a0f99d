//! The HTTP layer: connections, deadlines, body limits, routing, panics.

use std::convert::Infallible;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method as HttpMethod, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;

use super::admission::{Pace, Standing};
use super::api::{self, Method, State};
use super::deadline::WriteDeadline;
use super::files::{FileServer, ResponseBody};
use super::ops::{self, Endpoint, Outcome};
use super::params::Params;
use super::reply::{Reply, WireCode};
use crate::Code;

/// Largest body that is not multipart (urlencoded or JSON arguments).
const MAX_PLAIN_BODY: u64 = 1024 * 1024;

/// Most bytes of a refused (`too_large`) body that are read and thrown away before the
/// answer. Most HTTP clients write the whole body before they read a response; closing
/// on unread data makes the kernel reset the connection, and such a client would see a
/// broken pipe instead of `too_large`. Past this, the reset is the cheaper outcome.
const DISCARD_LIMIT: u64 = 64 * 1024 * 1024;

/// Longest time spent throwing away a refused body.
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// How long requests in progress may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` fires, then drains.
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of descriptors or a connection reset before accept: back off
                    // briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Reap finished connections so the set does not grow with the total served.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let header_timeout = state.config.header_timeout;
            let write_timeout = state.config.write_timeout;
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request, peer.ip()).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(
                    TokioIo::new(WriteDeadline::new(stream, write_timeout)),
                    service,
                );
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// One request: routed, with any panic turned into `internal_error`, then counted and
/// logged.
async fn handle(
    state: &Arc<State>,
    request: Request<Incoming>,
    peer: IpAddr,
) -> Response<ResponseBody> {
    let started = tokio::time::Instant::now();
    let client = ops::client_address(peer, request.headers(), &state.config.trusted_proxies);
    let http_method = request.method().clone();
    let path = request.uri().path().to_owned();
    let target = Target::of(&path);
    let endpoint = target.label();
    let response = guarded(route(state, target, request, client)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let outcome = Outcome {
        endpoint,
        code: response.extensions().get::<WireCode>().map_or("-", |c| c.0),
    };
    state.metrics.request(outcome, status, elapsed);
    ops::AccessLine {
        client,
        method: http_method.as_str(),
        path: &path,
        status,
        outcome,
        bytes: response.body().size_hint().exact(),
        elapsed,
    }
    .emit();
    response
}

/// Runs `work`; a panic in it becomes an `internal_error` answer and the connection (and
/// the process) carry on.
async fn guarded(work: impl Future<Output = Response<ResponseBody>>) -> Response<ResponseBody> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(
                target: "setphoto::serve",
                "a handler panicked; answered internal_error"
            );
            boxed(Reply::error(Code::InternalError).response())
        }
    }
}

/// What a request's path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `/avatars/<folder>/<name>`.
    Avatar(String),
    /// `.../api/<method>`, or `None` for a name we do not serve.
    Api(Option<Method>),
    /// `/healthz`.
    Health,
    /// `/metrics`.
    Metrics,
    /// `/`.
    Root,
    /// Anything else.
    NotFound,
}

impl Target {
    fn of(path: &str) -> Self {
        if let Some(file) = path.strip_prefix("/avatars/") {
            return Self::Avatar(file.to_owned());
        }
        if let Some(at) = path.rfind("/api/") {
            let name = path[at + "/api/".len()..].trim_end_matches('/');
            return Self::Api(Method::from_name(name));
        }
        match path {
            "/healthz" => Self::Health,
            "/metrics" => Self::Metrics,
            "/" => Self::Root,
            _ => Self::NotFound,
        }
    }

    /// The endpoint label of metrics and the access log: one of a fixed set.
    const fn label(&self) -> Endpoint {
        match self {
            Self::Avatar(_) => "avatars",
            Self::Api(Some(method)) => method.name(),
            Self::Api(None) => "unknown_method",
            Self::Health => "healthz",
            Self::Metrics => "metrics",
            Self::Root => "root",
            Self::NotFound => "not_found",
        }
    }
}

async fn route(
    state: &Arc<State>,
    target: Target,
    request: Request<Incoming>,
    client: IpAddr,
) -> Response<ResponseBody> {
    match target {
        Target::Avatar(file) => {
            let files = FileServer {
                files: &state.files,
                slots: &state.file_slots,
                served: &state.metrics.bytes_served(),
            };
            files
                .serve(request.method(), request.headers(), &file)
                .await
        }
        Target::Api(method) => boxed(api_call(state, method, request, client).await),
        Target::Health => boxed(health(state, request.method()).await),
        Target::Metrics => boxed(metrics(state, request.method())),
        Target::Root => boxed(text(
            StatusCode::OK,
            "setphoto serve: Slack users.* methods under /api/, avatars under /avatars/\n",
        )),
        Target::NotFound => boxed(text(StatusCode::NOT_FOUND, "not found\n")),
    }
}

/// `GET /healthz`: 200 when the database takes a write transaction and the avatar store
/// a new file, else 503; the body names the backends and what failed.
async fn health(state: &Arc<State>, method: &HttpMethod) -> Response<Full<Bytes>> {
    if let Some(refused) = only_get(method) {
        return refused;
    }
    let checked = tokio::task::spawn_blocking({
        let state = state.clone();
        move || {
            let database = state.store.ping().map_err(|e| e.to_string());
            let files = state.files.probe().map_err(|e| e.to_string());
            (database, files)
        }
    })
    .await;
    let (database, files) = checked.unwrap_or_else(|e| (Err(e.to_string()), Err(String::new())));
    let ready = database.is_ok() && files.is_ok();
    let mut body = serde_json::json!({
        "ok": ready,
        "database": state.store.engine(),
        "store": state.files.kind(),
    });
    if let Err(e) = database {
        body["database_error"] = e.into();
    }
    if let Err(e) = files {
        body["store_error"] = e.into();
    }
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !ready {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response
}

/// `GET /metrics`: Prometheus's text format.
fn metrics(state: &State, method: &HttpMethod) -> Response<Full<Bytes>> {
    if let Some(refused) = only_get(method) {
        return refused;
    }
    let text = state.metrics.render(state.levels());
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ops::METRICS_CONTENT_TYPE),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 405 for anything but GET and HEAD.
fn only_get(method: &HttpMethod) -> Option<Response<Full<Bytes>>> {
    if matches!(*method, HttpMethod::GET | HttpMethod::HEAD) {
        return None;
    }
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(response)
}

/// A whole-in-memory response as the body type every response has.
fn boxed(response: Response<Full<Bytes>>) -> Response<ResponseBody> {
    response.map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

async fn api_call(
    state: &Arc<State>,
    method: Option<Method>,
    request: Request<Incoming>,
    client: IpAddr,
) -> Response<Full<Bytes>> {
    if !matches!(*request.method(), HttpMethod::GET | HttpMethod::POST) {
        let mut response = Reply::error(Code::MethodNotSupported).response();
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return response;
    }
    let Some(method) = method else {
        return Reply::error(Code::UnknownMethod).response();
    };
    // Only multipart carries an image; any other body is a handful of short arguments, and
    // a small cap keeps an urlencoded or JSON body from exploding into millions of pairs.
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    let limit = if is_multipart {
        state.config.max_body_bytes
    } else {
        state.config.max_body_bytes.min(MAX_PLAIN_BODY)
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A client that sent `Expect: 100-continue` waits for our word before it sends the
    // body, so a refusal needs no discarding: reading would only invite the body.
    let waits_to_send = request.headers().contains_key(header::EXPECT);
    if declared.is_some_and(|n| n > limit) {
        // Refused from the header alone: the body is never stored.
        if !waits_to_send && declared.is_some_and(|n| n <= DISCARD_LIMIT) {
            discard(request.into_body(), DISCARD_LIMIT, DISCARD_TIME).await;
        }
        return closing(Reply::error(Code::TooLarge).response());
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    let query_token = request.uri().query().and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "token")
            .last()
            .map(|(_, v)| v.into_owned())
    });
    // The token is checked before the body is waited for, so that a caller who holds no
    // valid token cannot queue ahead of, or crowd out, those who do.
    let (standing, admitted) =
        match api::admit(state, method, client, query_token, bearer.clone()).await {
            api::Admission::Admitted(admitted) => (Standing::Authenticated, Some(admitted)),
            api::Admission::Anonymous => (Standing::Anonymous, None),
            api::Admission::Refused(reply) => {
                return refuse_unread(request.into_body(), limit, waits_to_send, &reply).await;
            }
        };
    // Bodies are read whole, so bound how many are held at once: memory stays below
    // `bodies_in_flight` x the limit however many connections are open. A request without
    // a body holds no memory and takes no slot.
    let (parts, mut body) = request.into_parts();
    let body_slot = if body.is_end_stream() {
        None
    } else {
        match state.bodies.acquire(standing).await {
            Some(slot) => Some(slot),
            None => {
                let busy = Reply::RateLimited { retry_after: 1 };
                return refuse_unread(body, limit, waits_to_send, &busy).await;
            }
        }
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(0));
    let config = &state.config;
    let pace = Pace::start(
        config.body_idle_timeout,
        config.body_min_rate,
        config.request_timeout,
    );
    let body = match read_body(&mut body, limit, capacity, &pace).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge(read)) => {
            drop(body_slot);
            let left = config
                .request_timeout
                .saturating_sub(pace.started().elapsed());
            if !waits_to_send {
                discard(
                    body,
                    DISCARD_LIMIT.saturating_sub(read),
                    DISCARD_TIME.min(left),
                )
                .await;
            }
            return closing(Reply::error(Code::TooLarge).response());
        }
        // The client broke the framing or went away mid-body.
        Err(BodyError::Broken) => {
            return closing(Reply::error(Code::InvalidFormData).response());
        }
        Err(BodyError::Stalled) => return closing(Reply::error(Code::RequestTimeout).response()),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = match Params::parse(parts.uri.query(), content_type, body).await {
        Ok(params) => params,
        Err(e) => return Reply::error(e.code()).response(),
    };
    // Run the call as its own task: if the client hangs up, hyper drops this future, but
    // the call (engine permit, per-user lock, files, commit) still runs to its end, so no
    // lock or limit is released while its work goes on.
    let task_state = state.clone();
    let call = tokio::spawn(async move {
        api::call(&task_state, method, client, &params, bearer, admitted).await
    });
    match call.await {
        Ok(reply) => reply.response(),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Reply::error(Code::InternalError).response(),
    }
}

/// Why a body could not be read whole.
enum BodyError {
    /// Over the limit after this many bytes; the rest is unread.
    TooLarge(u64),
    /// Broken framing, or the client went away mid-body.
    Broken,
    /// It paused too long, came too slowly, or passed the whole-request deadline.
    Stalled,
}

/// Reads `body` whole at the pace `pace` demands, refusing it once it passes `limit`
/// bytes. `capacity` (the declared length, already known to be within the limit) sizes
/// the buffer up front.
async fn read_body(
    body: &mut Incoming,
    limit: usize,
    capacity: usize,
    pace: &Pace,
) -> Result<Bytes, BodyError> {
    let mut bytes = Vec::with_capacity(capacity.min(limit));
    let mut last = pace.started();
    loop {
        let deadline = pace.next_deadline(bytes.len() as u64, last);
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_elapsed) => return Err(BodyError::Stalled),
            Ok(None) => break,
            Ok(Some(frame)) => frame.map_err(|_| BodyError::Broken)?,
        };
        last = tokio::time::Instant::now();
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry no arguments
        };
        if bytes.len() + data.len() > limit {
            return Err(BodyError::TooLarge((bytes.len() + data.len()) as u64));
        }
        bytes.extend_from_slice(&data);
    }
    Ok(Bytes::from(bytes))
}

/// Answers `reply` to a request whose body was not read: the body (up to `limit` bytes) is
/// first read and dropped for a short while, so that a client still writing it gets the
/// answer rather than a reset (see [`DISCARD_LIMIT`]).
async fn refuse_unread(
    body: Incoming,
    limit: u64,
    waits_to_send: bool,
    reply: &Reply,
) -> Response<Full<Bytes>> {
    if body.is_end_stream() {
        return reply.response();
    }
    if !waits_to_send {
        discard(body, limit, DISCARD_TIME).await;
    }
    closing(reply.response())
}

/// Reads and drops up to `most` bytes of `body` for at most `time`, so that the answer
/// that follows reaches a client still writing (see [`DISCARD_LIMIT`]).
async fn discard(mut body: Incoming, most: u64, time: Duration) {
    let drain = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > most {
                    break;
                }
            }
        }
    };
    // Time up or limit passed: the connection closes on unread data, as it must.
    let _ = tokio::time::timeout(time, drain).await;
}

/// Marks a response as the last on its connection (the body was not read to its end).
fn closing(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_answers_internal_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let response = runtime.block_on(guarded(async {
            if true {
                panic!("a bug in a handler");
            }
            boxed(text(StatusCode::OK, "unreachable"))
        }));
        assert_eq!(response.status(), StatusCode::OK);
        let body = runtime
            .block_on(response.into_body().collect())
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], br#"{"ok":false,"error":"internal_error"}"#);
    }
}
