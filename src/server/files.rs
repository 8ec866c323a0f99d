//! `GET`/`HEAD /avatars/<folder>/<name>`: files streamed from disk or from the bucket in
//! bounded chunks, a bounded number at once, with validators for conditional requests and
//! single byte ranges.
//!
//! A file is never read whole: its body is read [`CHUNK`] bytes at a time (from a bucket:
//! a couple of transfer chunks ahead), as the connection takes them, so a client that
//! reads slowly holds one chunk, not the file. At
//! most `files_in_flight` bodies are open at once; past that the answer is 503 with
//! `Retry-After`. A client that stops reading is dropped by the connection's write deadline
//! (see `deadline`), which frees its slot.

use std::io::{self, Seek as _, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method as HttpMethod, Response, StatusCode};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::avatars::{AvatarFiles, Located};

/// The body type of every response.
pub(super) type ResponseBody = UnsyncBoxBody<Bytes, io::Error>;

/// Bytes read from disk per step of a file body.
pub(super) const CHUNK: usize = 64 * 1024;

/// What serving a file needs.
#[derive(Debug)]
pub(super) struct FileServer<'a> {
    /// Where the files are.
    pub(super) files: &'a AvatarFiles,
    /// File bodies open at once (see `ServerConfig::files_in_flight`).
    pub(super) slots: &'a Arc<Semaphore>,
    /// Counts the bytes written to clients.
    pub(super) served: &'a Counter,
}

impl FileServer<'_> {
    /// Answers a request for `file` (`<folder>/<name>`, under `/avatars/`).
    pub(super) async fn serve(
        &self,
        method: &HttpMethod,
        headers: &HeaderMap,
        file: &str,
    ) -> Response<ResponseBody> {
        if !matches!(*method, HttpMethod::GET | HttpMethod::HEAD) {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let Some((folder, name)) = file.split_once('/') else {
            return not_found();
        };
        let Some(located) = self.files.locate(folder, name) else {
            return not_found();
        };
        let opened = tokio::task::spawn_blocking({
            let (folder, name) = (folder.to_owned(), name.to_owned());
            move || open(located, folder, name)
        })
        .await;
        let Ok(Ok(Some(opened))) = opened else {
            return not_found();
        };
        let length = opened.length;
        let stem = name.split_once('.').map_or(name, |(stem, _)| stem);
        let validators = Validators {
            // The name holds the picture's digest; the length guards against a file
            // rewritten under the same name by another build.
            etag: format!("\"{stem}-{length:x}\""),
            last_modified: opened.modified.and_then(http_date),
        };
        let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("png") => "image/png",
            Some("gif") => "image/gif",
            _ => "image/jpeg",
        };

        if validators.not_modified(headers) {
            let mut response = empty(StatusCode::NOT_MODIFIED);
            validators.describe(response.headers_mut());
            return response;
        }
        let range = if validators.range_applies(headers) {
            headers
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| byte_range(v, length))
        } else {
            None
        };
        let (status, start, count) = match range {
            None => (StatusCode::OK, 0, length),
            Some(Ok((first, last))) => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
            Some(Err(Unsatisfiable)) => {
                let mut response = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                response.headers_mut().insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{length}")),
                );
                return response;
            }
        };

        let mut response = if *method == HttpMethod::HEAD {
            empty(status)
        } else {
            // No waiting: a file answer is cheap to retry and a queue would hold the
            // connection anyway.
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "busy, retry\n");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
                return response;
            };
            let body = match opened.source {
                Source::File(mut file) => {
                    if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
                        return not_found();
                    }
                    FileBody {
                        file: tokio::fs::File::from_std(file),
                        remaining: count,
                        buf: Vec::new(),
                        served: self.served.clone(),
                        _slot: slot,
                    }
                    .boxed_unsync()
                }
                #[cfg(feature = "s3")]
                Source::Object { bucket, folder } => {
                    if count == 0 {
                        http_body_util::Empty::new()
                            .map_err(|never| match never {})
                            .boxed_unsync()
                    } else {
                        // Two transfer chunks ahead of the client at most.
                        match bucket.stream(&folder, name, start..start + count, 2) {
                            Ok(chunks) => ObjectBody {
                                chunks,
                                remaining: count,
                                served: self.served.clone(),
                                _slot: slot,
                            }
                            .boxed_unsync(),
                            Err(_) => return not_found(),
                        }
                    }
                }
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if status == StatusCode::PARTIAL_CONTENT {
            let last = start + count - 1;
            headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{last}/{length}")),
            );
        }
        validators.describe(headers);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// A file to serve, opened: where its bytes come from, its length and its age.
