//! `s3://` buckets on the `object_store` crate: `setphoto batch --out` and `setphoto serve
//! --store`.
//!
//! Credentials, region and endpoint come from the usual `AWS_*` environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for an S3-compatible service, `AWS_ALLOW_HTTP=true` for plain HTTP
//! on loopback), as every AWS tool reads them. The callers are blocking threads (the
//! batch's workers, the server's blocking pool), so the bucket owns a small tokio runtime
//! and blocks on it; a streamed read runs on that runtime and hands its chunks over a
//! bounded channel, whatever runtime reads them.

/// The bucket and key prefix of `s3://BUCKET[/PREFIX]` (prefix without leading or trailing
/// `/`, possibly empty); `None` when `text` is not an `s3://` URL.
pub(crate) fn split_url(text: &str) -> Option<Result<(String, String), String>> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Some(Err(format!(
            "{text:?} names no bucket: use s3://BUCKET[/PREFIX]"
        )));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
        return Some(Err(format!(
            "the key prefix of {text:?} must be plain segments"
        )));
    }
    Some(Ok((bucket.to_owned(), prefix.to_owned())))
}

#[cfg(feature = "s3")]
pub(crate) use bucket::Bucket;

#[cfg(feature = "s3")]
mod bucket {
    use std::io;
    use std::ops::Range;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use bytes::Bytes;
    use futures_util::StreamExt as _;
    use object_store::PutPayload;
    use object_store::aws::{AmazonS3, AmazonS3Builder};
    use object_store::path::Path as Key;
    use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore as _, ObjectStoreExt as _};

    /// A unique name for each probe object.
    static PROBES: AtomicU64 = AtomicU64::new(0);

    /// One bucket and key prefix, ready to read and write.
    #[derive(Debug)]
    pub(crate) struct Bucket {
        store: AmazonS3,
        bucket: String,
        prefix: String,
        runtime: tokio::runtime::Runtime,
    }

    /// An object found by [`Bucket::list`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct Listed {
        /// Its key below the prefix (`<id>/<name>`).
        pub(crate) key: String,
        /// When it was last written.
        pub(crate) modified: SystemTime,
    }

    /// An object's length and when it was last written.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Head {
        /// Bytes.
        pub(crate) length: u64,
        /// Last written.
        pub(crate) modified: SystemTime,
    }

    impl Bucket {
        /// Connects to `bucket` with the environment's settings and proves it writable by
        /// writing and deleting a probe object under `prefix`.
        pub(crate) fn open(bucket: &str, prefix: &str) -> io::Result<Self> {
            // reqwest is built without a TLS crypto provider of its own (see Cargo.toml):
            // use rustls's ring provider. An `Err` means one is installed already: fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| io::Error::other(format!("s3://{bucket}: {e}")))?;
            // Two I/O threads are plenty: the work is the engine's, transfers only wait.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("setphoto-s3")
                .enable_all()
                .build()?;
            let this = Self {
                store,
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                runtime,
            };
            this.probe()?;
            Ok(this)
        }

        /// Writes and deletes a small object: the bucket takes writes now.
        pub(crate) fn probe(&self) -> io::Result<()> {
            let n = PROBES.fetch_add(1, Ordering::Relaxed);
            let key = self.key_of(&format!(".setphoto-probe-{}-{n}", std::process::id()))?;
            self.put_key(&key, Bytes::from_static(b"ok"))?;
            self.runtime
                .block_on(self.store.delete(&key))
                .map_err(|e| self.error(&key, &e))
        }

        /// `s3://bucket[/prefix]`, the base of the objects' URLs.
        pub(crate) fn url(&self) -> String {
            if self.prefix.is_empty() {
                format!("s3://{}", self.bucket)
            } else {
                format!("s3://{}/{}", self.bucket, self.prefix)
            }
        }

        /// The object `<prefix>/<id>/<name>`, or `None` when there is none.
        pub(crate) fn get(&self, id: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
            let key = self.key(id, name)?;
            let fetched = self.runtime.block_on(async {
                let object = self.store.get(&key).await?;
                object.bytes().await
            });
            match fetched {
                Ok(bytes) => Ok(Some(bytes.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(&key, &e)),
            }
        }

        /// Uploads `<prefix>/<id>/<name>` in one request (renditions are small): S3 makes
        /// it visible only once complete.
        pub(crate) fn put(&self, id: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
            self.put_key(&self.key(id, name)?, Bytes::copy_from_slice(bytes))
        }

        /// Uploads every `(name, bytes)` of `files` under `<prefix>/<id>/`, all at once.
        /// Returns the names that did not exist before (what a failed caller removes
        /// again), and the first error, if any; on an error some objects may be written.
        pub(crate) fn put_all(
            &self,
            id: &str,
            files: Vec<(String, Bytes)>,
        ) -> (Vec<String>, io::Result<()>) {
            let keyed: io::Result<Vec<(String, Key, Bytes)>> = files
                .into_iter()
                .map(|(name, bytes)| {
                    let key = self.key(id, &name)?;
                    Ok((name, key, bytes))
                })
                .collect();
            let keyed = match keyed {
                Ok(keyed) => keyed,
                Err(e) => return (Vec::new(), Err(e)),
            };
            let outcomes =
                self.runtime
                    .block_on(futures_util::future::join_all(keyed.into_iter().map(
                        |(name, key, bytes)| async move {
                            let existed = match self.store.head(&key).await {
                                Ok(_) => true,
                                Err(object_store::Error::NotFound { .. }) => false,
                                Err(e) => return (name, false, Err(self.error(&key, &e))),
                            };
                            let put = self
                                .store
                                .put(&key, PutPayload::from(bytes))
                                .await
                                .map(drop)
                                .map_err(|e| self.error(&key, &e));
                            (name, !existed, put)
                        },
                    )));
            let mut created = Vec::new();
            let mut result = Ok(());
            for (name, new, put) in outcomes {
                // A put that failed may still have landed: count it as ours to remove.
                if new {
                    created.push(name);
                }
                if let (Err(e), Ok(())) = (put, &result) {
                    result = Err(e);
                }
            }
            (created, result)
        }

        /// Deletes `<prefix>/<id>/<name>`; one that is gone already is no error.
        pub(crate) fn delete(&self, id: &str, name: &str) -> io::Result<()> {
            let key = self.key(id, name)?;
            match self.runtime.block_on(self.store.delete(&key)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.error(&key, &e)),
            }
        }

        /// Every object under `<prefix>/`, with its key below the prefix.
        pub(crate) fn list(&self) -> io::Result<Vec<Listed>> {
            let prefix = if self.prefix.is_empty() {
                None
            } else {
                Some(self.key_of("")?)
            };
            let strip = if self.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", self.prefix)
            };
            self.runtime.block_on(async {
                let mut listing = self.store.list(prefix.as_ref());
                let mut out = Vec::new();
                while let Some(meta) = listing.next().await {
                    let meta =
                        meta.map_err(|e| io::Error::other(format!("listing {}: {e}", self.url())))?;
                    let key = meta.location.as_ref();
                    if let Some(key) = key.strip_prefix(&strip) {
                        out.push(Listed {
                            key: key.to_owned(),
                            modified: modified(&meta),
                        });
                    }
                }
                Ok(out)
            })
        }

        /// The length and age of `<prefix>/<id>/<name>`, or `None` when there is none.
        pub(crate) fn head(&self, id: &str, name: &str) -> io::Result<Option<Head>> {
            let key = self.key(id, name)?;
            match self.runtime.block_on(self.store.head(&key)) {
                Ok(meta) => Ok(Some(Head {
                    length: meta.size,
                    modified: modified(&meta),
                })),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(&key, &e)),
            }
        }

        /// Streams `range` of `<prefix>/<id>/<name>` into a channel of `depth` chunks:
        /// the transfer waits while the channel is full, and stops when the receiver is
        /// dropped. An error ends the stream with that error.
        pub(crate) fn stream(
            &self,
            id: &str,
            name: &str,
            range: Range<u64>,
            depth: usize,
        ) -> io::Result<tokio::sync::mpsc::Receiver<io::Result<Bytes>>> {
            let key = self.key(id, name)?;
            let (tx, rx) = tokio::sync::mpsc::channel(depth.max(1));
            let store = self.store.clone();
            let bucket = self.bucket.clone();
            self.runtime.spawn(async move {
                let options = GetOptions {
                    range: Some(GetRange::Bounded(range)),
                    ..GetOptions::default()
                };
                let fail =
                    |e: object_store::Error| io::Error::other(format!("s3://{bucket}/{key}: {e}"));
                let mut chunks = match store.get_opts(&key, options).await {
                    Ok(object) => object.into_stream(),
                    Err(e) => {
                        let _ = tx.send(Err(fail(e))).await;
                        return;
                    }
                };
                while let Some(chunk) = chunks.next().await {
                    let failed = chunk.is_err();
                    if tx.send(chunk.map_err(fail)).await.is_err() || failed {
                        return;
                    }
                }
            });
            Ok(rx)
        }

        fn put_key(&self, key: &Key, bytes: Bytes) -> io::Result<()> {
            self.runtime
                .block_on(self.store.put(key, PutPayload::from(bytes)))
                .map(drop)
                .map_err(|e| self.error(key, &e))
        }

        fn key(&self, id: &str, name: &str) -> io::Result<Key> {
            self.key_of(&format!("{id}/{name}"))
        }

        fn key_of(&self, relative: &str) -> io::Result<Key> {
            let full = if self.prefix.is_empty() {
                relative.to_owned()
            } else if relative.is_empty() {
                self.prefix.clone()
            } else {
                format!("{}/{relative}", self.prefix)
            };
            Key::parse(&full).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("key {full:?}: {e}"))
            })
        }

        fn error(&self, key: &Key, e: &object_store::Error) -> io::Error {
            let kind = match e {
                object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
                object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::Other,
            };
            io::Error::new(kind, format!("s3://{}/{key}: {e}", self.bucket))
        }
    }

    /// When `meta`'s object was last written (the epoch for a date before it).
    fn modified(meta: &ObjectMeta) -> SystemTime {
        let millis = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
        UNIX_EPOCH + Duration::from_millis(millis)
    }
}
