//! Counters that make loss visible and never invent it; the same rules as Python's
//! `tradebridge.bus.stats` (the scenarios in `conformance/transport/loss_accounting/` pin both).
//!
//! Several publishers may share a topic, so each `(topic, source)` *stream* is followed on its own:
//! a skipped number is a *gap* (`dropped` grows by how many were skipped); a number going back is a
//! *restart* of that source (ZeroMQ never repeats or reorders within a stream), and if its first
//! number seen again is not 0 the numbers before it are a gap too. A stream seen for the first time
//! is a new *source*: its first number is never loss (we may have joined late); the numbers it had used
//! add up in `missed_at_join`. At most `max_sources` streams are followed (least recently heard
//! forgotten first, counted in `sources_evicted`). Messages without `seq` are received, never lost.
//! `out_of_order` stays in the shape for compatibility and is always 0: a backwards number is a restart.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use lru::LruCache;
use serde::{Serialize, Serializer};
use tradebridge_contracts::Topic;

use crate::transit::TransitHistogram;

/// Streams followed by default before the least recently heard is forgotten.
pub const DEFAULT_MAX_SOURCES: usize = 4096;

/// Counters of one topic, all its sources together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TopicStats {
    pub received: u64,
    pub gaps: u64,
    pub dropped: u64,
    pub restarts: u64,
    pub out_of_order: u64,
    pub sources: u64,
    pub missed_at_join: u64,
    /// The `seq` of the last numbered message on this topic.
    pub last_seq: Option<u64>,
    /// The source of that message.
    pub source: Option<String>,
}

/// Counters of one `(topic, source)` stream (numbered messages only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    pub received: u64,
    pub gaps: u64,
    pub dropped: u64,
    pub restarts: u64,
    /// The first `seq` seen from this source.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// The bounded table of streams, least recently heard evicted first. Keyed `"<topic> <source>"`
/// (`"<topic>"` without a source): one string, so a look-up borrows a reused buffer, no allocation.
#[derive(Debug, Clone)]
struct Streams {
    table: LruCache<String, SourceStats>,
    max: NonZeroUsize,
    key: String,
}

impl Streams {
    fn new(max: NonZeroUsize) -> Self {
        // unbounded and trimmed by hand: a bounded LruCache allocates its whole capacity up front
        Streams {
            table: LruCache::unbounded(),
            max,
            key: String::with_capacity(80),
        }
    }

    fn split(key: &str) -> (&str, &str) {
        key.split_once(' ').unwrap_or((key, ""))
    }
}

impl PartialEq for Streams {
    fn eq(&self, other: &Self) -> bool {
        self.max == other.max && self.table.iter().eq(other.table.iter())
    }
}

impl Eq for Streams {}

impl Serialize for Streams {
    /// `{topic: {source: counters}}`; a stream without a source is listed under `""`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out: BTreeMap<&str, BTreeMap<&str, &SourceStats>> = BTreeMap::new();
        for (key, stream) in self.table.iter() {
            let (topic, source) = Streams::split(key);
            out.entry(topic).or_default().insert(source, stream);
        }
        out.serialize(serializer)
    }
}

/// Counters of one subscriber; `topics` has them per topic and [`sources`](Self::by_source) per stream
/// (JSON-ready with serde, the same shape as Python's `SubscriberStats.as_dict()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberStats {
    pub received: u64,
    pub malformed: u64,
    pub gaps: u64,
    pub dropped: u64,
    pub restarts: u64,
    pub out_of_order: u64,
    /// Frames whose topic passed ZeroMQ's prefix filter but is not one we subscribed to.
    pub filtered: u64,
    /// Refused frames above the size limit (also in `malformed` and `malformed_by_code`).
    pub too_large: u64,
    /// Streams seen for the first time (again, after being forgotten).
    pub sources: u64,
    /// Streams forgotten to keep the table within `max_sources`.
    pub sources_evicted: u64,
    /// The numbers new streams had used before their first message reached us (not proven loss).
    pub missed_at_join: u64,
    /// Signals tagged `SignalGenerated` (the original bridge's name), read as `Signal`.
    pub legacy: u64,
    /// Documents whose bare `NaN` features were read as null (`Options::allow_nan_tokens`).
    pub nan_tokens: u64,
    /// `now - sent_at_us` of the messages that carry the v1.1 stamp.
    pub transit: TransitHistogram,
    /// Malformed frames by error code (`bad_frame`, `invalid_json`, `too_large`, ...).
    pub malformed_by_code: BTreeMap<String, u64>,
    pub topics: BTreeMap<String, TopicStats>,
    by_source: Streams,
}

