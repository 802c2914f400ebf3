//! One bench's results: printed as a table, written as JSON for `scripts/bench_plots.py`.

use std::path::Path;

/// One bench's results: rows of latency percentiles, plus what plots need.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    bench: String,
    params: serde_json::Value,
    /// Headline numbers (timers/s, bytes per timer, seconds).
    figures: serde_json::Map<String, serde_json::Value>,
    rows: Vec<Row>,
    /// Quantiles 0, 0.1, ..., 100 of each row's samples, for distribution plots.
    cdf: serde_json::Map<String, serde_json::Value>,
    /// (seconds since start, events in that 100 ms) for throughput-over-time plots.
    timeline: Vec<(f64, u64)>,
}

#[derive(Debug, serde::Serialize)]
struct Row {
    label: String,
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Report {
    pub fn new(bench: &str, params: serde_json::Value) -> Self {
        Self {
            bench: bench.to_owned(),
            params,
            ..Self::default()
        }
    }

    pub fn figure(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.figures.insert(name.to_owned(), value.into());
    }

    pub fn row(&mut self, label: &str, mut samples: Vec<f64>) {
        samples.sort_by(f64::total_cmp);
        let quantiles: Vec<f64> = (0..=1_000)
            .map(|q| percentile(&samples, q as f64 / 10.0))
            .collect();
        self.cdf
            .insert(label.to_owned(), serde_json::json!(quantiles));
        self.rows.push(Row {
            label: label.to_owned(),
            n: samples.len(),
            p50: percentile(&samples, 50.0),
            p90: percentile(&samples, 90.0),
            p99: percentile(&samples, 99.0),
            p999: percentile(&samples, 99.9),
            max: samples.last().copied().unwrap_or(f64::NAN),
        });
    }

    /// Events per 100 ms bucket from their times (seconds since start).
    pub fn timeline(&mut self, mut at: Vec<f64>) {
        at.sort_by(f64::total_cmp);
        let buckets = at.last().map_or(0, |last| (last * 10.0) as usize + 1);
        let mut counts = vec![0u64; buckets];
        for t in at {
            counts[((t * 10.0) as usize).min(buckets - 1)] += 1;
        }
        self.timeline = counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i as f64 / 10.0, c))
            .collect();
    }

    pub fn print(&self, unit: &str) {
        for (name, value) in &self.figures {
            println!("{name}: {value}");
        }
        if !self.rows.is_empty() {
            println!("| {unit} | n | p50 | p90 | p99 | p99.9 | max |");
            println!("|---|---|---|---|---|---|---|");
            for r in &self.rows {
                println!(
                    "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                    r.label, r.n, r.p50, r.p90, r.p99, r.p999, r.max
                );
            }
        }
    }

    pub fn save(&self, path: Option<&Path>) -> anyhow::Result<()> {
        if let Some(path) = path {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
