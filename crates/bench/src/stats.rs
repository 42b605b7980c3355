//! Measurement windows, latency percentiles and the stability rule (pure
//! functions, tested with tables of cases).

use std::time::Duration;

/// Samples gathered while a window is open.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Latency of every successful request, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Failed requests.
    pub errors: u64,
    /// Fixed rate: requests sent late.
    pub delayed: u64,
}

/// What one window (or several merged) measured.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// How long the window was open.
    pub elapsed: Duration,
    /// Latencies of successful requests, sorted, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Failed requests.
    pub errors: u64,
    /// Fixed rate: requests sent late.
    pub delayed: u64,
}

impl Window {
    /// Closes a window of `samples` that was open for `elapsed`.
    pub fn new(mut samples: Samples, elapsed: Duration) -> Window {
        samples.latencies_ns.sort_unstable();
        Window {
            elapsed,
            latencies_ns: samples.latencies_ns,
            errors: samples.errors,
            delayed: samples.delayed,
        }
    }

    /// One window covering all of `windows` (durations added).
    pub fn merge(windows: &[Window]) -> Window {
        let mut samples = Samples::default();
        for window in windows {
            samples.latencies_ns.extend_from_slice(&window.latencies_ns);
            samples.errors += window.errors;
            samples.delayed += window.delayed;
        }
        Window::new(samples, windows.iter().map(|w| w.elapsed).sum())
    }

    /// Successful requests.
    pub fn successes(&self) -> u64 {
        self.latencies_ns.len() as u64
    }

    /// Successful requests per second.
    pub fn requests_per_s(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.successes() as f64 / seconds
        } else {
            0.0
        }
    }

    /// Nearest-rank percentile `p` (0–100) in nanoseconds; 0 when empty.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        let n = self.latencies_ns.len();
        if n == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies_ns[rank.clamp(1, n) - 1]
    }

    /// Mean latency in nanoseconds; 0 when empty.
    pub fn mean_ns(&self) -> f64 {
        if self.latencies_ns.is_empty() {
            return 0.0;
        }
        self.latencies_ns.iter().map(|&l| l as f64).sum::<f64>() / self.latencies_ns.len() as f64
    }
}

/// Windows a stability decision and a report look at.
pub const STABILITY_WINDOWS: usize = 3;

/// The windows reported for a level: the last [`STABILITY_WINDOWS`], merged.
pub fn reported(windows: &[Window]) -> Window {
    Window::merge(&windows[windows.len().saturating_sub(STABILITY_WINDOWS)..])
}

/// Whether the last three windows' throughput and p50 latency each lie
/// within `percentage` % of their mean.
pub fn is_stable(windows: &[Window], percentage: f64) -> bool {
    let Some(last) = windows
        .len()
        .checked_sub(STABILITY_WINDOWS)
        .map(|i| &windows[i..])
    else {
        return false;
    };
    let throughput: Vec<f64> = last.iter().map(Window::requests_per_s).collect();
    let p50: Vec<f64> = last.iter().map(|w| w.percentile_ns(50.0) as f64).collect();
    within(&throughput, percentage) && within(&p50, percentage)
}

fn within(values: &[f64], percentage: f64) -> bool {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values
        .iter()
        .all(|v| (v - mean).abs() <= mean * percentage / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-second window of `count` requests, each `latency_us` long.
    fn window(count: u64, latency_us: u64) -> Window {
        let samples = Samples {
            latencies_ns: vec![latency_us * 1000; count as usize],
            ..Samples::default()
        };
        Window::new(samples, Duration::from_secs(1))
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples = Samples {
            latencies_ns: (1..=100).rev().collect(),
            ..Samples::default()
        };
        let w = Window::new(samples, Duration::from_millis(500));
        let cases = [
            (0.0, 1),
            (1.0, 1),
            (50.0, 50),
            (90.0, 90),
            (99.0, 99),
            (99.5, 100),
            (100.0, 100),
        ];
        for (p, expected) in cases {
            assert_eq!(w.percentile_ns(p), expected, "p{p}");
        }
        assert_eq!(w.requests_per_s(), 200.0);
        assert_eq!(w.mean_ns(), 50.5);
        assert_eq!(Window::default().percentile_ns(50.0), 0);
        assert_eq!(Window::default().requests_per_s(), 0.0);
    }

    #[test]
    fn merged_windows_add_up() {
        let merged = Window::merge(&[window(10, 5), window(30, 1)]);
        assert_eq!((merged.successes(), merged.requests_per_s()), (40, 20.0));
        assert_eq!(merged.percentile_ns(50.0), 1000);
        let last = reported(&[window(1, 1), window(2, 1), window(3, 1), window(4, 1)]);
        assert_eq!(last.successes(), 9);
    }

    #[test]
    fn stability_needs_three_close_windows() {
        let cases: [(&[(u64, u64)], bool); 6] = [
            (&[(100, 10), (100, 10)], false),
            (&[(100, 10), (105, 10), (95, 10)], true),
            (&[(500, 1), (100, 10), (105, 10), (95, 10)], true),
            (&[(100, 10), (130, 10), (95, 10)], false),
            (&[(100, 10), (100, 13), (100, 10)], false),
            (&[(0, 0), (0, 0), (0, 0)], true),
        ];
        for (shape, expected) in cases {
            let windows: Vec<Window> = shape.iter().map(|&(n, l)| window(n, l)).collect();
            assert_eq!(is_stable(&windows, 10.0), expected, "{shape:?}");
        }
    }
}
