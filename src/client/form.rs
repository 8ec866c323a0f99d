//! `multipart/form-data` bodies, written here rather than through ureq's multipart API,
//! which is marked unstable: the one place that knows the wire format of an upload.

use bytes::Bytes;

/// One form field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Text {
        name: String,
        value: String,
    },
    File {
        name: String,
        filename: String,
        content_type: &'static str,
        bytes: Bytes,
    },
}

/// A form to send as `multipart/form-data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form {
    fields: Vec<Field>,
}

impl Form {
    /// Adds a text field.
    pub(crate) fn text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push(Field::Text {
            name: name.to_owned(),
            value: value.into(),
        });
        self
    }

    /// Adds a file field.
    pub(crate) fn file(
        mut self,
        name: &str,
        filename: &str,
        content_type: &'static str,
        bytes: Bytes,
    ) -> Self {
        self.fields.push(Field::File {
            name: name.to_owned(),
            filename: filename.to_owned(),
            content_type,
            bytes,
        });
        self
    }

    /// The body and its `Content-Type`, with `boundary` (which must not occur in any field;
    /// [`Form::encode`] picks one that does not).
    pub(crate) fn encode_with(&self, boundary: &str) -> (String, Vec<u8>) {
        let mut body = Vec::new();
        for field in &self.fields {
            body.extend_from_slice(b"--");
            body.extend_from_slice(boundary.as_bytes());
            body.extend_from_slice(b"\r\n");
            match field {
                Field::Text { name, value } => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                            quote(name)
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(value.as_bytes());
                }
                Field::File {
                    name,
                    filename,
                    content_type,
                    bytes,
                } => {
                    body.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
                             Content-Type: {content_type}\r\n\r\n",
                            quote(name),
                            quote(filename)
                        )
                        .as_bytes(),
                    );
                    body.extend_from_slice(bytes);
                }
            }
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"--\r\n");
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    /// The body and its `Content-Type`, with a random boundary that occurs in no field.
    pub(crate) fn encode(&self) -> (String, Vec<u8>) {
        loop {
            let mut random = [0u8; 16];
            // Without randomness, a counter-based boundary is still checked against the data.
            if getrandom::fill(&mut random).is_err() {
                random = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
                    .to_le_bytes();
            }
            let boundary = format!("setphoto-{}", hex::encode(random));
            if !self.contains(boundary.as_bytes()) {
                return self.encode_with(&boundary);
            }
        }
    }

    fn contains(&self, needle: &[u8]) -> bool {
        self.fields.iter().any(|field| {
            let hay: &[u8] = match field {
                Field::Text { value, .. } => value.as_bytes(),
                Field::File { bytes, .. } => bytes,
            };
            hay.windows(needle.len()).any(|w| w == needle)
        })
    }
}

/// A name or filename made safe inside a quoted header parameter.
fn quote(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, '"' | '\r' | '\n' | '\\') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let form = Form::default().text("crop_w", "40").file(
            "image",
            "image.png",
            "image/png",
            Bytes::from_static(b"\x89PNG"),
        );
        let (content_type, body) = form.encode_with("B0");
        assert_eq!(content_type, "multipart/form-data; boundary=B0");
        assert_eq!(
            body,
            b"--B0\r\nContent-Disposition: form-data; name=\"crop_w\"\r\n\r\n40\r\n\
--B0\r\nContent-Disposition: form-data; name=\"image\"; filename=\"image.png\"\r\n\
Content-Type: image/png\r\n\r\n\x89PNG\r\n--B0--\r\n"
        );
    }

    #[test]
    fn the_boundary_never_occurs_in_the_data() {
        let form = Form::default().file(
            "image",
            "a\"b\r\n.jpg",
            "image/jpeg",
            Bytes::from_static(b"data"),
        );
        let (content_type, body) = form.encode();
        let boundary = content_type.rsplit('=').next().unwrap();
        assert!(boundary.starts_with("setphoto-") && boundary.len() == 41);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(text.matches(boundary).count(), 2);
        assert!(text.contains("filename=\"a_b__.jpg\""));
    }
}
