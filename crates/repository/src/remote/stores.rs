//! The object stores, configured from the environment as OVMS documents it:
//! `s3://` (AWS variables, `S3_ENDPOINT`), `gs://`
//! (`GOOGLE_APPLICATION_CREDENTIALS`; `STORAGE_EMULATOR_HOST` as Google's
//! own clients read it) and `az://` (`AZURE_STORAGE_CONNECTION_STRING`).
//! Proxies come from `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY`.

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;

use super::RemoteSource;
use super::client::{GcsClient, StoreClient};
use crate::source::SourceError;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn invalid(url: &str, message: impl std::fmt::Display) -> SourceError {
    SourceError::Remote {
        url: url.to_string(),
        message: message.to_string(),
    }
}

/// The bucket (or container) and the prefix within it of `scheme://bucket/path`.
fn bucket_and_prefix<'a>(url: &'a str, scheme: &str) -> Result<(&'a str, ObjectPath), SourceError> {
    let rest = url.strip_prefix(scheme).unwrap_or(url);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(
            url,
            format!("no bucket name (use {scheme}bucket/path)"),
        ));
    }
    let prefix = ObjectPath::parse(prefix.trim_matches('/')).map_err(|e| invalid(url, e))?;
    Ok((bucket, prefix))
}

/// `s3://bucket/path`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `AWS_REGION` (default us-east-1), `S3_ENDPOINT`
/// (MinIO and other S3-compatible stores; `http://` allowed); without a key,
/// requests are unsigned (public buckets).
pub fn s3(model: &str, url: &str) -> Result<RemoteSource, SourceError> {
    use object_store::aws::AmazonS3Builder;
    let (bucket, prefix) = bucket_and_prefix(url, "s3://")?;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(env("AWS_REGION").unwrap_or_else(|| "us-east-1".into()))
        .with_retry(retry());
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key), Some(secret)) => {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
            if let Some(token) = env("AWS_SESSION_TOKEN") {
                builder = builder.with_token(token);
            }
        }
        _ => builder = builder.with_skip_signature(true),
    }
    let mut options = client_options();
    if let Some(endpoint) = env("S3_ENDPOINT") {
        options = options.with_allow_http(endpoint.starts_with("http://"));
        builder = builder
            .with_virtual_hosted_style_request(false)
            .with_endpoint(endpoint);
    }
    source(
        model,
        url,
        prefix,
        builder.with_client_options(options).build(),
    )
}

/// `gs://bucket/path`: credentials from `GOOGLE_APPLICATION_CREDENTIALS`
/// (else the well-known gcloud file, else the instance's metadata server);
/// `STORAGE_EMULATOR_HOST` points at an emulator, unauthenticated.
pub fn gcs(model: &str, url: &str) -> Result<RemoteSource, SourceError> {
    let (bucket, prefix) = bucket_and_prefix(url, "gs://")?;
    let emulator = env("STORAGE_EMULATOR_HOST").map(|host| match host.contains("://") {
        true => host,
        false => format!("http://{host}"),
    });
    let (base_url, credentials) = match emulator {
        Some(emulator) => (emulator, None),
        None => (
            "https://storage.googleapis.com".to_string(),
            Some(google_credentials(url, bucket)?),
        ),
    };
    let client = GcsClient {
        client: gcs_http_client(),
        base_url,
        bucket: bucket.to_string(),
        credentials,
    };
    Ok(RemoteSource::new(
        model,
        url,
        StoreClient::Gcs(client),
        prefix,
    ))
}

/// Google Cloud's token source, as `object_store` finds it: the
/// `GOOGLE_APPLICATION_CREDENTIALS` file, gcloud's well-known file, or the
/// metadata server.
fn google_credentials(
    url: &str,
    bucket: &str,
) -> Result<object_store::gcp::GcpCredentialProvider, SourceError> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_retry(retry())
        .with_client_options(client_options());
    let file = env("GOOGLE_APPLICATION_CREDENTIALS");
    if let Some(path) = &file {
        if !std::path::Path::new(path).is_file() {
            return Err(invalid(
                url,
                format!("GOOGLE_APPLICATION_CREDENTIALS names {path}, which is not a file"),
            ));
        }
        builder = builder.with_application_credentials(path.clone());
    }
    let store = builder.build().map_err(|e| match &file {
        Some(path) => invalid(url, format!("GOOGLE_APPLICATION_CREDENTIALS {path}: {e}")),
        None => invalid(url, e),
    })?;
    Ok(store.credentials().clone())
}

/// `az://container/path`: the account, key (or SAS) and endpoint from
/// `AZURE_STORAGE_CONNECTION_STRING` (Azurite's
/// `UseDevelopmentStorage=true` included); without it, `object_store`'s
/// `AZURE_*` variables (account name and key, service principal, managed
/// identity).
pub fn azure(model: &str, url: &str) -> Result<RemoteSource, SourceError> {
    use object_store::azure::MicrosoftAzureBuilder;
    let (container, prefix) = bucket_and_prefix(url, "az://")?;
    let mut options = client_options();
    let builder = match env("AZURE_STORAGE_CONNECTION_STRING") {
        Some(text) => {
            let parsed = ConnectionString::parse(&text).map_err(|e| invalid(url, e))?;
            options = options.with_allow_http(parsed.uses_http());
            parsed.configure(MicrosoftAzureBuilder::new())
        }
        None => MicrosoftAzureBuilder::from_env(),
    };
    let built = builder
        .with_container_name(container)
        .with_retry(retry())
        .with_client_options(options)
        .build();
    source(model, url, prefix, built)
}

