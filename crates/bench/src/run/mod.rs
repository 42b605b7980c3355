//! Measures each load level in turn: warm-up, then windows until the last
//! three are stable, `--max-trials` is reached, or a bound stops it.

mod load;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::client::{ClientConfig, Payload};
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::stats::{self, Window};

/// One level of load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Closed loop with this many workers.
    Concurrency(usize),
    /// Open loop at this many requests/s.
    Rate(f64),
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Load::Concurrency(n) => write!(f, "c={n}"),
            Load::Rate(r) => write!(f, "rate={r}/s"),
        }
    }
}

/// Measurement settings; every default is the flag's.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Levels, measured in this order.
    pub loads: Vec<Load>,
    /// Warm-up per level (`--warmup-ms`, 500 ms).
    pub warmup: Duration,
    /// Window length (`--measurement-interval-ms`, 2000 ms).
    pub interval: Duration,
    /// Stability tolerance (`--stability-percentage`, 10 %).
    pub stability_percentage: f64,
    /// Windows per level at most (`--max-trials`, 10).
    pub max_trials: usize,
    /// Cap on the whole run (`--max-duration-s`, 300 s).
    pub max_duration: Duration,
    /// Measured requests per level at most (`--max-requests`, none).
    pub max_requests: Option<u64>,
    /// Fixed rate: requests in flight at most (`--max-outstanding`, 64).
    pub max_outstanding: usize,
    /// Inferences per request (`--batch-size`, 1).
    pub batch_size: u64,
}

/// Why a level's measurement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelEnd {
    /// The last three windows agreed.
    Stable,
    /// `--max-trials` windows without agreement.
    MaxTrials,
    /// `--max-requests` reached.
    MaxRequests,
    /// `--max-duration-s` reached.
    MaxDuration,
}

impl LevelEnd {
    /// The name used in reports ("" for stable).
    pub fn name(self) -> &'static str {
        match self {
            LevelEnd::Stable => "",
            LevelEnd::MaxTrials => "max-trials",
            LevelEnd::MaxRequests => "max-requests",
            LevelEnd::MaxDuration => "max-duration",
        }
    }
}

/// The measurement of one level.
#[derive(Debug, Clone)]
pub struct LevelResult {
    /// The load applied.
    pub load: Load,
    /// Every measured window, in order.
    pub windows: Vec<Window>,
    /// The last three windows merged: the figures reported.
    pub reported: Window,
    /// Why measuring stopped.
    pub end: LevelEnd,
}

impl LevelResult {
    /// Whether the reported windows met the stability rule.
    pub fn stable(&self) -> bool {
        self.end == LevelEnd::Stable
    }

    /// Failed requests over every measured window.
    pub fn errors(&self) -> u64 {
        self.windows.iter().map(|w| w.errors).sum()
    }
}

/// The measurement of every level reached.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Levels measured, in order.
    pub levels: Vec<LevelResult>,
    /// Levels not measured because `--max-duration-s` was reached.
    pub skipped: Vec<Load>,
}

/// Everything a level needs, shared with its tasks.
struct Shared {
    clients: ClientConfig,
    payload: Payload,
    settings: RunSettings,
}

/// Measures every level of `settings`, within `--max-duration-s`.
pub async fn run(
    clients: ClientConfig,
    payload: Payload,
    settings: RunSettings,
    progress: &mut Progress,
) -> RunResult {
    let deadline = Instant::now() + settings.max_duration;
    let shared = Arc::new(Shared {
        clients,
        payload,
        settings,
    });
    let loads = shared.settings.loads.clone();
    let mut levels = Vec::new();
    let mut error_shown = false;
    for (index, &load) in loads.iter().enumerate() {
        let level = run_level(&shared, load, deadline, progress, &mut error_shown).await;
        let Some(level) = level else {
            let skipped = loads[index..].to_vec();
            return RunResult { levels, skipped };
        };
        progress.note(&summary(&level, shared.settings.batch_size));
        let capped = level.end == LevelEnd::MaxDuration;
        levels.push(level);
        if capped {
            let skipped = loads[index + 1..].to_vec();
            return RunResult { levels, skipped };
        }
    }
    RunResult {
        levels,
        skipped: Vec::new(),
    }
}

/// Applies `load` and measures it; `None` when the deadline left no time
/// for a single window.
async fn run_level(
    shared: &Arc<Shared>,
    load: Load,
    deadline: Instant,
    progress: &mut Progress,
    error_shown: &mut bool,
) -> Option<LevelResult> {
    let settings = &shared.settings;
    let recorder = Arc::new(Recorder::new(settings.max_requests));
    let (stop_sender, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    match load {
        Load::Concurrency(workers) => {
            for _ in 0..workers {
                tasks.spawn(load::closed_loop(
                    shared.clone(),
                    recorder.clone(),
                    stop.clone(),
                ));
            }
        }
        Load::Rate(rate) => {
            tasks.spawn(load::fixed_rate(
                shared.clone(),
                recorder.clone(),
                stop,
                rate,
            ));
        }
    }

    sleep_until((Instant::now() + settings.warmup).min(deadline)).await;
    recorder.take();
    recorder.start_budget();
    let mut windows = Vec::new();
    let end = loop {
        let now = Instant::now();
        if now >= deadline {
            break LevelEnd::MaxDuration;
        }
        tokio::select! {
            () = sleep_until((now + settings.interval).min(deadline)) => {}
            () = recorder.budget_spent() => {}
        }
        windows.push(Window::new(recorder.take(), now.elapsed()));
        progress.update(&window_line(load, &windows, settings));
        if let (false, Some(error)) = (*error_shown, recorder.first_error()) {
            progress.note(&format!("first error at {load}: {error}"));
            *error_shown = true;
        }
        if stats::is_stable(&windows, settings.stability_percentage) {
            break LevelEnd::Stable;
        } else if recorder.is_budget_spent() {
            break LevelEnd::MaxRequests;
        } else if Instant::now() >= deadline {
            break LevelEnd::MaxDuration;
        } else if windows.len() >= settings.max_trials {
            break LevelEnd::MaxTrials;
        }
    };
    let _ = stop_sender.send(true);
    let grace = shared
        .clients
        .request_timeout
        .min(deadline.saturating_duration_since(Instant::now()));
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    progress.clear();
    (!windows.is_empty()).then(|| LevelResult {
        load,
        reported: stats::reported(&windows),
        windows,
        end,
    })
}

fn window_line(load: Load, windows: &[Window], settings: &RunSettings) -> String {
    let Some(last) = windows.last() else {
        return String::new();
    };
    format!(
        " {load} window {}/{}  {:.1} infer/s  p50 {} us  errors {}",
        windows.len(),
        settings.max_trials,
        last.requests_per_s() * settings.batch_size as f64,
        last.percentile_ns(50.0) / 1000,
        last.errors,
    )
}

fn summary(level: &LevelResult, batch_size: u64) -> String {
    let r = &level.reported;
    let status = match level.end {
        LevelEnd::Stable => "stable".to_string(),
        end => format!("not stable, stopped by {}", end.name()),
    };
    format!(
        "{}: {:.1} infer/s, p50 {} us, p99 {} us, {} errors ({} window(s), {status})",
        level.load,
        r.requests_per_s() * batch_size as f64,
        r.percentile_ns(50.0) / 1000,
        r.percentile_ns(99.0) / 1000,
        level.errors(),
        level.windows.len(),
    )
}
