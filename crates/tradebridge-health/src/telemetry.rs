//! Counters, latency histograms and tracked stat sources, cheap to update from any thread.
//!
//! Updates are single relaxed atomic operations (no lock, no allocation) because they sit on the hot
//! path of a bus subscriber or an order loop; locks are only taken when an instrument is registered and
//! when `/metrics` or `/health` is rendered.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histogram buckets: 10 µs to 2.5 s, shared with the Python SDK
/// so dashboards work the same for both languages.
pub const LATENCY_BUCKETS_SECONDS: [f64; 17] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A monotonically increasing count (`inc`/`add` are one relaxed atomic add).
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct HistogramCore {
    buckets: [AtomicU64; LATENCY_BUCKETS_SECONDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// A latency histogram with [`LATENCY_BUCKETS_SECONDS`] buckets (an observation is three atomic adds).
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramCore>);

impl Default for Histogram {
    fn default() -> Self {
        Self(Arc::new(HistogramCore {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }))
    }
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // Only the first bucket that fits is counted; rendering accumulates them (Prometheus `le`).
        if let Some(index) = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|&bound| seconds <= bound)
        {
            self.0.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.0.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Records one duration given in seconds; negative, NaN and infinite values are ignored because they
    /// can only come from a clock bug and would poison the sum.
    pub fn observe_seconds(&self, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.observe(Duration::from_secs_f64(seconds.min(u64::MAX as f64 / 1e9)));
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Cumulative counts per bucket bound, as Prometheus `le` buckets (without `+Inf`, which is `count`).
    pub fn cumulative_buckets(&self) -> Vec<(f64, u64)> {
        let mut running = 0;
        LATENCY_BUCKETS_SECONDS
            .iter()
            .zip(&self.0.buckets)
            .map(|(&bound, bucket)| {
                running += bucket.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect()
    }
}

type StatSource = Box<dyn Fn() -> Vec<(&'static str, u64)> + Send + Sync>;

/// The instruments of one service: uptime, the standard counters, per-stage latency histograms and
/// tracked stat sources (closures read at scrape time, so a bus never needs to know about HTTP).
///
/// Every [`crate::HealthCheck`] owns one behind an `Arc`; clones of the check share it.
pub struct Telemetry {
    started: Instant,
    messages_processed: Counter,
    malformed_messages: Counter,
    sequence_gaps: Counter,
    latency: Mutex<BTreeMap<String, Histogram>>,
    sources: Mutex<Vec<(String, StatSource)>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("uptime", &self.uptime())
            .field("messages_processed", &self.messages_processed.get())
            .field("malformed_messages", &self.malformed_messages.get())
            .field("sequence_gaps", &self.sequence_gaps.get())
            .finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while rendering must not disable metrics for the rest of the process.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Telemetry {
    /// Fresh instruments; uptime counts from now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            messages_processed: Counter::default(),
            malformed_messages: Counter::default(),
            sequence_gaps: Counter::default(),
            latency: Mutex::new(BTreeMap::new()),
            sources: Mutex::new(Vec::new()),
        }
    }

    /// Time since these instruments were created.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Messages the service handled (`tradebridge_messages_processed_total`).
    pub fn messages_processed(&self) -> &Counter {
        &self.messages_processed
    }

    /// Messages refused by their contract (`tradebridge_malformed_messages_total`).
    pub fn malformed_messages(&self) -> &Counter {
        &self.malformed_messages
    }

    /// Sequence gaps seen (`tradebridge_sequence_gaps_total`).
    pub fn sequence_gaps(&self) -> &Counter {
        &self.sequence_gaps
    }

    /// The latency histogram of one stage (`tradebridge_latency_seconds{stage="..."}`), created on first
    /// use. Keep the handle: observing through it takes no lock.
    pub fn latency(&self, stage: &str) -> Histogram {
        lock(&self.latency)
            .entry(stage.to_owned())
            .or_default()
            .clone()
    }

    /// Reads `source` at every scrape: each `(key, value)` becomes `tradebridge_<key>_total{source="name"}`
    /// in `/metrics` and `<name>_<key>` in the `/health` metrics. Tracking a name again replaces it.
    pub fn track<F>(&self, name: impl Into<String>, source: F)
    where
        F: Fn() -> Vec<(&'static str, u64)> + Send + Sync + 'static,
    {
        let name = name.into();
        let mut sources = lock(&self.sources);
        sources.retain(|(existing, _)| *existing != name);
        sources.push((name, Box::new(source)));
    }

    /// Stops reading a tracked source.
    pub fn untrack(&self, name: &str) {
        lock(&self.sources).retain(|(existing, _)| existing != name);
    }

    /// `(metric name, value)` pairs the `/health` body shows besides the explicit metrics: the standard
    /// counters once they counted something, and every tracked stat.
    pub(crate) fn health_metrics(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, counter) in self.standard_counters() {
            if counter.get() > 0 {
                out.push((name.to_owned(), counter.get().to_string()));
            }
        }
        for (source, read) in lock(&self.sources).iter() {
            for (key, value) in read() {
                out.push((format!("{source}_{key}"), value.to_string()));
            }
        }
        out
    }

    fn standard_counters(&self) -> [(&'static str, &Counter); 3] {
        [
            ("messages_processed", &self.messages_processed),
            ("malformed_messages", &self.malformed_messages),
            ("sequence_gaps", &self.sequence_gaps),
        ]
    }

    /// Renders every instrument in the Prometheus text exposition format (version 0.0.4).
    pub(crate) fn render_prometheus(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP tradebridge_uptime_seconds Seconds since the service started."
        );
        let _ = writeln!(out, "# TYPE tradebridge_uptime_seconds gauge");
        let _ = writeln!(
            out,
            "tradebridge_uptime_seconds {}",
            self.uptime().as_secs_f64()
        );

        // Families keyed by name so that a tracked stat named like a standard counter joins its family
        // instead of emitting a second `# TYPE` line (which scrapers reject).
        let mut families: BTreeMap<String, Vec<(Option<String>, u64)>> = BTreeMap::new();
        for (name, counter) in self.standard_counters() {
            families
                .entry(format!("tradebridge_{name}_total"))
                .or_default()
                .push((None, counter.get()));
        }
        for (source, read) in lock(&self.sources).iter() {
            for (key, value) in read() {
                let family = format!("tradebridge_{}_total", sanitize_metric_name(key));
                families
                    .entry(family)
                    .or_default()
                    .push((Some(source.clone()), value));
            }
        }
        for (family, samples) in &families {
            let _ = writeln!(out, "# HELP {family} {}", counter_help(family));
            let _ = writeln!(out, "# TYPE {family} counter");
            for (source, value) in samples {
                match source {
                    None => {
                        let _ = writeln!(out, "{family} {value}");
                    }
                    Some(source) => {
                        let _ = writeln!(
                            out,
                            "{family}{{source=\"{}\"}} {value}",
                            escape_label(source)
                        );
                    }
                }
            }
        }

        let latency = lock(&self.latency);
        let _ = writeln!(
            out,
            "# HELP tradebridge_latency_seconds Latency of a processing stage."
        );
        let _ = writeln!(out, "# TYPE tradebridge_latency_seconds histogram");
        for (stage, histogram) in latency.iter() {
            let stage = escape_label(stage);
            for (bound, count) in histogram.cumulative_buckets() {
                let _ = writeln!(
                    out,
                    "tradebridge_latency_seconds_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {count}"
                );
            }
            let count = histogram.count();
            let _ = writeln!(
                out,
                "tradebridge_latency_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "tradebridge_latency_seconds_sum{{stage=\"{stage}\"}} {}",
                histogram.sum_seconds()
            );
            let _ = writeln!(
                out,
                "tradebridge_latency_seconds_count{{stage=\"{stage}\"}} {count}"
            );
        }
    }
}

fn counter_help(family: &str) -> &'static str {
    match family {
        "tradebridge_messages_processed_total" => "Messages the service handled.",
        "tradebridge_malformed_messages_total" => "Messages refused by their contract.",
        "tradebridge_sequence_gaps_total" => "Sequence gaps seen on the bus.",
        _ => "A tracked statistic, per source.",
    }
}

/// Metric names allow `[a-zA-Z_:][a-zA-Z0-9_:]*`; anything else becomes `_`.
pub(crate) fn sanitize_metric_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// Label values escape backslash, double quote and newline.
pub(crate) fn escape_label(raw: &str) -> String {
    raw.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(5));
        histogram.observe(Duration::from_micros(300));
        histogram.observe(Duration::from_secs(10));
        histogram.observe_seconds(f64::NAN);
        histogram.observe_seconds(-1.0);
        let buckets = histogram.cumulative_buckets();
        assert_eq!(buckets[0], (0.000_01, 1));
        assert_eq!(buckets[5], (0.000_5, 2));
        assert_eq!(buckets.last().copied(), Some((2.5, 2)));
        assert_eq!(histogram.count(), 3);
        assert!((histogram.sum_seconds() - 10.000_305).abs() < 1e-9);
    }

    #[test]
    fn tracked_source_joins_the_family_of_a_standard_counter() {
        let telemetry = Telemetry::new();
        telemetry.messages_processed().add(2);
        telemetry.track("sub", || vec![("messages_processed", 5), ("gaps", 1)]);
        let mut text = String::new();
        telemetry.render_prometheus(&mut text);
        assert_eq!(
            text.matches("# TYPE tradebridge_messages_processed_total counter")
                .count(),
            1
        );
        assert!(text.contains("tradebridge_messages_processed_total 2\n"));
        assert!(text.contains("tradebridge_messages_processed_total{source=\"sub\"} 5\n"));
        assert!(text.contains("tradebridge_gaps_total{source=\"sub\"} 1\n"));
    }

    #[test]
    fn names_and_labels_are_made_safe() {
        assert_eq!(sanitize_metric_name("9-lives"), "_9_lives");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
