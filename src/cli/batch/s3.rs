//! `s3://` output for `setphoto batch`, on the `object_store` crate.
//!
//! Credentials, region and endpoint come from the usual `AWS_*` environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for an S3-compatible service, `AWS_ALLOW_HTTP=true` for plain HTTP
//! on loopback), as every AWS tool reads them. The batch's worker threads call in from
//! outside the async world, so the bucket owns a small tokio runtime and blocks on it.

use std::io;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStoreExt as _, PutPayload};

/// One bucket and key prefix, ready to read and write.
pub(crate) struct Bucket {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl Bucket {
    /// Connects to `bucket` with the environment's settings and proves it writable by
    /// writing and deleting a probe object under `prefix`.
    pub(crate) fn open(bucket: &str, prefix: &str) -> io::Result<Self> {
        // reqwest is built without a TLS crypto provider of its own (see Cargo.toml): use
        // rustls's ring provider. An `Err` means one is installed already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| io::Error::other(format!("s3://{bucket}: {e}")))?;
        // Two I/O threads are plenty: the work is the engine's, uploads only wait.
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
        let key = this.key_of(&format!(".setphoto-probe-{}", std::process::id()))?;
        this.put_key(&key, &[])?;
        this.runtime
            .block_on(this.store.delete(&key))
            .map_err(|e| this.error(&key, &e))?;
        Ok(this)
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

    /// Uploads `<prefix>/<id>/<name>` in one request (renditions are small): S3 makes it
    /// visible only once complete.
    pub(crate) fn put(&self, id: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.put_key(&self.key(id, name)?, bytes)
    }

    fn put_key(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
        self.runtime
            .block_on(self.store.put(key, payload))
            .map(drop)
            .map_err(|e| self.error(key, &e))
    }

    fn key(&self, id: &str, name: &str) -> io::Result<Key> {
        self.key_of(&format!("{id}/{name}"))
    }

    fn key_of(&self, relative: &str) -> io::Result<Key> {
        let full = if self.prefix.is_empty() {
            relative.to_owned()
        } else {
            format!("{}/{relative}", self.prefix)
        };
        Key::parse(&full)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("key {full:?}: {e}")))
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
