//! The command line's security settings: keys and the switches of
//! [`AccessRules`], and CORS for the REST port.

use std::path::Path;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::cli::Cli;
use crate::config::StartupError;
use crate::kserve::HEADER_LENGTH;
use crate::transport::access::{AccessRules, Key};

/// CORS on the REST port, as OVMS's flags set it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsSettings {
    /// Allowed origins; empty: no CORS headers at all.
    pub origins: Vec<String>,
    /// Allowed methods.
    pub methods: Vec<String>,
    /// Allowed request headers (`*` for any).
    pub headers: Vec<String>,
    /// Whether credentials may be sent.
    pub credentials: bool,
}

fn list(text: Option<&str>, default: &[&str]) -> Vec<String> {
    match text {
        Some(text) => text
            .split(',')
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect(),
        None => default.iter().map(|item| item.to_string()).collect(),
    }
}

fn read_key(path: &Path, flag: &str) -> Result<Key, StartupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| StartupError::Flags(format!("{flag}: cannot read {}: {e}", path.display())))?;
    Key::new(&text)
        .ok_or_else(|| StartupError::Flags(format!("{flag}: {} is empty", path.display())))
}

/// The access rules the flags (and `API_KEY`) ask for.
pub fn access_rules(cli: &Cli) -> Result<AccessRules, StartupError> {
    let api_key = match &cli.api_key_file {
        Some(path) => Some(read_key(path, "--api_key_file")?),
        None => std::env::var("API_KEY").ok().and_then(|k| Key::new(&k)),
    };
    let admin_key = match &cli.admin_key_file {
        Some(path) => Some(read_key(path, "--admin_key_file")?),
        None => None,
    };
    if cli.restrict_health_and_metrics && api_key.is_none() {
        return Err(StartupError::Flags(
            "--restrict_health_and_metrics needs an API key (--api_key_file or API_KEY)".into(),
        ));
    }
    Ok(AccessRules {
        api_key,
        admin_key,
        management_disabled: cli.disable_management_endpoints,
        restrict_health_and_metrics: cli.restrict_health_and_metrics,
    })
}

/// The CORS settings the flags ask for, checked.
pub fn cors_settings(cli: &Cli) -> Result<CorsSettings, StartupError> {
    let settings = CorsSettings {
        origins: list(
            cli.allowed_origins.as_deref(),
            if cli.tfs.rest_api_enable_cors_support {
                &["*"]
            } else {
                &[]
            },
        ),
        methods: list(cli.allowed_methods.as_deref(), &["GET", "POST", "OPTIONS"]),
        headers: list(
            cli.allowed_headers.as_deref(),
            &["content-type", "authorization", HEADER_LENGTH],
        ),
        credentials: cli.allow_credentials,
    };
    let flags = |m: String| Err(StartupError::Flags(m));
    if settings.origins.is_empty() {
        if cli.allowed_methods.is_some() || cli.allowed_headers.is_some() || cli.allow_credentials {
            return flags("--allowed_methods, --allowed_headers and --allow_credentials need --allowed_origins".into());
        }
        return Ok(settings);
    }
    let any = |items: &[String]| items.iter().any(|i| i == "*");
    if settings.credentials && (any(&settings.origins) || any(&settings.headers)) {
        return flags(
            "--allow_credentials needs explicit --allowed_origins and --allowed_headers, not *"
                .into(),
        );
    }
    for origin in settings.origins.iter().filter(|o| *o != "*") {
        if HeaderValue::from_str(origin).is_err() {
            return flags(format!(
                "--allowed_origins: {origin:?} is not a valid origin"
            ));
        }
    }
    for method in &settings.methods {
        if Method::from_bytes(method.as_bytes()).is_err() {
            return flags(format!(
                "--allowed_methods: {method:?} is not an HTTP method"
            ));
        }
    }
    for name in settings.headers.iter().filter(|h| *h != "*") {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return flags(format!("--allowed_headers: {name:?} is not a header name"));
        }
    }
    Ok(settings)
}

impl CorsSettings {
    /// The tower-http layer, or `None` when no origin is allowed.
    pub fn layer(&self) -> Option<CorsLayer> {
        if self.origins.is_empty() {
            return None;
        }
        let origins = if self.origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        let headers = if self.headers.iter().any(|h| h == "*") {
            AllowHeaders::any()
        } else {
            AllowHeaders::list(
                self.headers
                    .iter()
                    .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok()),
            )
        };
        let methods: Vec<Method> = self
            .methods
            .iter()
            .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
            .collect();
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods(methods)
                .allow_headers(headers)
                .allow_credentials(self.credentials)
                .expose_headers([HeaderName::from_static(HEADER_LENGTH)]),
        )
    }
}
