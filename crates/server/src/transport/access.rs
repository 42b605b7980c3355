//! Who may call what: the API key (OVMS's `--api_key_file` / `API_KEY`)
//! guards inference and metadata, the admin key guards the management
//! endpoints (config reload, repository load/unload/index, TF Serving's
//! HandleReloadConfigRequest), as Triton's restricted APIs do. Both
//! transports present the key the same way, `authorization: Bearer <key>`
//! (a REST header, gRPC metadata). Keys are compared in constant time and
//! never logged.

use std::sync::Arc;

use inferd_core::telemetry::{Interface, Telemetry};
use subtle::ConstantTimeEq;

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Health and metrics: open unless `--restrict_health_and_metrics`.
    Health,
    /// Inference, metadata, status, statistics: the API key when one is set.
    Serving,
    /// Changes to the served models: the admin key (or the API key where
    /// no admin key is set), unless management is turned off.
    Management,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `authorization: Bearer` credential was sent.
    Missing,
    /// The credential matches no key.
    Wrong,
    /// The API key was sent where the admin key is needed.
    AdminOnly,
    /// `--disable_management_endpoints`.
    Disabled,
}

impl Refusal {
    /// Whether this is a 401 / UNAUTHENTICATED (else 403 / PERMISSION_DENIED).
    pub fn unauthenticated(self) -> bool {
        matches!(self, Refusal::Missing | Refusal::Wrong)
    }

    /// The message sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "Missing credentials: send the key as 'authorization: Bearer <key>'"
            }
            Refusal::Wrong => "Invalid credentials: the key sent is not accepted",
            Refusal::AdminOnly => "This endpoint needs the admin key",
            Refusal::Disabled => {
                "Management endpoints are disabled on this server (--disable_management_endpoints)"
            }
        }
    }

    fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing_credentials",
            Refusal::Wrong => "invalid_credentials",
            Refusal::AdminOnly => "admin_key_required",
            Refusal::Disabled => "management_disabled",
        }
    }
}

/// A key, redacted in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key from its text (surrounding whitespace removed); `None` if empty.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Key(text.as_bytes().to_vec()))
    }

    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_slice().ct_eq(presented))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The server's access rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessRules {
    /// Guards serving endpoints (and management when there is no admin key).
    pub api_key: Option<Key>,
    /// Guards management endpoints.
    pub admin_key: Option<Key>,
    /// Refuse every management call.
    pub management_disabled: bool,
    /// Health and metrics need the API key too.
    pub restrict_health_and_metrics: bool,
}

impl AccessRules {
    /// Whether a request to an endpoint needing `access`, presenting the
    /// `authorization` value `presented`, may go on.
    pub fn check(&self, access: Access, presented: Option<&[u8]>) -> Result<(), Refusal> {
        let needed = match access {
            Access::Health if !self.restrict_health_and_metrics => return Ok(()),
            Access::Health | Access::Serving => match &self.api_key {
                None => return Ok(()),
                Some(key) => key,
            },
            Access::Management if self.management_disabled => return Err(Refusal::Disabled),
            Access::Management => match self.admin_key.as_ref().or(self.api_key.as_ref()) {
                None => return Ok(()),
                Some(key) => key,
            },
        };
        let token = presented
            .and_then(|value| value.strip_prefix(b"Bearer "))
            .ok_or(Refusal::Missing)?;
        let token = token.trim_ascii();
        if needed.matches(token) {
            return Ok(());
        }
        let is_api_key = self.api_key.as_ref().is_some_and(|k| k.matches(token));
        let is_admin_key = self.admin_key.as_ref().is_some_and(|k| k.matches(token));
        match access {
            // The admin key may do whatever the API key may.
            Access::Health | Access::Serving if is_admin_key => Ok(()),
            Access::Management if is_api_key => Err(Refusal::AdminOnly),
            _ => Err(Refusal::Wrong),
        }
    }
}

/// The rules and where refusals are counted.
#[derive(Clone)]
pub struct AccessControl {
    rules: Arc<AccessRules>,
    telemetry: Arc<Telemetry>,
}

impl AccessControl {
    /// Checks with `rules`, counting refusals in `telemetry`'s metrics.
    pub fn new(rules: AccessRules, telemetry: Arc<Telemetry>) -> Self {
        AccessControl {
            rules: Arc::new(rules),
            telemetry,
        }
    }

    /// [`AccessRules::check`], counting a refusal on `interface`.
    pub fn check(
        &self,
        interface: Interface,
        access: Access,
        presented: Option<&[u8]>,
    ) -> Result<(), Refusal> {
        let outcome = self.rules.check(access, presented);
        if let (Err(refusal), Some(metrics)) = (outcome, self.telemetry.metrics()) {
            metrics.refused(interface, refusal.label());
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(api: Option<&str>, admin: Option<&str>) -> AccessRules {
        AccessRules {
            api_key: api.and_then(Key::new),
            admin_key: admin.and_then(Key::new),
            ..AccessRules::default()
        }
    }

    fn bearer(key: &str) -> Vec<u8> {
        format!("Bearer {key}").into_bytes()
    }

    #[test]
    fn decisions() {
        use Access::*;
        use Refusal::*;
        let none = rules(None, None);
        let api = rules(Some("k"), None);
        let both = rules(Some("k"), Some("adm"));
        let admin_only = rules(None, Some("adm"));
        let k = bearer("k");
        let adm = bearer("adm");
        let bad = bearer("x");
        type Case<'a> = (
            &'a AccessRules,
            Access,
            Option<&'a [u8]>,
            Result<(), Refusal>,
        );
        let table: Vec<Case> = vec![
            (&none, Serving, None, Ok(())),
            (&none, Management, None, Ok(())),
            (&api, Health, None, Ok(())),
            (&api, Serving, None, Err(Missing)),
            (&api, Serving, Some(b"k"), Err(Missing)),
            (&api, Serving, Some(&bad), Err(Wrong)),
            (&api, Serving, Some(&k), Ok(())),
            (&api, Management, None, Err(Missing)),
            (&api, Management, Some(&k), Ok(())),
            (&both, Serving, Some(&adm), Ok(())),
            (&both, Management, Some(&k), Err(AdminOnly)),
            (&both, Management, Some(&adm), Ok(())),
            (&both, Management, Some(&bad), Err(Wrong)),
            (&admin_only, Serving, None, Ok(())),
            (&admin_only, Management, None, Err(Missing)),
            (&admin_only, Management, Some(&adm), Ok(())),
        ];
        for (i, (rules, access, presented, want)) in table.into_iter().enumerate() {
            assert_eq!(rules.check(access, presented), want, "case {i}");
        }
    }

    #[test]
    fn switches() {
        let mut closed = rules(Some("k"), None);
        closed.restrict_health_and_metrics = true;
        assert_eq!(closed.check(Access::Health, None), Err(Refusal::Missing));
        let mut disabled = rules(None, None);
        disabled.management_disabled = true;
        assert_eq!(
            disabled.check(Access::Management, Some(b"Bearer x")),
            Err(Refusal::Disabled)
        );
        assert_eq!(disabled.check(Access::Serving, None), Ok(()));
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let key = Key::new(" secret \n").unwrap();
        assert_eq!(format!("{key:?}"), "Key(<redacted>)");
        assert!(key.matches(b"secret"));
        assert!(Key::new("  ").is_none());
    }
}