struct Opened {
    source: Source,
    length: u64,
    modified: Option<SystemTime>,
}

/// Where a served file's bytes come from.
enum Source {
    /// An open file.
    File(std::fs::File),
    /// An object of the bucket, in `folder`.
    #[cfg(feature = "s3")]
    Object {
        bucket: Arc<crate::s3::Bucket>,
        folder: String,
    },
}

/// Opens what `located` names (`folder`/`name`, for an object), if it is there. Blocks.
#[cfg_attr(not(feature = "s3"), allow(unused_variables))]
fn open(located: Located, folder: String, name: String) -> io::Result<Option<Opened>> {
    match located {
        Located::Path(path) => {
            let file = std::fs::File::open(&path)?;
            let metadata = file.metadata()?;
            Ok(metadata.is_file().then(|| Opened {
                length: metadata.len(),
                modified: metadata.modified().ok(),
                source: Source::File(file),
            }))
        }
        #[cfg(feature = "s3")]
        Located::Object(bucket) => Ok(bucket.head(&folder, &name)?.map(|head| Opened {
            length: head.length,
            modified: Some(head.modified),
            source: Source::Object { bucket, folder },
        })),
    }
}

/// What a response says about the file's version.
struct Validators {
    etag: String,
    last_modified: Option<String>,
}

impl Validators {
    /// Whether the client's copy is current: `If-None-Match` naming our tag (or `*`), or,
    /// without that header, `If-Modified-Since` equal to our `Last-Modified` (what a client
    /// sends back; the file under a name never changes, so equal means unchanged).
    fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
            return tags.to_str().is_ok_and(|tags| {
                tags.split(',').map(str::trim).any(|tag| {
                    tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == self.etag.as_str()
                })
            });
        }
        let since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok());
        since.is_some() && since == self.last_modified.as_deref()
    }

    /// Whether a `Range` header may be honoured: no `If-Range`, or one naming this version.
    fn range_applies(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::IF_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v == self.etag || Some(v) == self.last_modified.as_deref())
    }

    /// Adds the validators and the caching rule to `headers`.
    fn describe(&self, headers: &mut HeaderMap) {
        headers.insert(header::ETAG, header_value(&self.etag));
        if let Some(date) = &self.last_modified {
            headers.insert(header::LAST_MODIFIED, header_value(date));
        }
        // The name holds the picture's digest: it never changes under a URL.
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
}

/// A `Range` that no byte of the file satisfies (answered 416).
#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// The first and last byte of a single `bytes=` range of a `length`-byte file. `None` when
/// the header is to be ignored (another unit, several ranges, bad syntax): the whole file
/// is served, as RFC 9110 allows.
fn byte_range(header: &str, length: u64) -> Option<Result<(u64, u64), Unsatisfiable>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // The final `last` bytes.
        let suffix: u64 = last.parse().ok()?;
        if suffix == 0 || length == 0 {
            return Some(Err(Unsatisfiable));
        }
        return Some(Ok((length - suffix.min(length), length - 1)));
    }
    let first: u64 = first.parse().ok()?;
    let last = if last.is_empty() {
        None
    } else {
        let last: u64 = last.parse().ok()?;
        if last < first {
            return None;
        }
        Some(last)
    };
    if first >= length {
        return Some(Err(Unsatisfiable));
    }
    Some(Ok((first, last.map_or(length - 1, |l| l.min(length - 1)))))
}

