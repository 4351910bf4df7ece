//! The store a bucket is in, through object_store's S3 client: where it is
//! and whose credentials open it (the environment's `AWS_*` settings, then
//! the profile's: `profile`), and the runtime that drives the client. The
//! copy's workers are plain threads: they hand requests to the runtime and
//! wait on their answers, so many requests are in flight at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use super::profile;
use crate::location::Bucket;

/// Why the bucket could not be used. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {why}")]
pub struct BucketError {
    pub place: String,
    pub why: String,
}

pub(crate) struct Store {
    pub s3: Arc<AmazonS3>,
    pub bucket: Bucket,
    /// Where the store is, for messages and the record of uploads.
    pub endpoint: String,
    /// Bytes of objects and parts in flight, all workers together, in
    /// units of [`UNIT`]: what bounds the memory a run holds.
    pub bytes: Arc<tokio::sync::Semaphore>,
    /// Requests in flight, all workers together (see [`REQUESTS`]).
    pub requests: Arc<tokio::sync::Semaphore>,
    /// Last, so it outlives the client's tasks.
    rt: tokio::runtime::Runtime,
}

/// Objects and parts in flight at once hold at most this many bytes.
pub(crate) const IN_FLIGHT: usize = 256 * 1024 * 1024;
/// The unit the in-flight budget is counted in.
pub(crate) const UNIT: usize = 64 * 1024;

/// A file this big or bigger goes in parts (multipart upload), this big
/// each: several in flight at once, each retried on its own.
pub(crate) const PART: u64 = 16 * 1024 * 1024;

/// Requests in flight at most, all workers together: each costs a round
/// trip and little else, so many go at once (as rclone's `--transfers`,
/// counted in requests).
pub(crate) const REQUESTS: usize = 128;

/// A request that gets no answer for this long is tried again (a stalled
/// connection ends instead of hanging the copy). `CONVOY_S3_TIMEOUT`
/// (seconds) sets another: longer for big parts over a slow link.
const TIMEOUT: Duration = Duration::from_secs(60);

fn timeout(env: &dyn Fn(&str) -> Option<String>) -> Duration {
    env("CONVOY_S3_TIMEOUT")
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(TIMEOUT, Duration::from_secs_f64)
}

/// Retries of a request that failed in a way worth retrying (a 5xx, a
/// SlowDown, a connection lost), with backoff, within this time.
const RETRIES: usize = 6;
const RETRY_WITHIN: Duration = Duration::from_secs(120);

