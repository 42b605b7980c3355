//! The results: a table for stdout, CSV and JSON files.

use std::path::Path;

use serde::Serialize;

use crate::error::BenchError;
use crate::run::{LevelEnd, LevelResult, Load, RunResult};

/// What was measured, against what.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The settings, written at the top level of the JSON.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// Whether `--max-duration-s` stopped the run.
    pub stopped_by_max_duration: bool,
    /// Levels not measured (`c=8`, `rate=100/s`).
    pub skipped: Vec<String>,
    /// One row per measured level.
    pub levels: Vec<LevelRow>,
}

/// One level's figures, from its last three windows merged (errors and
/// delayed requests: from all its windows).
#[derive(Debug, Clone, Serialize)]
pub struct LevelRow {
    /// Closed loop: workers.
    pub concurrency: Option<usize>,
    /// Fixed rate: requests/s asked for.
    pub rate: Option<f64>,
    /// Successful inferences per second (requests × batch size).
    pub throughput_infer_per_s: f64,
    /// Mean latency, microseconds.
    pub latency_mean_us: f64,
    /// Median latency, microseconds.
    pub latency_p50_us: f64,
    /// 90th percentile latency, microseconds.
    pub latency_p90_us: f64,
    /// 99th percentile latency, microseconds.
    pub latency_p99_us: f64,
    /// Successful requests in the reported windows.
    pub requests: u64,
    /// Failed requests in all windows.
    pub errors: u64,
    /// Fixed rate: requests sent late, in all windows.
    pub delayed: u64,
    /// Windows measured.
    pub windows: usize,
    /// Whether the last three windows agreed.
    pub stable: bool,
    /// The bound that ended the level, if not stability.
    pub stopped_by: Option<&'static str>,
}

/// The report's settings part.
#[derive(Debug, Clone, Serialize)]
pub struct ReportHeader {
    /// Model name.
    pub model: String,
    /// Model version.
    pub model_version: Option<u64>,
    /// Protocol name.
    pub protocol: &'static str,
    /// Target address.
    pub url: String,
    /// Inferences per request.
    pub batch_size: u64,
    /// Window length.
    pub measurement_interval_ms: u64,
    /// Stability tolerance.
    pub stability_percentage: f64,
}

impl Report {
    /// The report of `result`.
    pub fn new(header: ReportHeader, result: &RunResult) -> Report {
        let batch = header.batch_size;
        Report {
            header,
            stopped_by_max_duration: result.levels.iter().any(|l| l.end == LevelEnd::MaxDuration)
                || !result.skipped.is_empty(),
            skipped: result.skipped.iter().map(Load::to_string).collect(),
            levels: result
                .levels
                .iter()
                .map(|l| LevelRow::new(l, batch))
                .collect(),
        }
    }

    /// Whether the levels are rates (else concurrencies).
    fn is_rate(&self) -> bool {
        self.levels.iter().any(|l| l.rate.is_some())
    }

    /// An aligned text table, one row per level.
    pub fn table(&self) -> String {
        let rate = self.is_rate();
        let mut header = vec![if rate { "Rate (req/s)" } else { "Concurrency" }];
        header.extend([
            "Throughput (infer/s)",
            "Mean (us)",
            "p50 (us)",
            "p90 (us)",
            "p99 (us)",
            "Errors",
        ]);
        if rate {
            header.push("Delayed");
        }
        header.extend(["Stable", "Stopped by"]);
        let rows: Vec<Vec<String>> = self
            .levels
            .iter()
            .map(|l| {
                let mut row = vec![l.load_text()];
                row.extend([format!("{:.1}", l.throughput_infer_per_s)]);
                let latencies = [
                    l.latency_mean_us,
                    l.latency_p50_us,
                    l.latency_p90_us,
                    l.latency_p99_us,
                ];
                row.extend(latencies.map(|us| format!("{us:.0}")));
                row.push(l.errors.to_string());
                if rate {
                    row.push(l.delayed.to_string());
                }
                row.push(if l.stable { "yes" } else { "no" }.to_string());
                row.push(l.stopped_by.unwrap_or("").to_string());
                row
            })
            .collect();
        align(&header, &rows)
    }

