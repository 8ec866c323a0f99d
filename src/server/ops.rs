//! What an operator uses: `GET /healthz`, Prometheus `GET /metrics`, one access-log line
//! per request, and the client's address behind a reverse proxy (`--trust-proxy`).
//!
//! Metric and label names are fixed sets (method names, wire codes, HTTP statuses), never
//! anything a client chose, so a hostile client cannot grow the registry.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::header::{HeaderMap, HeaderName};
use ipnet::IpNet;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s text (OpenMetrics, which Prometheus reads).
pub(super) const METRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a request was, for its metrics and log line: the API method, or another endpoint.
pub(super) type Endpoint = &'static str;

/// The wire outcome of an answered request (`ok` or a Slack error code), carried from the
/// handler to the access log and metrics as a response extension (never sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Outcome {
    /// What was asked for: an API method name, or `avatars`, `healthz`, ...
    pub(super) endpoint: Endpoint,
    /// `ok`, a wire error code, or `-` where the answer is a plain HTTP status.
    pub(super) code: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    endpoint: Endpoint,
    code: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The server's counters, gauges and histograms, and their registry.
#[derive(Debug)]
pub(super) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram>,
    images: Family<OutcomeLabels, Counter>,
    engine_waiting: Gauge,
    engine_busy: Gauge,
    bodies_held: Gauge,
    files_streaming: Gauge,
    bytes_served: Counter,
}