/// A file's bytes from the current position, [`CHUNK`] at a time, holding a file slot
/// until it ends or is dropped.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    /// The chunk being read; kept across a pending read so that it is not reallocated.
    buf: Vec<u8>,
    /// Counts the bytes handed to the connection.
    served: Counter,
    _slot: OwnedSemaphorePermit,
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let this = &mut *self;
        this.buf.resize(want, 0);
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    // Shorter than its length said: end the connection, not pad it.
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                let mut chunk = std::mem::take(&mut this.buf);
                chunk.truncate(n);
                this.remaining -= n as u64;
                this.served.inc_by(n as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// An object's bytes as the bucket's transfer hands them over, holding a file slot until
/// it ends or is dropped (which stops the transfer).
#[cfg(feature = "s3")]
struct ObjectBody {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
    /// Counts the bytes handed to the connection.
    served: Counter,
    _slot: OwnedSemaphorePermit,
}

#[cfg(feature = "s3")]
impl Body for ObjectBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.chunks.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            // Shorter than its length said: end the connection, not pad it.
            Poll::Ready(None) => Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into()))),
            Poll::Ready(Some(Ok(chunk))) => {
                let n = (chunk.len() as u64).min(self.remaining);
                self.remaining -= n;
                self.served.inc_by(n);
                let n = usize::try_from(n).unwrap_or(chunk.len());
                Poll::Ready(Some(Ok(Frame::data(chunk.slice(..n)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// `time` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`); `None` before 1970.
fn http_date(time: SystemTime) -> Option<String> {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let days = seconds / 86_400;
    let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    // Days since 1970-01-01 to a civil date, counting in 400-year eras from 0000-03-01
    // (March first puts the leap day at the end of the year).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    let weekday = WEEKDAYS[usize::try_from(days % 7).ok()?];
    let month = MONTHS[usize::try_from(month - 1).ok()?];
    Some(format!(
        "{weekday}, {day:02} {month} {year} {hour:02}:{minute:02}:{second:02} GMT"
    ))
}

fn header_value(text: &str) -> HeaderValue {
    // Every value made here is ASCII digits, hex, letters and punctuation.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(
        http_body_util::Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn not_found() -> Response<ResponseBody> {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn http_dates() {
        let at = |s: u64| http_date(UNIX_EPOCH + Duration::from_secs(s)).unwrap();
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        // 2100 is not a leap year.
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(at(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        assert_eq!(at(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }

    #[test]
    fn byte_ranges() {
        let ok = |first, last| Some(Ok((first, last)));
        assert_eq!(byte_range("bytes=0-99", 1000), ok(0, 99));
        assert_eq!(byte_range("bytes=900-", 1000), ok(900, 999));
        assert_eq!(byte_range("bytes=900-5000", 1000), ok(900, 999));
        assert_eq!(byte_range("bytes=-100", 1000), ok(900, 999));
        assert_eq!(byte_range("bytes=-5000", 1000), ok(0, 999));
        assert_eq!(byte_range("bytes=1000-", 1000), Some(Err(Unsatisfiable)));
        assert_eq!(byte_range("bytes=-0", 1000), Some(Err(Unsatisfiable)));
        // Ignored: the whole file is served.
        for ignored in [
            "bytes=5-1",
            "bytes=0-1,5-9",
            "items=0-1",
            "bytes=x-",
            "bytes=1",
        ] {
            assert_eq!(byte_range(ignored, 1000), None, "{ignored}");
        }
    }

    #[test]
    fn a_file_body_comes_in_bounded_chunks_and_holds_its_slot_until_done() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..5 * CHUNK + 123).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        runtime.block_on(async {
            let slots = Arc::new(Semaphore::new(1));
            let served = Counter::default();
            let mut body = FileBody {
                file: tokio::fs::File::open(&path).await.unwrap(),
                remaining: bytes.len() as u64,
                buf: Vec::new(),
                served: served.clone(),
                _slot: slots.clone().try_acquire_owned().unwrap(),
            };
            assert_eq!(body.size_hint().exact(), Some(bytes.len() as u64));
            let mut read = Vec::new();
            let mut frames = 0;
            while let Some(frame) = body.frame().await {
                let data = frame.unwrap().into_data().unwrap();
                assert!(data.len() <= CHUNK, "{}", data.len());
                assert_eq!(slots.available_permits(), 0, "held while streaming");
                read.extend_from_slice(&data);
                frames += 1;
            }
            assert!(frames >= 6, "{frames}");
            assert_eq!(read, bytes);
            assert_eq!(served.get(), bytes.len() as u64);
            assert!(body.is_end_stream());
            drop(body);
            assert_eq!(slots.available_permits(), 1);
        });
    }
}