impl Default for SubscriberStats {
    fn default() -> Self {
        Self::with_max_sources(NonZeroUsize::new(DEFAULT_MAX_SOURCES).expect("non-zero"))
    }
}

impl SubscriberStats {
    /// Empty counters that follow at most `max_sources` streams.
    pub fn with_max_sources(max_sources: NonZeroUsize) -> Self {
        SubscriberStats {
            received: 0,
            malformed: 0,
            gaps: 0,
            dropped: 0,
            restarts: 0,
            out_of_order: 0,
            filtered: 0,
            too_large: 0,
            sources: 0,
            sources_evicted: 0,
            missed_at_join: 0,
            legacy: 0,
            nan_tokens: 0,
            transit: TransitHistogram::default(),
            malformed_by_code: BTreeMap::new(),
            topics: BTreeMap::new(),
            by_source: Streams::new(max_sources),
        }
    }

    /// The counters of one stream, if it is still followed.
    pub fn source(&self, topic: Topic, source: Option<&str>) -> Option<&SourceStats> {
        let key = match source {
            Some(source) => format!("{} {source}", topic.as_str()),
            None => topic.as_str().to_owned(),
        };
        self.by_source.table.peek(key.as_str())
    }

    /// Every followed stream as `(topic, source, counters)`, most recently heard first (`""`: none).
    pub fn by_source(&self) -> impl Iterator<Item = (&str, &str, &SourceStats)> {
        self.by_source.table.iter().map(|(key, stream)| {
            let (topic, source) = Streams::split(key);
            (topic, source, stream)
        })
    }

    /// Count one delivered message of `topic` with its envelope.
    pub fn observe(&mut self, topic: Topic, seq: Option<u64>, source: Option<&str>) {
        self.received += 1;
        let topic_stats = match self.topics.get_mut(topic.as_str()) {
            Some(stats) => stats,
            None => self.topics.entry(topic.as_str().to_owned()).or_default(),
        };
        topic_stats.received += 1;
        let Some(seq) = seq else { return };
        topic_stats.last_seq = Some(seq);
        if topic_stats.source.as_deref() != source {
            topic_stats.source = source.map(str::to_owned);
        }
        let streams = &mut self.by_source;
        streams.key.clear();
        streams.key.push_str(topic.as_str());
        if let Some(source) = source {
            streams.key.push(' ');
            streams.key.push_str(source);
        }
        let Some(stream) = streams.table.get_mut(streams.key.as_str()) else {
            streams.table.put(
                streams.key.clone(),
                SourceStats {
                    received: 1,
                    first_seq: seq,
                    last_seq: seq,
                    ..SourceStats::default()
                },
            );
            self.sources += 1;
            topic_stats.sources += 1;
            self.missed_at_join += seq;
            topic_stats.missed_at_join += seq;
            while streams.table.len() > streams.max.get() {
                streams.table.pop_lru(); // never the new one: max >= 1
                self.sources_evicted += 1;
            }
            return;
        };
        stream.received += 1;
        let last = stream.last_seq;
        stream.last_seq = seq;
        let missing = if seq == last + 1 {
            return;
        } else if seq > last {
            seq - last - 1
        } else {
            stream.restarts += 1;
            topic_stats.restarts += 1;
            self.restarts += 1;
            if seq == 0 {
                return;
            }
            seq // the restarted run's first numbers never reached us
        };
        stream.gaps += 1;
        stream.dropped += missing;
        topic_stats.gaps += 1;
        topic_stats.dropped += missing;
        self.gaps += 1;
        self.dropped += missing;
    }