impl Metrics {
    /// Every metric at zero, registered under `setphoto_`.
    pub(super) fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("setphoto"),
            requests: Family::default(),
            // 1 ms to ~16 s: a profile read takes a millisecond, a large upload seconds.
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
            images: Family::default(),
            engine_waiting: Gauge::default(),
            engine_busy: Gauge::default(),
            bodies_held: Gauge::default(),
            files_streaming: Gauge::default(),
            bytes_served: Counter::default(),
        };
        let r = &mut m.registry;
        r.register(
            "requests",
            "Requests answered, by endpoint (API method or path kind), wire code and HTTP status",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from the request's headers to the response's headers, by endpoint",
            m.latency.clone(),
        );
        r.register(
            "images_processed",
            "Uploads that reached the engine, by outcome (ok or the wire error code)",
            m.images.clone(),
        );
        r.register(
            "engine_queue_depth",
            "Uploads waiting for an engine slot",
            m.engine_waiting.clone(),
        );
        r.register(
            "engine_busy",
            "Uploads being processed now",
            m.engine_busy.clone(),
        );
        r.register(
            "bodies_in_flight",
            "Request bodies being read or held now",
            m.bodies_held.clone(),
        );
        r.register(
            "files_in_flight",
            "Avatar file bodies being streamed now",
            m.files_streaming.clone(),
        );
        r.register(
            "avatar_bytes_served",
            "Bytes of avatar files written to clients",
            m.bytes_served.clone(),
        );
        m
    }

    /// Counts an answered request and its time to the response's headers.
    pub(super) fn request(&self, outcome: Outcome, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: outcome.endpoint,
                code: outcome.code,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels {
                endpoint: outcome.endpoint,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts an upload that reached the engine, by its outcome.
    pub(super) fn image(&self, outcome: &'static str) {
        self.images.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Marks an upload as waiting for an engine slot until the guard is dropped.
    pub(super) fn engine_wait(&self) -> GaugeGuard {
        GaugeGuard::raise(&self.engine_waiting)
    }

    /// The counter of avatar bytes written to clients, for file bodies to add to.
    pub(super) fn bytes_served(&self) -> Counter {
        self.bytes_served.clone()
    }

    /// The metrics in the text exposition format, with the gauges read from `levels`.
    pub(super) fn render(&self, levels: Levels) -> String {
        let level = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.engine_busy.set(level(levels.engine_busy));
        self.bodies_held.set(level(levels.bodies_held));
        self.files_streaming.set(level(levels.files_streaming));
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a metric.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// How full the server's bounded resources are, read when the metrics are rendered.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Levels {
    /// Uploads holding an engine slot.
    pub(super) engine_busy: usize,
    /// Request bodies being read or held.
    pub(super) bodies_held: usize,
    /// Avatar file bodies being streamed.
    pub(super) files_streaming: usize,
}

/// A gauge raised by one while it lives.
#[derive(Debug)]
pub(super) struct GaugeGuard(Gauge);

impl GaugeGuard {
    fn raise(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The address a request came from: the peer's, or, when the peer is a trusted proxy,
/// the one its `X-Forwarded-For` names.
///
/// The header is read from its right end, where each proxy appends the address it saw:
/// trusted proxies are skipped, and the first address not trusted is the client. A value
/// that does not parse ends the walk there (anything to its left is the client's own
/// say-so), and a header made only of trusted proxies gives its leftmost. With no trusted
/// ranges the header is ignored: a client could write anything in it.
pub(super) fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
    let mut client = peer;
    // Several headers are one list, in order.
    let hops: Vec<&str> = headers
        .get_all(&FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Parses `--trust-proxy` ranges: addresses or CIDR blocks, comma-separated.
///
/// # Errors
/// The first entry that is neither, in words.
pub fn parse_trusted(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| format!("{entry:?} is not an address or a CIDR range"))
        })
        .collect()
}

/// Writes the access-log line of one request (target `setphoto::access`, level INFO).
///
/// The path is logged without its query string, which may hold a token, and cut to a
/// bounded length; the fields are structured, so a JSON log escapes them.
pub(super) struct AccessLine<'a> {
    /// The client's address (see [`client_address`]).
    pub(super) client: IpAddr,
    /// The HTTP method.
    pub(super) method: &'a str,
    /// The request's path.
    pub(super) path: &'a str,
    /// The answer's HTTP status.
    pub(super) status: u16,
    /// What was asked for and the wire outcome.
    pub(super) outcome: Outcome,
    /// The response body's length, when known before it is sent.
    pub(super) bytes: Option<u64>,
    /// Time to the response's headers.
    pub(super) elapsed: Duration,
}

/// Longest path written to the log, in bytes.
const LOGGED_PATH: usize = 200;

impl AccessLine<'_> {
    /// Emits the line.
    pub(super) fn emit(&self) {
        let mut cut = self.path.len().min(LOGGED_PATH);
        while !self.path.is_char_boundary(cut) {
            cut -= 1;
        }
        let path = &self.path[..cut];
        let micros = u64::try_from(self.elapsed.as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "setphoto::access",
            client = %self.client,
            method = self.method,
            path,
            status = self.status,
            endpoint = self.outcome.endpoint,
            code = self.outcome.code,
            bytes = self.bytes,
            ms = micros as f64 / 1000.0,
        );
    }
}

/// A unique name for each readiness probe's scratch file.
static PROBES: AtomicU64 = AtomicU64::new(0);

/// Checks the data folder takes a new file: writes, syncs and removes a scratch file.
///
/// # Errors
/// What the file system said.
pub(super) fn probe_writable(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let n = PROBES.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".healthz-{}-{n}", std::process::id()));
    let written = std::fs::File::create_new(&path).and_then(|mut file| {
        file.write_all(b"ok")?;
        file.sync_all()
    });
    let removed = std::fs::remove_file(&path);
    written.and(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_trusted() {
        let trusted = parse_trusted("10.0.0.0/8").unwrap();
        let forged = headers(&["1.2.3.4"]);
        assert_eq!(
            client_address(ip("203.0.113.9"), &forged, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(client_address(ip("10.0.0.1"), &forged, &[]), ip("10.0.0.1"));
        assert_eq!(
            client_address(ip("10.0.0.1"), &forged, &trusted),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = parse_trusted("10.0.0.0/8, 192.168.1.1").unwrap();
        // The client wrote "6.6.6.6" itself; the proxies appended what they saw.
        let chain = headers(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(
            client_address(ip("192.168.1.1"), &chain, &trusted),
            ip("198.51.100.7")
        );
        // Only trusted hops: the leftmost.
        let inside = headers(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(
            client_address(ip("10.0.0.5"), &inside, &trusted),
            ip("10.2.2.2")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn garbage_stops_the_walk_and_ports_and_brackets_are_read() {
        let trusted = parse_trusted("127.0.0.1,::1").unwrap();
        let chain = headers(&["unknown, [2001:db8::1]:443"]);
        assert_eq!(
            client_address(ip("::1"), &chain, &trusted),
            ip("2001:db8::1")
        );
        let chain = headers(&["198.51.100.7:5000"]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &chain, &trusted),
            ip("198.51.100.7")
        );
        // An unparsable last hop: the proxy is all we know.
        let chain = headers(&["198.51.100.7, not-an-address"]);
        assert_eq!(
            client_address(ip("127.0.0.1"), &chain, &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn trusted_ranges_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_trusted("10.0.0.7/8").unwrap(),
            vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            parse_trusted("::1").unwrap(),
            vec!["::1/128".parse::<IpNet>().unwrap()]
        );
        let err = parse_trusted("10.0.0.0/8,proxy.local").unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
    }

    #[test]
    fn metrics_render_what_was_counted() {
        let metrics = Metrics::new();
        let outcome = Outcome {
            endpoint: "users.setPhoto",
            code: "bad_image",
        };
        metrics.request(outcome, 200, Duration::from_millis(3));
        metrics.request(outcome, 200, Duration::from_millis(5));
        metrics.image("bad_image");
        metrics.bytes_served().inc_by(1234);
        let waiting = metrics.engine_wait();
        let levels = Levels {
            engine_busy: 2,
            ..Levels::default()
        };
        let text = metrics.render(levels);
        assert!(
            text.contains(
                r#"setphoto_requests_total{endpoint="users.setPhoto",code="bad_image",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"setphoto_request_duration_seconds_count{endpoint="users.setPhoto"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"setphoto_images_processed_total{outcome="bad_image"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("setphoto_avatar_bytes_served_total 1234"),
            "{text}"
        );
        assert!(text.contains("setphoto_engine_busy 2"), "{text}");
        assert!(text.contains("setphoto_engine_queue_depth 1"), "{text}");
        drop(waiting);
        let text = metrics.render(Levels::default());
        assert!(text.contains("setphoto_engine_queue_depth 0"), "{text}");
    }

    #[test]
    fn the_probe_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("setphoto-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        probe_writable(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(probe_writable(&dir).is_err());
    }
}
