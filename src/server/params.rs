//! Method arguments from wherever a Slack client puts them: the query string, an
//! urlencoded body, multipart text parts, or a JSON object body.

use bytes::Bytes;
use futures_util::stream;

use crate::Code;

/// Largest text field kept from a multipart form (names, crop values, tokens are tiny;
/// the limit keeps a form of huge text parts from being copied around).
const MAX_TEXT_FIELD: usize = 64 * 1024;

/// Arguments kept from one request; the methods read a handful, the rest is ignored.
const MAX_ARGUMENTS: usize = 1000;

/// The `image` argument as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageArg {
    /// A multipart file part (a part with a filename): the bytes, never trusted as to format.
    File(Bytes),
    /// Text: an urlencoded or query value, or a multipart part without a filename. Slack
    /// clients that send a stream this way (old Node SDKs) get `bad_image`.
    Text,
}

/// The arguments of one call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params {
    body: Vec<(String, String)>,
    query: Vec<(String, String)>,
    image: Option<ImageArg>,
    /// Names of multipart text parts dropped for being over [`MAX_TEXT_FIELD`].
    oversized: Vec<String>,
}

/// Why a body could not be read as arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsError {
    /// Broken multipart (no boundary, bad framing, truncated): `invalid_form_data`.
    InvalidFormData,
    /// A JSON body that is not a JSON object: `invalid_json`.
    InvalidJson,
}

impl ParamsError {
    /// The Slack error code.
    #[must_use]
    pub const fn code(self) -> Code {
        match self {
            Self::InvalidFormData => Code::InvalidFormData,
            Self::InvalidJson => Code::InvalidJson,
        }
    }
}