/// The source over an `object_store` store just built (or why it was not).
fn source(
    model: &str,
    url: &str,
    prefix: ObjectPath,
    built: object_store::Result<impl object_store::ObjectStore>,
) -> Result<RemoteSource, SourceError> {
    let store = built.map_err(|e| invalid(url, e))?;
    Ok(RemoteSource::new(
        model,
        url,
        StoreClient::Store(Arc::new(store)),
        prefix,
    ))
}

/// The parts of an Azure Storage connection string inferd uses.
#[derive(Debug, Default, PartialEq, Eq)]
struct ConnectionString {
    development: bool,
    account: Option<String>,
    key: Option<String>,
    sas: Option<String>,
    endpoint: Option<String>,
}

impl ConnectionString {
    /// `Key=Value;...` pairs, keys in any case; a `BlobEndpoint` or one made
    /// of the protocol, account and endpoint suffix.
    fn parse(text: &str) -> Result<Self, String> {
        let mut parsed = ConnectionString::default();
        let (mut protocol, mut suffix) = ("https".to_string(), "core.windows.net".to_string());
        for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!(
                    "AZURE_STORAGE_CONNECTION_STRING: {pair:?} is not Key=Value"
                ));
            };
            let value = value.trim().to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "usedevelopmentstorage" => parsed.development = value.eq_ignore_ascii_case("true"),
                "accountname" => parsed.account = Some(value),
                "accountkey" => parsed.key = Some(value),
                "sharedaccesssignature" => parsed.sas = Some(value),
                "blobendpoint" => parsed.endpoint = Some(value.trim_end_matches('/').to_string()),
                "defaultendpointsprotocol" => protocol = value,
                "endpointsuffix" => suffix = value,
                _ => {}
            }
        }
        if parsed.development {
            return Ok(parsed);
        }
        let Some(account) = &parsed.account else {
            return Err("AZURE_STORAGE_CONNECTION_STRING has no AccountName".into());
        };
        if parsed.endpoint.is_none() {
            parsed.endpoint = Some(format!("{protocol}://{account}.blob.{suffix}"));
        }
        Ok(parsed)
    }

    fn uses_http(&self) -> bool {
        self.development
            || self
                .endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"))
    }

    fn configure(
        self,
        builder: object_store::azure::MicrosoftAzureBuilder,
    ) -> object_store::azure::MicrosoftAzureBuilder {
        use object_store::azure::AzureConfigKey;
        if self.development {
            return builder.with_use_emulator(true);
        }
        let mut builder = builder;
        if let Some(account) = self.account {
            builder = builder.with_account(account);
        }
        if let Some(endpoint) = self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        match (self.key, self.sas) {
            (Some(key), _) => builder.with_access_key(key),
            (None, Some(sas)) => builder.with_config(AzureConfigKey::SasKey, sas),
            (None, None) => builder.with_skip_signature(true),
        }
    }
}

/// Bounded requests: a store that does not answer fails a poll in seconds,
/// and a later poll tries again.
fn client_options() -> object_store::ClientOptions {
    install_crypto_provider();
    object_store::ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300))
}

/// The HTTP client for GCS's JSON API (the same bounds as `object_store`'s).
fn gcs_http_client() -> reqwest13::Client {
    install_crypto_provider();
    reqwest13::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap_or_default()
}

fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
        ..Default::default()
    }
}

/// TLS to the stores uses rustls with ring, as the rest of inferd.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_bucket() {
        assert!(matches!(
            s3("m", "s3:///x"),
            Err(SourceError::Remote { .. })
        ));
        assert!(matches!(
            azure("m", "az://"),
            Err(SourceError::Remote { .. })
        ));
        let source = s3("resnet", "s3://bucket/models/resnet").unwrap();
        assert!(source.cache.ends_with("resnet/s3/bucket/models/resnet"));
    }

    #[test]
    fn connection_strings() {
        let azurite = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;\
             BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(
            azurite,
            ConnectionString {
                development: false,
                account: Some("devstoreaccount1".into()),
                key: Some("a2V5".into()),
                sas: None,
                endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            }
        );
        assert!(azurite.uses_http());
        let cloud =
            ConnectionString::parse("AccountName=acct;SharedAccessSignature=sv=1&sig=x").unwrap();
        assert_eq!(
            cloud.endpoint.as_deref(),
            Some("https://acct.blob.core.windows.net")
        );
        assert_eq!(cloud.sas.as_deref(), Some("sv=1&sig=x"));
        assert!(!cloud.uses_http());
        assert!(
            ConnectionString::parse("UseDevelopmentStorage=true")
                .unwrap()
                .development
        );
        assert!(ConnectionString::parse("AccountKey=x").is_err());
        assert!(ConnectionString::parse("nonsense").is_err());
    }
}
