//! Where the lake is: a local folder or object storage (S3 and what speaks
//! its API, Azure Blob Storage / ADLS Gen2, Google Cloud Storage), through
//! `object_store`, the crate `deltalake-core` itself commits with.
//!
//! Credentials never come from the config: each builder first reads the
//! standard environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`), then
//! `[lake] options` (settings that are not secret, e.g. an endpoint), then
//! `[lake.env]`, which names the environment variable each remaining
//! setting is read from. Only the URI, the options and those names are
//! ever recorded or shown.

use std::path::Path;
use std::sync::Arc;

use deltalake_core::DeltaTable;
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use eqpipe_core::config::lake::LakeConfig;
use object_store::ObjectStore;
use object_store::path::Path as Key;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::LakeError;

/// A lake: its root URL (ending in `/`) and the store holding it.
#[derive(Clone)]
pub struct Lake {
    url: Url,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL only: the store's debug output could show a credential.
        f.debug_struct("Lake").field("url", &self.uri()).finish()
    }
}

/// Words that mark a setting as a secret, which must come from the
/// environment (`[lake.env]`), never from the config file.
const SECRET_WORDS: [&str; 7] = [
    "secret",
    "token",
    "password",
    "key",
    "sas",
    "credential",
    "signature",
];

/// The lake's root URL for a `[lake] uri`, relative folders against `base`.
fn root_url(uri: &str, base: &Path) -> Result<Url, LakeError> {
    let bad = |why: &str| LakeError::Config(format!("[lake] uri `{uri}`: {why}"));
    let mut url = if uri.contains("://") {
        // Not echoed: a malformed URI may hold a credential.
        let url = Url::parse(uri).map_err(|_| {
            LakeError::Config("[lake] uri: not a URI (scheme://bucket/prefix) or a folder".into())
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            // Said without the URI: it holds a credential.
            return Err(LakeError::Config(
                "[lake] uri: a credential in the URI is refused; name the environment variables that hold it in [lake.env]"
                    .into(),
            ));
        }
        url
    } else {
        let dir = std::path::absolute(base.join(uri)).map_err(|e| bad(&e.to_string()))?;
        Url::from_directory_path(&dir).map_err(|_| bad("not a folder"))?
    };
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

impl Lake {
    /// Opens the lake `cfg` describes (no request is made: a store that
    /// cannot be reached fails at the first commit). Refuses an unknown
    /// scheme or setting, a secret in `[lake] options` and a variable
    /// `[lake.env]` names that is not set, each by name.
    pub fn open(cfg: &LakeConfig, base: &Path) -> Result<Lake, LakeError> {
        let url = root_url(&cfg.uri, base)?;
        if let Some(r) = &cfg.restricted {
            let inner = root_url(&r.uri, base)?;
            if r.restricted.is_some() || r.lock_hours.is_some() || r.vacuum_grace_minutes.is_some()
            {
                return Err(LakeError::Config(
                    "[lake.restricted] takes uri, options and env only".into(),
                ));
            }
            if inner == url
                || inner.as_str().starts_with(url.as_str())
                || url.as_str().starts_with(inner.as_str())
            {
                return Err(LakeError::Config(format!(
                    "[lake.restricted] uri `{}` is inside the published lake `{}` (or holds it): restricted data needs a place of its own, with its own credentials",
                    r.uri, cfg.uri
                )));
            }
        }
        let mut settings: Vec<(String, String)> = Vec::new();
        for (k, v) in &cfg.options {
            let lower = k.to_ascii_lowercase();
            if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                return Err(LakeError::Config(format!(
                    "[lake] options: `{k}` is a credential; name the environment variable that holds it in [lake.env] instead"
                )));
            }
            settings.push((lower, v.clone()));
        }
        for (k, var) in &cfg.env {
            let v = std::env::var(var).map_err(|_| {
                LakeError::Config(format!(
                    "[lake.env] `{k}` names the environment variable {var}, which is not set"
                ))
            })?;
            settings.push((k.to_ascii_lowercase(), v));
        }
        let store = build(&url, settings)?;
        register_log_store(url.scheme());
        Ok(Lake { url, store })
    }

    /// The lake as the manifest and the summary show it: a folder's path,
    /// or the URI (which holds no credential).
    pub fn uri(&self) -> String {
        match self.url.scheme() {
            "file" => self
                .url
                .to_file_path()
                .map(|p| {
                    let p = p.display().to_string();
                    match p.trim_end_matches('/') {
                        "" => p,
                        t => t.to_string(),
                    }
                })
                .unwrap_or_else(|_| self.url.to_string()),
            _ => self.url.as_str().trim_end_matches('/').to_string(),
        }
    }

    fn table_url(&self, table: &str) -> Result<Url, LakeError> {
        self.url
            .join(&format!("{}/", table.trim_matches('/')))
            .map_err(|e| LakeError::Config(format!("table {table}: {e}")))
    }

    /// A key under the lake's root.
    pub(crate) fn key(&self, rel: &str) -> Key {
        let path = format!("{}{}", self.url.path(), rel);
        Key::from_url_path(&path).unwrap_or_else(|_| Key::from(path.trim_start_matches('/')))
    }

    /// The store, for the lake's own objects (its locks).
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The table in folder `table` (one not yet created has no version).
    pub(crate) async fn table(&self, table: &str) -> Result<DeltaTable, LakeError> {
        let err = |message: String| LakeError::Table {
            table: table.to_string(),
            message,
        };
        let url = self.table_url(table)?;
        // A local table's folder must exist before the kernel opens it
        // (object storage has no folders).
        if let Ok(dir) = url.to_file_path() {
            std::fs::create_dir_all(&dir).map_err(|e| LakeError::Io {
                path: dir.clone(),
                message: e.to_string(),
            })?;
        }
        let mut t = deltalake_core::DeltaTableBuilder::from_url(url.clone())
            .and_then(|b| b.with_storage_backend(self.store.clone(), url).build())
            .map_err(|e| err(e.to_string()))?;
        match t.load().await {
            Ok(()) | Err(deltalake_core::DeltaTableError::NotATable(_)) => Ok(t),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Uploads a local file to `rel` in table `table`, streamed (a
    /// multipart upload for a large file); it appears whole or not at all.
    pub(crate) async fn put(&self, local: &Path, table: &str, rel: &str) -> Result<(), LakeError> {
        let io = |e: String| LakeError::Io {
            path: local.to_path_buf(),
            message: e,
        };
        let key = self.key(&format!("{}/{rel}", table.trim_matches('/')));
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|e| io(e.to_string()))?;
        let mut w = object_store::buffered::BufWriter::new(self.store.clone(), key);
        if let Err(e) = tokio::io::copy(&mut file, &mut w).await {
            let _ = w.abort().await;
            return Err(io(format!("uploading to the lake: {e}")));
        }
        w.shutdown()
            .await
            .map_err(|e| io(format!("uploading to the lake: {e}")))
    }
}

/// The store for a root URL, from the environment then `settings`.
fn build(url: &Url, settings: Vec<(String, String)>) -> Result<Arc<dyn ObjectStore>, LakeError> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    let bad = |e: String| LakeError::Config(format!("[lake] uri `{url}`: {e}"));
    let unknown =
        |k: &str| LakeError::Config(format!("[lake]: `{k}` is not a setting of {url}'s store"));
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => {
            if !settings.is_empty() {
                return Err(LakeError::Config(
                    "[lake] options and [lake.env] are for object storage; a local lake takes none"
                        .into(),
                ));
            }
            Arc::new(object_store::local::LocalFileSystem::new())
        }
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_url(url.as_str());
            for (k, v) in settings {
                let key: AmazonS3ConfigKey = k.parse().map_err(|_| unknown(&k))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in settings {
                let key: AzureConfigKey = k.parse().map_err(|_| unknown(&k))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (k, v) in settings {
                let key: GoogleConfigKey = k.parse().map_err(|_| unknown(&k))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
        }
        other => {
            return Err(LakeError::Config(format!(
                "[lake] uri `{url}`: `{other}://` is not a store eqpipe writes (file://, s3://, az://, abfss://, gs://)"
            )));
        }
    };
    Ok(store)
}

/// `deltalake-core` finds a log store by scheme and knows only `file://`
/// and `memory://` without its cloud crates (which bring the AWS SDK and
/// a DynamoDB lock eqpipe does not need): the object stores here commit
/// by create-if-absent (`If-None-Match: *` on S3), Delta's default log
/// store, so that is registered for their schemes.
fn register_log_store(scheme: &str) {
    let key = Url::parse(&format!("{scheme}://")).expect("a scheme");
    logstore_factories()
        .entry(key)
        .or_insert_with(|| Arc::new(DefaultStores));
}

struct DefaultStores;

impl LogStoreFactory for DefaultStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(uri: &str, options: &[(&str, &str)], env: &[(&str, &str)]) -> LakeConfig {
        LakeConfig {
            uri: uri.into(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            lock_hours: None,
            vacuum_grace_minutes: None,
            restricted: None,
        }
    }

    #[test]
    fn a_folder_or_a_uri_names_the_root() {
        let base = Path::new("/srv/eqpipe");
        let l = Lake::open(&cfg("lake", &[], &[]), base).unwrap();
        assert_eq!(l.uri(), "/srv/eqpipe/lake");
        assert_eq!(
            l.key("datasets/x/a.parquet").as_ref(),
            "srv/eqpipe/lake/datasets/x/a.parquet"
        );
        let l = Lake::open(
            &cfg("s3://bucket/region/nw", &[("aws_region", "eu-west-2")], &[]),
            base,
        )
        .unwrap();
        assert_eq!(l.uri(), "s3://bucket/region/nw");
        assert_eq!(
            l.key("datasets/x/a.parquet").as_ref(),
            "region/nw/datasets/x/a.parquet"
        );
        assert_eq!(
            l.table_url("datasets/x").unwrap().as_str(),
            "s3://bucket/region/nw/datasets/x/"
        );
    }

    #[test]
    fn secrets_in_the_config_and_unknown_settings_are_refused_by_name() {
        let base = Path::new("/srv");
        let e = Lake::open(
            &cfg("s3://b/p", &[("aws_secret_access_key", "hunter2")], &[]),
            base,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("aws_secret_access_key") && e.contains("[lake.env]"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = Lake::open(&cfg("s3://b/p", &[("aws_endpoit", "http://x")], &[]), base)
            .unwrap_err()
            .to_string();
        assert!(e.contains("aws_endpoit"), "{e}");
        let e = Lake::open(
            &cfg(
                "s3://b/p",
                &[],
                &[("aws_access_key_id", "EQPIPE_NO_SUCH_VAR_9")],
            ),
            base,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("EQPIPE_NO_SUCH_VAR_9"), "{e}");
        let e = Lake::open(&cfg("s3://AKIA:hunter2@bucket/lake", &[], &[]), base)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credential in the URI") && !e.contains("hunter2"),
            "{e}"
        );
        let e = Lake::open(&cfg("hdfs://nn/lake", &[], &[]), base)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hdfs://"), "{e}");
    }
}