impl Params {
    /// The value of `name`: the body's wins over the query string's, a later one over an
    /// earlier one.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        fn last<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
            list.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        last(&self.body, name).or_else(|| last(&self.query, name))
    }

    /// Whether a multipart text part `name` was sent but dropped for being over 64 KiB
    /// (a method may answer that differently from a missing argument).
    #[must_use]
    pub fn oversized(&self, name: &str) -> bool {
        self.oversized.iter().any(|n| n == name)
    }

    /// Every argument of the body and the query string (the body's first), `token` too.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.body
            .iter()
            .chain(&self.query)
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `image` argument, if any.
    #[must_use]
    pub fn image(&self) -> Option<&ImageArg> {
        self.image.as_ref()
    }

    /// Parses the query string and a fully read body with its `Content-Type`.
    pub async fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Self, ParamsError> {
        let mut params = Self::default();
        if let Some(query) = query {
            params.query = urlencoded(query.as_bytes(), &mut params.image);
        }
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => {
                params.body = urlencoded(&body, &mut params.image);
            }
            "multipart/form-data" => {
                let boundary = content_type
                    .and_then(|ct| multer::parse_boundary(ct).ok())
                    .ok_or(ParamsError::InvalidFormData)?;
                params.multipart(body, boundary).await?;
            }
            "application/json" => params.body = json_object(&body)?,
            // Anything else (or nothing, as a GET sends) carries no arguments we read.
            _ => {}
        }
        Ok(params)
    }

    async fn multipart(&mut self, body: Bytes, boundary: String) -> Result<(), ParamsError> {
        let chunks = stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
        let mut form = multer::Multipart::new(chunks, boundary);
        let bad = |_| ParamsError::InvalidFormData;
        while let Some(field) = form.next_field().await.map_err(bad)? {
            let name = field.name().unwrap_or_default().to_owned();
            let is_file = field.file_name().is_some();
            if name == "image" {
                self.image = Some(if is_file {
                    ImageArg::File(field.bytes().await.map_err(bad)?)
                } else {
                    // Read it through so the rest of the form still parses.
                    field.bytes().await.map_err(bad)?;
                    ImageArg::Text
                });
                continue;
            }
            let bytes = field.bytes().await.map_err(bad)?;
            if is_file {
                continue;
            }
            if bytes.len() > MAX_TEXT_FIELD {
                if self.oversized.len() < MAX_ARGUMENTS {
                    self.oversized.push(name);
                }
                continue;
            }
            if self.body.len() < MAX_ARGUMENTS {
                self.body
                    .push((name, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
        Ok(())
    }
}

/// Pairs of an urlencoded string; an `image` pair is noted as text, not kept.
fn urlencoded(bytes: &[u8], image: &mut Option<ImageArg>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (k, v) in url::form_urlencoded::parse(bytes).take(MAX_ARGUMENTS) {
        if k == "image" {
            *image = Some(ImageArg::Text);
        } else {
            pairs.push((k.into_owned(), v.into_owned()));
        }
    }
    pairs
}

/// The members of a JSON object body: strings as they are, numbers and booleans as their
/// text, objects and arrays as their JSON text (what a form-encoding client sends for them:
/// Python's slack_sdk posts users.profile.set's `profile` as a JSON object), nulls dropped.
/// An empty body is no arguments (Python's slack_sdk sends one, labelled JSON, for
/// argument-less calls).
fn json_object(bytes: &[u8]) -> Result<Vec<(String, String)>, ParamsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| ParamsError::InvalidJson)?;
    let serde_json::Value::Object(members) = value else {
        return Err(ParamsError::InvalidJson);
    };
    Ok(members
        .into_iter()
        .take(MAX_ARGUMENTS)
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            serde_json::Value::Null => None,
            nested => Some((k, nested.to_string())),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn parse(query: Option<&str>, ct: Option<&str>, body: &[u8]) -> Result<Params, ParamsError> {
        block_on(Params::parse(query, ct, Bytes::copy_from_slice(body)))
    }

    #[test]
    fn body_wins_over_query_and_later_over_earlier() {
        let p = parse(
            Some("token=q&user=U1"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"token=a&token=b%2Bc",
        )
        .unwrap();
        assert_eq!(p.get("token"), Some("b+c"));
        assert_eq!(p.get("user"), Some("U1"));
        assert_eq!(p.get("crop_w"), None);
        assert_eq!(p.image(), None);
    }

    #[test]
    fn multipart_file_and_text_parts() {
        let body = b"--XyZ\r\n\
Content-Disposition: form-data; name=\"crop_w\"\r\n\r\n\
40\r\n\
--XyZ\r\n\
Content-Disposition: form-data; name=\"image\"; filename=\"a.txt\"\r\n\
Content-Type: text/plain\r\n\r\n\
\x89PNG bytes\r\n\
--XyZ--\r\n";
        let p = parse(None, Some("multipart/form-data; boundary=XyZ"), body).unwrap();
        assert_eq!(p.get("crop_w"), Some("40"));
        assert_eq!(
            p.image(),
            Some(&ImageArg::File(Bytes::from_static(b"\x89PNG bytes")))
        );
        let text_image = b"--b\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n[object Object]\r\n--b--\r\n";
        let p = parse(None, Some("multipart/form-data; boundary=b"), text_image).unwrap();
        assert_eq!(p.image(), Some(&ImageArg::Text));
        let p = parse(
            None,
            Some("application/x-www-form-urlencoded"),
            b"image=abc",
        )
        .unwrap();
        assert_eq!(p.image(), Some(&ImageArg::Text));
    }

    #[test]
    fn broken_multipart_is_invalid_form_data() {
        for (ct, body) in [
            ("multipart/form-data", &b"--b\r\n"[..]),
            (
                "multipart/form-data; boundary=b",
                b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end",
            ),
            ("multipart/form-data; boundary=b", b"garbage"),
        ] {
            assert_eq!(
                parse(None, Some(ct), body),
                Err(ParamsError::InvalidFormData),
                "{ct} {body:?}"
            );
        }
    }

    #[test]
    fn json_bodies() {
        let p = parse(None, Some("application/json"), b"").unwrap();
        assert_eq!(p, Params::default());
        let p = parse(
            None,
            Some("application/json"),
            br#"{"user":"U1","n":3,"x":[1],"profile":{"real_name":"A"},"z":null}"#,
        )
        .unwrap();
        assert_eq!(p.get("user"), Some("U1"));
        assert_eq!(p.get("n"), Some("3"));
        assert_eq!(p.get("x"), Some("[1]"));
        assert_eq!(p.get("profile"), Some(r#"{"real_name":"A"}"#));
        assert_eq!(p.get("z"), None);
        for bad in [&b"[1]"[..], b"{", b"\"s\""] {
            assert_eq!(
                parse(None, Some("application/json"), bad),
                Err(ParamsError::InvalidJson)
            );
        }
    }
}
