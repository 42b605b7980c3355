use serde::{Deserialize, Serialize};

/// Which of a model's versions to serve (`model_version_policy` in config.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum VersionPolicy {
    /// Every version found.
    All(Empty),
    /// The `num_versions` highest versions found.
    Latest(Latest),
    /// Exactly the listed versions, where found.
    Specific(Specific),
}

/// The empty object of `{"all": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Body of `{"latest": {"num_versions": N}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latest {
    /// How many of the highest versions to serve; at least 1.
    pub num_versions: u32,
}

/// Body of `{"specific": {"versions": [..]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Specific {
    /// Versions to serve.
    pub versions: Vec<u64>,
}

impl Default for VersionPolicy {
    /// OVMS's default: the latest version only.
    fn default() -> Self {
        VersionPolicy::Latest(Latest { num_versions: 1 })
    }
}

impl VersionPolicy {
    /// Serve every version.
    pub fn all() -> Self {
        VersionPolicy::All(Empty {})
    }

    /// Serve the `n` highest versions.
    pub fn latest(n: u32) -> Self {
        VersionPolicy::Latest(Latest { num_versions: n })
    }

    /// Serve exactly these versions.
    pub fn specific(versions: Vec<u64>) -> Self {
        VersionPolicy::Specific(Specific { versions })
    }

    /// Serve exactly these versions, as the protocols' int64 lists give
    /// them; a negative one is refused, named.
    pub fn specific_signed(versions: &[i64]) -> Result<Self, String> {
        versions
            .iter()
            .map(|&v| u64::try_from(v).map_err(|_| format!("specific version {v} is negative")))
            .collect::<Result<_, _>>()
            .map(Self::specific)
    }

    /// The aspired versions: those of `available` this policy serves, ascending.
    pub fn select(&self, available: &[u64]) -> Vec<u64> {
        let mut found: Vec<u64> = available.to_vec();
        found.sort_unstable();
        found.dedup();
        match self {
            VersionPolicy::All(_) => found,
            VersionPolicy::Latest(Latest { num_versions }) => {
                let keep = (*num_versions as usize).min(found.len());
                found.split_off(found.len() - keep)
            }
            VersionPolicy::Specific(Specific { versions }) => {
                found.retain(|v| versions.contains(v));
                found
            }
        }
    }

    /// Checks values that the schema alone cannot.
    pub fn check(&self) -> Result<(), String> {
        match self {
            VersionPolicy::Latest(Latest { num_versions: 0 }) => {
                Err("latest.num_versions must be at least 1".into())
            }
            VersionPolicy::Specific(Specific { versions }) if versions.is_empty() => {
                Err("specific.versions must list at least one version".into())
            }
            VersionPolicy::Specific(Specific { versions }) if versions.contains(&0) => {
                Err("specific.versions must be positive integers".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_table() {
        let cases: &[(VersionPolicy, &[u64], &[u64])] = &[
            (VersionPolicy::default(), &[1, 2, 3], &[3]),
            (VersionPolicy::default(), &[], &[]),
            (VersionPolicy::latest(2), &[3, 1, 2], &[2, 3]),
            (VersionPolicy::latest(5), &[1, 2], &[1, 2]),
            (VersionPolicy::all(), &[2, 1, 2], &[1, 2]),
            (VersionPolicy::specific(vec![1, 3]), &[1, 2, 3], &[1, 3]),
            (VersionPolicy::specific(vec![4]), &[1, 2, 3], &[]),
        ];
        for (policy, available, want) in cases {
            assert_eq!(
                &policy.select(available),
                want,
                "{policy:?} over {available:?}"
            );
        }
    }

    #[test]
    fn parses_ovms_json() {
        let p: VersionPolicy = serde_json::from_str(r#"{"latest": {"num_versions": 2}}"#).unwrap();
        assert_eq!(p, VersionPolicy::latest(2));
        let p: VersionPolicy = serde_json::from_str(r#"{"all": {}}"#).unwrap();
        assert_eq!(p, VersionPolicy::all());
        let p: VersionPolicy =
            serde_json::from_str(r#"{"specific": {"versions": [1, 3]}}"#).unwrap();
        assert_eq!(p, VersionPolicy::specific(vec![1, 3]));
        assert!(serde_json::from_str::<VersionPolicy>(r#"{"newest": {}}"#).is_err());
        assert!(serde_json::from_str::<VersionPolicy>(r#"{"latest": {"n": 1}}"#).is_err());
    }

    #[test]
    fn check_refuses_empty_policies() {
        assert!(VersionPolicy::latest(0).check().is_err());
        assert!(VersionPolicy::specific(vec![]).check().is_err());
        assert!(VersionPolicy::specific(vec![0]).check().is_err());
        assert!(VersionPolicy::latest(1).check().is_ok());
    }
}