    /// Comma-separated values with a header line.
    pub fn csv(&self) -> String {
        let mut text = String::from(
            "concurrency,rate,throughput_infer_per_s,latency_mean_us,latency_p50_us,\
             latency_p90_us,latency_p99_us,requests,errors,delayed,windows,stable,stopped_by\n",
        );
        for l in &self.levels {
            let optional = |v: Option<String>| v.unwrap_or_default();
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                optional(l.concurrency.map(|c| c.to_string())),
                optional(l.rate.map(|r| r.to_string())),
                l.throughput_infer_per_s,
                l.latency_mean_us,
                l.latency_p50_us,
                l.latency_p90_us,
                l.latency_p99_us,
                l.requests,
                l.errors,
                l.delayed,
                l.windows,
                l.stable,
                l.stopped_by.unwrap_or(""),
            ));
        }
        text
    }

    /// Writes the CSV and JSON files asked for.
    pub fn write_files(&self, csv: Option<&Path>, json: Option<&Path>) -> Result<(), BenchError> {
        let write = |path: &Path, text: String| {
            std::fs::write(path, text).map_err(|source| BenchError::Report {
                path: path.to_path_buf(),
                source,
            })
        };
        if let Some(path) = csv {
            write(path, self.csv())?;
        }
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(self).map_err(|e| BenchError::Report {
                path: path.to_path_buf(),
                source: e.into(),
            })?;
            write(path, text + "\n")?;
        }
        Ok(())
    }
}

impl LevelRow {
    fn new(level: &LevelResult, batch_size: u64) -> LevelRow {
        let r = &level.reported;
        let us = |ns: f64| (ns / 100.0).round() / 10.0;
        let (concurrency, rate) = match level.load {
            Load::Concurrency(n) => (Some(n), None),
            Load::Rate(r) => (None, Some(r)),
        };
        LevelRow {
            concurrency,
            rate,
            throughput_infer_per_s: (r.requests_per_s() * batch_size as f64 * 10.0).round() / 10.0,
            latency_mean_us: us(r.mean_ns()),
            latency_p50_us: us(r.percentile_ns(50.0) as f64),
            latency_p90_us: us(r.percentile_ns(90.0) as f64),
            latency_p99_us: us(r.percentile_ns(99.0) as f64),
            requests: r.successes(),
            errors: level.errors(),
            delayed: level.windows.iter().map(|w| w.delayed).sum(),
            windows: level.windows.len(),
            stable: level.stable(),
            stopped_by: (level.end != LevelEnd::Stable).then(|| level.end.name()),
        }
    }

    fn load_text(&self) -> String {
        match (self.concurrency, self.rate) {
            (Some(c), _) => c.to_string(),
            (None, Some(r)) => r.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Right-aligned columns, two spaces apart.
fn align(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::{Samples, Window};

    fn level(load: Load, end: LevelEnd) -> LevelResult {
        let samples = Samples {
            latencies_ns: (1..=1000).map(|i| i * 1000).collect(),
            errors: 2,
            delayed: 1,
        };
        let window = Window::new(samples, Duration::from_secs(2));
        LevelResult {
            load,
            windows: vec![window.clone()],
            reported: window,
            end,
        }
    }

    fn report(levels: Vec<LevelResult>, skipped: Vec<Load>) -> Report {
        let header = ReportHeader {
            model: "add".into(),
            model_version: None,
            protocol: "kserve-grpc",
            url: "127.0.0.1:1".into(),
            batch_size: 2,
            measurement_interval_ms: 2000,
            stability_percentage: 10.0,
        };
        Report::new(header, &RunResult { levels, skipped })
    }

    #[test]
    fn rows_carry_the_reported_figures() {
        let r = report(
            vec![
                level(Load::Concurrency(1), LevelEnd::Stable),
                level(Load::Concurrency(16), LevelEnd::MaxTrials),
            ],
            vec![],
        );
        let row = &r.levels[0];
        assert_eq!(row.throughput_infer_per_s, 1000.0);
        assert_eq!(
            (row.latency_p50_us, row.latency_p99_us, row.latency_mean_us),
            (500.0, 990.0, 500.5)
        );
        assert_eq!((row.errors, row.requests, row.stable), (2, 1000, true));
        let table = r.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(
            lines[0].starts_with("Concurrency  Throughput (infer/s)"),
            "{table}"
        );
        assert!(lines[2].contains("no  max-trials"), "{table}");
        assert!(lines.iter().all(|l| !l.contains("Delayed")));
        assert_eq!(r.csv().lines().count(), 3);
        assert!(!r.stopped_by_max_duration);
    }

    #[test]
    fn rate_reports_show_delays_and_skipped_levels() {
        let r = report(
            vec![level(Load::Rate(50.0), LevelEnd::MaxDuration)],
            vec![Load::Rate(100.0)],
        );
        assert!(
            r.table()
                .lines()
                .next()
                .is_some_and(|h| h.contains("Rate (req/s)") && h.contains("Delayed"))
        );
        assert!(r.stopped_by_max_duration);
        assert_eq!(r.skipped, ["rate=100/s"]);
        let json = serde_json::to_value(&r).expect("JSON");
        assert_eq!(json["levels"][0]["rate"], 50.0);
        assert_eq!(json["levels"][0]["stopped_by"], "max-duration");
    }
}
