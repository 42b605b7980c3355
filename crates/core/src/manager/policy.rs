//! The lifecycle policy of one model: pure functions of its versions' states
//! and the aspired list that say what to load and what to retire next. The
//! mechanism (`mechanism.rs`) only carries these decisions out.

use inferd_repository::Fingerprint;

use super::LoadTiming;

/// What the policy knows of one aspired version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoadFacts {
    /// A servable of it is serving.
    pub serving: bool,
    /// Its last load failed (it may still serve what it had before).
    pub failed: bool,
    /// Its files now; `None` when they cannot be read.
    pub files: Option<Fingerprint>,
    /// Its files at the last load attempt.
    pub attempted: Option<Fingerprint>,
    /// Its files at the previous poll, while waiting for them to settle.
    pub seen: Option<Fingerprint>,
}

/// What to do with one aspired version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoadDecision {
    /// Nothing: it serves, or it failed on these very files.
    Keep,
    /// Its files are new this poll: remember them and look again next poll.
    WaitToSettle(Option<Fingerprint>),
    /// Load it now (recording the files it is loaded from).
    Load(Option<Fingerprint>),
}

/// Decides for one aspired version. Everything loads again when the load
/// settings changed; otherwise a serving version stays, a failed one is
/// retried only once its files change, and a poll loads a version it does
/// not serve only when two polls in a row saw the same files.
pub(crate) fn load_decision(
    facts: &LoadFacts,
    settings_changed: bool,
    timing: LoadTiming,
) -> LoadDecision {
    if settings_changed {
        return LoadDecision::Load(facts.files.clone());
    }
    if facts.serving && !facts.failed {
        return LoadDecision::Keep;
    }
    if facts.failed && facts.files.is_some() && facts.attempted == facts.files {
        return LoadDecision::Keep;
    }
    if timing == LoadTiming::WhenSettled && !facts.serving && facts.seen != facts.files {
        return LoadDecision::WaitToSettle(facts.files.clone());
    }
    LoadDecision::Load(facts.files.clone())
}

/// What the policy knows of one version when choosing what to retire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetireFacts {
    /// Version number.
    pub version: u64,
    /// A servable of it is serving.
    pub serving: bool,
    /// Already unloading or ended.
    pub retired: bool,
}

/// The versions to retire: every live version not aspired, except that
/// while no aspired version serves (a new one still failing), the versions
/// already serving keep serving. An empty aspired list (the model removed)
/// retires everything.
pub(crate) fn versions_to_retire(aspired: &[u64], versions: &[RetireFacts]) -> Vec<u64> {
    let aspired_serving = versions
        .iter()
        .any(|v| v.serving && aspired.contains(&v.version));
    let hold_serving = !aspired.is_empty() && !aspired_serving;
    versions
        .iter()
        .filter(|v| !v.retired && !aspired.contains(&v.version))
        .filter(|v| !(hold_serving && v.serving))
        .map(|v| v.version)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use LoadTiming::{Now, WhenSettled};

    fn files(stamp: &str) -> Option<Fingerprint> {
        Some(Fingerprint::new(vec![(
            "model.onnx".into(),
            1,
            stamp.into(),
        )]))
    }

    #[test]
    fn load_decisions() {
        let new = LoadFacts {
            files: files("a"),
            ..LoadFacts::default()
        };
        let serving = LoadFacts {
            serving: true,
            files: files("a"),
            attempted: files("a"),
            ..LoadFacts::default()
        };
        let failed = LoadFacts {
            failed: true,
            files: files("a"),
            attempted: files("a"),
            ..LoadFacts::default()
        };
        let failed_then_changed = LoadFacts {
            files: files("b"),
            ..failed.clone()
        };
        let settled = LoadFacts {
            seen: files("a"),
            ..new.clone()
        };
        let reload_failed = LoadFacts {
            failed: true,
            files: files("b"),
            ..serving.clone()
        };
        let unreadable = LoadFacts {
            files: None,
            failed: true,
            ..LoadFacts::default()
        };
        use LoadDecision::*;
        let table = [
            // (facts, settings changed, timing, decision)
            (&new, false, Now, Load(files("a"))),
            (&new, false, WhenSettled, WaitToSettle(files("a"))),
            (&settled, false, WhenSettled, Load(files("a"))),
            (&serving, false, Now, Keep),
            (&serving, false, WhenSettled, Keep),
            (&serving, true, WhenSettled, Load(files("a"))),
            (&failed, false, Now, Keep),
            (&failed, true, Now, Load(files("a"))),
            (&failed_then_changed, false, Now, Load(files("b"))),
            (
                &failed_then_changed,
                false,
                WhenSettled,
                WaitToSettle(files("b")),
            ),
            (&reload_failed, false, WhenSettled, Load(files("b"))),
            (&unreadable, false, Now, Load(None)),
        ];
        for (i, (facts, changed, timing, want)) in table.into_iter().enumerate() {
            assert_eq!(load_decision(facts, changed, timing), want, "case {i}");
        }
    }

    fn v(version: u64, serving: bool, retired: bool) -> RetireFacts {
        RetireFacts {
            version,
            serving,
            retired,
        }
    }

    #[test]
    fn retire_decisions() {
        let table: [(&[u64], Vec<RetireFacts>, Vec<u64>); 7] = [
            // A new version serves: the old one goes.
            (&[2], vec![v(1, true, false), v(2, true, false)], vec![1]),
            // The new one does not serve yet: the old one stays.
            (&[2], vec![v(1, true, false), v(2, false, false)], vec![]),
            // ... but an old version that is not serving goes anyway.
            (
                &[3],
                vec![v(1, false, false), v(2, true, false), v(3, false, false)],
                vec![1],
            ),
            // Model removed: everything live goes.
            (&[], vec![v(1, true, false), v(2, false, false)], vec![1, 2]),
            // Retired versions are not retired twice.
            (&[], vec![v(1, false, true)], vec![]),
            // Aspired versions stay whatever their state.
            (&[1, 2], vec![v(1, false, false), v(2, true, false)], vec![]),
            // Several aspired, one serving: the unaspired serving one goes.
            (&[2, 3], vec![v(1, true, false), v(3, true, false)], vec![1]),
        ];
        for (i, (aspired, versions, want)) in table.into_iter().enumerate() {
            assert_eq!(versions_to_retire(aspired, &versions), want, "case {i}");
        }
    }
}