impl Store {
    /// The client for `bucket` as the environment configures it; it asks
    /// nothing of the store yet (see [`Store::check`]).
    pub fn open(bucket: &Bucket) -> Result<Store, BucketError> {
        Store::open_with(bucket, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    fn open_with(
        bucket: &Bucket,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Store, BucketError> {
        let refuse = |why: String| BucketError {
            place: bucket.to_string(),
            why,
        };
        let profile = profile::load(env).map_err(|e| refuse(e.to_string()))?;
        let setting = |vars: &[&str], key: &str| {
            vars.iter()
                .find_map(|v| env(v))
                .or_else(|| profile.get(key).cloned())
        };
        let key = setting(&["AWS_ACCESS_KEY_ID"], "aws_access_key_id");
        let secret = setting(&["AWS_SECRET_ACCESS_KEY"], "aws_secret_access_key");
        let token = setting(&["AWS_SESSION_TOKEN"], "aws_session_token");
        let region = setting(&["AWS_REGION", "AWS_DEFAULT_REGION"], "region")
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = setting(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"], "endpoint_url");
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket.bucket)
            .with_region(&region)
            // Every object carries a checksum the store checks on receipt
            // (a part, its own): CRC64NVME, the one S3 keeps for the
            // whole object however it was sent.
            .with_checksum_algorithm(Checksum::CRC64NVME)
            .with_retry(RetryConfig {
                max_retries: RETRIES,
                retry_timeout: RETRY_WITHIN,
                ..RetryConfig::default()
            });
        match (key, secret) {
            (Some(k), Some(s)) => {
                builder = builder.with_access_key_id(k).with_secret_access_key(s);
                if let Some(t) = token {
                    builder = builder.with_token(t);
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(refuse(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: one is missing"
                        .into(),
                ));
            }
            (None, None) => {
                return Err(refuse(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     or AWS_PROFILE to a profile of ~/.aws/credentials"
                        .into(),
                ));
            }
        }
        let shown = match &endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let mut options = ClientOptions::new()
            .with_timeout(timeout(env))
            .with_connect_timeout(Duration::from_secs(10))
            .with_pool_max_idle_per_host(REQUESTS);
        if let Some(e) = endpoint {
            // An endpoint the user gives is used as given, plain HTTP too.
            options = options.with_allow_http(e.starts_with("http://"));
            builder = builder.with_endpoint(e);
        }
        let s3 = builder
            .with_client_options(options)
            .build()
            .map_err(|e| refuse(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("convoy-s3")
            .enable_all()
            .build()
            .map_err(|e| refuse(format!("cannot start the client's threads: {e}")))?;
        Ok(Store {
            s3: Arc::new(s3),
            bucket: bucket.clone(),
            endpoint: shown,
            bytes: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT / UNIT)),
            requests: Arc::new(tokio::sync::Semaphore::new(REQUESTS)),
            rt,
        })
    }

    /// Asks the store for the prefix's first listing: the bucket is there
    /// and the credentials open it, or the error says which is not so.
    pub fn check(&self) -> Result<object_store::ListResult, BucketError> {
        let prefix = (!self.bucket.prefix.is_empty())
            .then(|| object_store::path::Path::from(self.bucket.prefix.as_str()));
        self.run(self.s3.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| BucketError {
                place: self.bucket.to_string(),
                why: self.why(&e),
            })
    }

    /// What `e` means to the person who ran the copy.
    pub fn why(&self, e: &object_store::Error) -> String {
        use object_store::Error as E;
        let said = innermost(e);
        // The client passes most refusals on as text: S3's codes tell them.
        let has = |codes: &[&str]| codes.iter().any(|c| said.contains(c));
        if matches!(e, E::Unauthenticated { .. } | E::PermissionDenied { .. })
            || has(&[
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "403 Forbidden",
            ])
        {
            return format!(
                "the store at {} refused these credentials ({})",
                self.endpoint,
                s3_code(&said).unwrap_or("403")
            );
        }
        if has(&["NoSuchBucket"]) {
            return format!(
                "the store at {} has no bucket {:?}",
                self.endpoint, self.bucket.bucket
            );
        }
        if let E::NotFound { .. } = e {
            return format!("the store at {}: no such object", self.endpoint);
        }
        format!("the store at {}: {said}", self.endpoint)
    }

    /// Runs `f` to its end on the calling thread.
    pub fn run<T>(&self, f: impl Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// Starts `f` on the runtime; its answer comes through the handle.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.rt.spawn(f)
    }
}

/// The `<Code>` of an S3 error answer.
fn s3_code(said: &str) -> Option<&str> {
    let from = said.find("<Code>")? + "<Code>".len();
    let len = said[from..].find("</Code>")?;
    Some(&said[from..from + len])
}

/// Whether `words` are said anywhere along `e`'s chain of causes.
pub(crate) fn says(e: &(dyn std::error::Error + 'static), words: &str) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains(words) {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The last cause in `e`'s chain with the store's own words in it: the
/// outer ones only say which call failed.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut said = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        said = c.to_string();
        cause = c.source();
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Bucket {
        Bucket {
            bucket: "b-1".into(),
            prefix: String::new(),
        }
    }

    #[test]
    fn missing_credentials_are_said_before_anything_is_asked() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().to_string_lossy().into_owned();
        let env = move |k: &str| (k == "HOME").then(|| home.clone());
        let e = Store::open_with(&bucket(), &env).err().unwrap();
        assert!(e.to_string().starts_with("s3://b-1: no credentials"), "{e}");
        let half = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(|| "k".to_string());
        let e = Store::open_with(&bucket(), &half).err().unwrap();
        assert!(e.to_string().contains("one is missing"), "{e}");
    }

    #[test]
    fn the_environment_comes_before_the_profile() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".aws")).unwrap();
        std::fs::write(
            t.path().join(".aws/config"),
            "[default]\nendpoint_url = http://127.0.0.1:1\naws_access_key_id = p\n\
             aws_secret_access_key = q\n",
        )
        .unwrap();
        let home = t.path().to_string_lossy().into_owned();
        let env = move |k: &str| match k {
            "HOME" => Some(home.clone()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:2/".into()),
            _ => None,
        };
        let store = Store::open_with(&bucket(), &env).unwrap();
        assert_eq!(store.endpoint, "http://127.0.0.1:2");
    }
}