    /// Every followed stream as `(topic, source, counters)`, most recently heard first; `None`: a
    /// stream of messages without a `source` (kept apart from a `source` of `""`).
    pub fn streams(&self) -> impl Iterator<Item = (&str, Option<&str>, &SourceStats)> {
        self.by_source
            .table
            .iter()
            .map(|(key, stream)| match key.split_once(' ') {
                Some((topic, source)) => (topic, Some(source), stream),
                None => (key.as_str(), None, stream),
            })
    }

    /// Count one refused frame under its contract error code.
    pub fn refused(&mut self, code: &str) {
        self.malformed += 1;
        *self.malformed_by_code.entry(code.to_owned()).or_default() += 1;
        if code == "too_large" {
            self.too_large += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[(u64, &str)]) -> SubscriberStats {
        let mut stats = SubscriberStats::default();
        for &(seq, source) in events {
            stats.observe(Topic::Market, Some(seq), Some(source));
        }
        stats
    }

    #[test]
    fn consecutive_numbers_are_no_loss() {
        let stats = run(&[(0, "a"), (1, "a"), (2, "a")]);
        assert_eq!((stats.received, stats.gaps, stats.dropped), (3, 0, 0));
    }

    #[test]
    fn a_skip_is_one_gap_of_the_skipped_count() {
        let stats = run(&[(0, "a"), (1, "a"), (5, "a"), (6, "a"), (9, "a")]);
        assert_eq!((stats.gaps, stats.dropped), (2, 5));
        assert_eq!(stats.topics["market"].last_seq, Some(9));
    }

    #[test]
    fn a_second_source_is_a_new_stream_not_a_restart() {
        let stats = run(&[(0, "a"), (1, "a"), (4, "b"), (2, "a"), (5, "b")]);
        assert_eq!((stats.restarts, stats.gaps, stats.dropped), (0, 0, 0));
        assert_eq!((stats.sources, stats.missed_at_join), (2, 4));
        assert_eq!(
            stats.source(Topic::Market, Some("b")).map(|s| s.first_seq),
            Some(4)
        );
    }

    #[test]
    fn going_back_is_a_restart_and_its_unseen_start_a_gap() {
        let stats = run(&[(0, "a"), (1, "a"), (2, "a"), (0, "a"), (1, "a"), (0, "a")]);
        assert_eq!((stats.restarts, stats.gaps), (2, 0));
        let stats = run(&[(0, "a"), (1, "a"), (2, "a"), (1, "a")]);
        assert_eq!((stats.restarts, stats.gaps, stats.dropped), (1, 1, 1));
        assert_eq!(stats.out_of_order, 0);
    }

    #[test]
    fn the_table_is_bounded_and_serializes_per_topic_and_source() {
        let mut stats = SubscriberStats::with_max_sources(NonZeroUsize::new(2).unwrap());
        for source in ["a", "b", "c"] {
            stats.observe(Topic::Signal, Some(0), Some(source));
        }
        assert_eq!((stats.sources, stats.sources_evicted), (3, 1));
        assert!(stats.source(Topic::Signal, Some("a")).is_none());
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["by_source"]["signal"]["c"]["received"], 1);
        assert!(json["by_source"]["signal"].get("a").is_none());
        assert_eq!(stats.clone(), stats);
    }

    #[test]
    fn plain_messages_are_received_never_lost() {
        let mut stats = SubscriberStats::default();
        stats.observe(Topic::Signal, None, None);
        stats.observe(Topic::Signal, None, None);
        assert_eq!((stats.received, stats.gaps, stats.sources), (2, 0, 0));
    }
}
