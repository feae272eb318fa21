//! Counters that make loss visible; the same rules as Python's `tradebridge.bus.stats`.
//!
//! Each `(topic, source)` stream is numbered 0, 1, 2, ...: a skipped number is a *gap* (`dropped` grows
//! by how many were skipped); a new `source` on a topic that had one is a *restart* (and a gap if its
//! first number is not 0); the first stream of a topic is never a gap (joining late is not loss); a
//! number going backwards is `out_of_order`. Messages without `seq` are received, never lost.

use std::collections::BTreeMap;

use serde::Serialize;
use tradebridge_contracts::Topic;

/// Counters of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TopicStats {
    pub received: u64,
    pub gaps: u64,
    pub dropped: u64,
    pub restarts: u64,
    pub out_of_order: u64,
    /// The last `seq` seen from the current source.
    pub last_seq: Option<u64>,
    /// The publisher instance currently seen on this topic.
    pub source: Option<String>,
}

/// Counters of one subscriber; `topics` has the same counters per topic (JSON-ready with serde).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriberStats {
    pub received: u64,
    pub malformed: u64,
    pub gaps: u64,
    pub dropped: u64,
    pub restarts: u64,
    pub out_of_order: u64,
    /// Frames whose topic passed ZeroMQ's prefix filter but is not one we subscribed to.
    pub filtered: u64,
    /// Malformed frames by error code (`bad_frame`, `invalid_json`, ...).
    pub malformed_by_code: BTreeMap<String, u64>,
    pub topics: BTreeMap<String, TopicStats>,
}

impl SubscriberStats {
    /// Count one delivered message of `topic` with its envelope.
    pub fn observe(&mut self, topic: Topic, seq: Option<u64>, source: Option<&str>) {
        self.received += 1;
        let stats = match self.topics.get_mut(topic.as_str()) {
            Some(stats) => stats,
            None => self.topics.entry(topic.as_str().to_owned()).or_default(),
        };
        stats.received += 1;
        let Some(seq) = seq else { return };
        let same_source = stats.source.as_deref() == source;
        match stats.last_seq {
            Some(last) if same_source => {
                if seq == last + 1 {
                    stats.last_seq = Some(seq);
                } else if seq > last {
                    let missing = seq - last - 1;
                    stats.gaps += 1;
                    stats.dropped += missing;
                    self.gaps += 1;
                    self.dropped += missing;
                    stats.last_seq = Some(seq);
                } else {
                    stats.out_of_order += 1;
                    self.out_of_order += 1;
                }
            }
            _ => {
                if stats.source.is_some() && !same_source {
                    stats.restarts += 1;
                    self.restarts += 1;
                    if seq > 0 {
                        stats.gaps += 1;
                        stats.dropped += seq;
                        self.gaps += 1;
                        self.dropped += seq;
                    }
                }
                stats.source = source.map(str::to_owned);
                stats.last_seq = Some(seq);
            }
        }
    }

    pub(crate) fn malformed(&mut self, code: &str) {
        self.malformed += 1;
        *self.malformed_by_code.entry(code.to_owned()).or_default() += 1;
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
    fn joining_late_is_not_loss() {
        let stats = run(&[(1234, "a"), (1235, "a")]);
        assert_eq!((stats.gaps, stats.dropped), (0, 0));
    }

    #[test]
    fn a_new_source_is_a_restart_and_its_missed_start_is_a_gap() {
        let stats = run(&[(0, "a"), (1, "a"), (2, "a"), (4, "b"), (5, "b")]);
        assert_eq!((stats.restarts, stats.gaps, stats.dropped), (1, 1, 4));
        assert_eq!(stats.topics["market"].source.as_deref(), Some("b"));
    }

    #[test]
    fn backwards_is_out_of_order_not_loss() {
        let stats = run(&[(0, "a"), (1, "a"), (2, "a"), (1, "a")]);
        assert_eq!((stats.out_of_order, stats.gaps), (1, 0));
    }

    #[test]
    fn plain_messages_are_received_never_lost() {
        let mut stats = SubscriberStats::default();
        stats.observe(Topic::Signal, None, None);
        stats.observe(Topic::Signal, None, None);
        assert_eq!((stats.received, stats.gaps), (2, 0));
    }
}
