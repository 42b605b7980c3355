//! The two things inferd asks of an object store: list under a prefix (the
//! objects, and delimited, the "folders" one level down), and read a byte
//! range of an object. Through `object_store` for S3 and Azure; Google Cloud
//! Storage through its JSON API (what OVMS's and TF Serving's clients use,
//! and what its emulators implement; `object_store` speaks GCS's XML API)
//! with `object_store`'s Google credentials (service accounts, metadata
//! server).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::gcp::GcpCredentialProvider;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// One object: its full path, size and change stamp (ETag, else the time
/// it was last modified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub size: u64,
    pub stamp: String,
}

/// What a listing found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Objects (all of them under the prefix when not delimited).
    pub objects: Vec<Listed>,
    /// With a delimiter: the prefixes one level down, without trailing `/`.
    pub prefixes: Vec<String>,
}

/// How a store is reached.
#[derive(Debug, Clone)]
pub enum StoreClient {
    /// Through `object_store`.
    Store(Arc<dyn ObjectStore>),
    /// Through the GCS JSON API.
    Gcs(GcsClient),
}

impl StoreClient {
    /// Lists under `prefix`: one level (`delimited`) or everything.
    pub async fn list(&self, prefix: &ObjectPath, delimited: bool) -> Result<Listing, String> {
        match self {
            StoreClient::Store(store) => list_store(store, prefix, delimited)
                .await
                .map_err(|e| e.to_string()),
            StoreClient::Gcs(gcs) => gcs.list(prefix, delimited).await,
        }
    }

    /// Bytes `range` of object `path`.
    pub async fn get_range(
        &self,
        path: &ObjectPath,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, String> {
        match self {
            StoreClient::Store(store) => store
                .get_range(path, range)
                .await
                .map_err(|e| e.to_string()),
            StoreClient::Gcs(gcs) => gcs.get_range(path, range).await,
        }
    }
}

async fn list_store(
    store: &Arc<dyn ObjectStore>,
    prefix: &ObjectPath,
    delimited: bool,
) -> Result<Listing, object_store::Error> {
    let listed = |meta: object_store::ObjectMeta| Listed {
        path: meta.location.to_string(),
        size: meta.size,
        stamp: meta
            .e_tag
            .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
    };
    if delimited {
        let found = store.list_with_delimiter(Some(prefix)).await?;
        return Ok(Listing {
            objects: found.objects.into_iter().map(listed).collect(),
            prefixes: found
                .common_prefixes
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        });
    }
    let mut stream = store.list(Some(prefix));
    let mut objects = Vec::new();
    while let Some(meta) = stream.next().await {
        objects.push(listed(meta?));
    }
    Ok(Listing {
        objects,
        prefixes: Vec::new(),
    })
}

/// A GCS bucket through the JSON API: `GET {base}/storage/v1/b/{bucket}/o`
/// lists, `.../o/{object}?alt=media` with a `Range` reads.
#[derive(Debug, Clone)]
pub struct GcsClient {
    pub client: reqwest13::Client,
    pub base_url: String,
    pub bucket: String,
    /// The bearer token's source; `None` for emulators (no authentication).
    pub credentials: Option<GcpCredentialProvider>,
}

/// One page of the JSON API's answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GcsPage {
    #[serde(default)]
    items: Vec<GcsObject>,
    #[serde(default)]
    prefixes: Vec<String>,
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct GcsObject {
    name: String,
    /// A decimal string in the JSON API.
    size: String,
    #[serde(default)]
    etag: String,
    #[serde(default)]
    generation: String,
}

impl GcsClient {
    /// `{base}/storage/v1/b/{bucket}/o`, and the object's name as one more
    /// path segment (its `/` escaped) when given.
    fn objects_url(&self, object: Option<&str>) -> Result<reqwest13::Url, String> {
        let base = format!("{}/storage/v1/b", self.base_url.trim_end_matches('/'));
        let mut url =
            reqwest13::Url::parse(&base).map_err(|e| format!("bad address {base}: {e}"))?;
        url.path_segments_mut()
            .map_err(|()| format!("bad address {base}"))?
            .push(&self.bucket)
            .push("o")
            .extend(object);
        Ok(url)
    }

    /// The request with the bearer token, if this bucket uses one.
    async fn authorized(
        &self,
        request: reqwest13::RequestBuilder,
    ) -> Result<reqwest13::RequestBuilder, String> {
        Ok(match &self.credentials {
            Some(provider) => {
                let token = provider
                    .get_credential()
                    .await
                    .map_err(|e| format!("cannot get a Google Cloud token: {e}"))?;
                request.bearer_auth(&token.bearer)
            }
            None => request,
        })
    }

    /// Sends `request`; the body of a successful answer, else the error
    /// with the store's own message.
    async fn send(&self, request: reqwest13::RequestBuilder, what: &str) -> Result<Bytes, String> {
        let response = self
            .authorized(request)
            .await?
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {}", self.base_url, error_chain(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{what}: {}", error_chain(&e)))?;
        if !status.is_success() {
            return Err(format!(
                "{what} answered {status}: {}",
                gcs_error_message(&body)
            ));
        }
        Ok(body)
    }

    async fn get_range(
        &self,
        path: &ObjectPath,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, String> {
        let mut url = self.objects_url(Some(path.as_ref()))?;
        url.query_pairs_mut().append_pair("alt", "media");
        let wanted = range.end - range.start;
        if wanted == 0 {
            return Ok(Bytes::new());
        }
        let request = self.client.get(url).header(
            reqwest13::header::RANGE,
            format!("bytes={}-{}", range.start, range.end - 1),
        );
        let what = format!("reading gs://{}/{path}", self.bucket);
        let body = self.send(request, &what).await?;
        if body.len() as u64 != wanted {
            return Err(format!(
                "{what}: got {} bytes for a range of {wanted}",
                body.len()
            ));
        }
        Ok(body)
    }

    async fn list(&self, prefix: &ObjectPath, delimited: bool) -> Result<Listing, String> {
        let prefix = match prefix.as_ref() {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let mut listing = Listing::default();
        let mut page_token: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix.as_str())];
            if delimited {
                query.push(("delimiter", "/"));
            }
            if let Some(page) = &page_token {
                query.push(("pageToken", page));
            }
            let mut url = self.objects_url(None)?;
            url.query_pairs_mut().extend_pairs(&query);
            let what = format!("listing gs://{}/{prefix}", self.bucket);
            let body = self.send(self.client.get(url), &what).await?;
            let page: GcsPage = serde_json::from_slice(&body)
                .map_err(|e| format!("unexpected listing from {}: {e}", self.base_url))?;
            for object in page.items {
                let size = object
                    .size
                    .parse()
                    .map_err(|_| format!("object {} has size {:?}", object.name, object.size))?;
                let stamp = if object.etag.is_empty() {
                    object.generation
                } else {
                    object.etag
                };
                listing.objects.push(Listed {
                    path: object.name,
                    size,
                    stamp,
                });
            }
            listing.prefixes.extend(
                page.prefixes
                    .into_iter()
                    .map(|p| p.trim_end_matches('/').to_string()),
            );
            match page.next_page_token {
                Some(next) if !next.is_empty() => page_token = Some(next),
                _ => return Ok(listing),
            }
        }
    }
}

/// The `message` of a JSON API error body, else the body's start.
fn gcs_error_message(body: &[u8]) -> String {
    let parsed: Option<String> = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
    parsed.unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// An error and its causes, one line (reqwest's own Display stops at the
/// first: "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
