//! The signal ids seen in this run, for duplicate refusal: a window bounded by time *and* count, so the
//! memory it takes is set by configuration, not by how long the engine has been running (the 10-minute
//! soak found the engine growing ~0.4 MB a minute from an unbounded set of every id it ever checked).
//!
//! Exact within its bounds: an id is refused as a duplicate exactly when it is still in the window. What
//! falls out (older than the window, or beyond the count, oldest first) is a signal that old: with a
//! journal its accepted order is still refused by the journal's own entry (or, past that, by the broker's
//! refusal of its repeated client order id); a refused one is decided afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct SeenIds {
    window_ms: u64,
    max: usize,
    /// id -> the generation of its live insertion (a forgotten then re-inserted id has a newer one).
    live: HashMap<Arc<str>, u64>,
    /// (seen at ms, generation, id), oldest first; entries of forgotten ids stay until they reach the
    /// front, and count against `max`, so the queue itself is bounded too.
    order: VecDeque<(u64, u64, Arc<str>)>,
    generation: u64,
}

impl Default for SeenIds {
    fn default() -> Self {
        SeenIds::new(Duration::from_secs(86_400), 100_000)
    }
}

impl SeenIds {
    pub fn new(window: Duration, max: usize) -> Self {
        SeenIds {
            window_ms: window.as_millis() as u64,
            max: max.max(1),
            live: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    /// Remember `id` as seen at `now_ms`; false when it is already in the window (a duplicate).
    pub fn insert(&mut self, id: &str, now_ms: u64) -> bool {
        self.expire(now_ms);
        if self.live.contains_key(id) {
            return false;
        }
        while self.order.len() >= self.max {
            self.pop_front();
        }
        self.generation += 1;
        let id: Arc<str> = Arc::from(id);
        self.live.insert(id.clone(), self.generation);
        self.order.push_back((now_ms, self.generation, id));
        true
    }

    /// Forget `id`: it did not reach the broker, so a re-delivery must be decided again.
    pub fn remove(&mut self, id: &str) {
        self.live.remove(id);
    }

    /// Ids in the window now.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    fn expire(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(self.window_ms);
        while self.order.front().is_some_and(|(at, _, _)| *at < horizon) {
            self.pop_front();
        }
        // Forgotten ids' entries are dead weight: drop them when they dominate the queue.
        if self.order.len() > 2 * self.live.len() + 1_024 {
            let live = &self.live;
            self.order
                .retain(|(_, generation, id)| live.get(id) == Some(generation));
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, generation, id)) = self.order.pop_front() {
            if self.live.get(&id) == Some(&generation) {
                self.live.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_duplicate_while_in_the_window_and_new_again_after() {
        let mut seen = SeenIds::new(Duration::from_millis(100), 10);
        assert!(seen.insert("a", 1_000));
        assert!(!seen.insert("a", 1_100), "still inside the window");
        assert!(seen.insert("a", 1_101), "expired: decided afresh");
        seen.remove("a");
        assert!(seen.insert("a", 1_102), "forgotten: decided afresh");
        assert_eq!(seen.len(), 1);
    }

    #[test]
    fn the_count_bound_forgets_the_oldest_first_and_holds_with_forgotten_ids() {
        let mut seen = SeenIds::new(Duration::from_secs(86_400), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(seen.insert(id, 1));
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.insert("a", 1), "the oldest fell out");
        assert!(!seen.insert("c", 1) && !seen.insert("d", 1));
        // Forget and re-insert many times: the queue stays bounded, the re-inserted id stays known.
        for _ in 0..10_000 {
            seen.remove("d");
            assert!(seen.insert("d", 2));
        }
        assert!(seen.order.len() <= 3, "{}", seen.order.len());
        assert!(!seen.insert("d", 2));
    }
}
