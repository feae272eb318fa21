//! The journal of accepted signals: what makes a restart idempotent.
//!
//! One JSON line per event, appended to a file (`--journal PATH`):
//! - `{"e":"accepted","signal_id":..,"client_order_id":..,"at_ms":..}` is written and fsync'd after the
//!   risk check approved a signal and *before* its order is sent. A signal whose id is in the journal
//!   (within `--journal-window-ms`) is refused as `duplicate` after a restart, without asking the broker.
//! - `{"e":"settled","signal_id":..,"placed":true|false}` follows the broker's answer: `placed: false`
//!   (never sent, or refused by the broker) forgets the id, so a re-delivered signal is tried again.
//!   Not fsync'd: an `accepted` line without its `settled` (killed in between, or the line lost) is
//!   resolved at start-up by asking the broker for the client order id ([`Journal::unsettled`]).
//!
//! Torn writes: a kill in the middle of an append leaves a last line without its newline; it is ignored
//! on load (the order it announced was not sent yet: the fsync precedes the send). Any other unreadable
//! line is [`JournalError::Corrupt`]: the engine refuses to start rather than lose its memory silently.
//! Compaction (at open, and when the file holds many more lines than live entries) rewrites the live
//! entries into a temporary file, fsyncs it and renames it over the journal.
//!
//! Bounded: entries live for the window (`--journal-window-ms`) and at most `max_entries` of them
//! (`--idempotency-max-ids`), the oldest settled ones forgotten first, so memory and the file's size
//! (at most about twice the live lines plus the compaction slack) do not grow with the run's length.
//! An entry forgotten early only loses the journal's own refusal: a re-delivery of that signal reaches
//! the broker, which refuses its repeated client order id (counted `duplicates_from_broker`).

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why the journal cannot be used; [`JournalError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path}: line {line} is not a journal record: {detail}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

impl JournalError {
    pub fn code(&self) -> &'static str {
        match self {
            JournalError::Io { .. } => "journal_io",
            JournalError::Corrupt { .. } => "journal_corrupt",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
enum Record {
    Accepted {
        signal_id: String,
        client_order_id: String,
        at_ms: u64,
    },
    Settled {
        signal_id: String,
        placed: bool,
    },
}

/// A signal the journal remembers.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub client_order_id: String,
    pub at_ms: u64,
    /// The broker's answer was recorded (`placed: true`); unsettled entries are checked at start-up.
    pub settled: bool,
}

/// What loading found, for the start-up log and `/health`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    pub entries: usize,
    pub unsettled: usize,
    /// A last line cut short by a kill, ignored.
    pub torn_tail: bool,
    /// Entries dropped: older than the window, or the oldest settled ones beyond the count bound.
    pub expired: usize,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    window: Duration,
    max_entries: usize,
    entries: HashMap<String, Entry>,
    /// (accepted at ms, signal id), oldest first: who is forgotten first past `max_entries`. Holds
    /// entries already settled `placed: false` until they reach the front or are swept.
    order: VecDeque<(u64, String)>,
    lines: usize,
    appends: u64,
    /// Entries forgotten for the count bound since start-up.
    evicted: u64,
}

/// Rewrite once the file holds this many lines more than twice the live entries.
const COMPACT_SLACK: usize = 10_000;

impl Journal {
    /// Load `path` (created if missing, parent folders too), drop what is older than `window` as of
    /// `now_ms` and the oldest settled entries beyond `max_entries`, and compact it.
    pub fn open(
        path: &Path,
        window: Duration,
        max_entries: usize,
        now_ms: u64,
    ) -> Result<(Self, LoadReport), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut report = LoadReport::default();
        let mut entries = HashMap::new();
        match File::open(path) {
            Ok(file) => read_records(path, file, &mut entries, &mut report)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let before = entries.len();
        let horizon = now_ms.saturating_sub(window.as_millis() as u64);
        entries.retain(|_, e: &mut Entry| e.at_ms >= horizon);
        let mut order: Vec<(u64, String)> = entries
            .iter()
            .map(|(id, e)| (e.at_ms, id.clone()))
            .collect();
        order.sort();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let mut journal = Journal {
            path: path.to_owned(),
            file,
            window,
            max_entries: max_entries.max(1),
            entries,
            order: order.into(),
            lines: 0,
            appends: 0,
            evicted: 0,
        };
        journal.evict();
        report.expired = before - journal.entries.len();
        report.entries = journal.entries.len();
        report.unsettled = journal.entries.values().filter(|e| !e.settled).count();
        journal.compact()?;
        Ok((journal, report))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records appended since start-up.
    pub fn appends(&self) -> u64 {
        self.appends
    }

    /// Settled entries forgotten for the count bound since start-up.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The entry of `signal_id`, if accepted within the window as of `now_ms`.
    pub fn known(&self, signal_id: &str, now_ms: u64) -> Option<&Entry> {
        let horizon = now_ms.saturating_sub(self.window.as_millis() as u64);
        self.entries.get(signal_id).filter(|e| e.at_ms >= horizon)
    }

    /// Accepted entries whose broker answer is not recorded: (signal id, client order id).
    pub fn unsettled(&self) -> Vec<(String, String)> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.settled)
            .map(|(id, e)| (id.clone(), e.client_order_id.clone()))
            .collect();
        out.sort();
        out
    }

    /// Record an accepted signal, durably (fsync) before its order may be sent.
    pub fn accept(
        &mut self,
        signal_id: &str,
        client_order_id: &str,
        now_ms: u64,
    ) -> Result<(), JournalError> {
        self.append(
            &Record::Accepted {
                signal_id: signal_id.to_owned(),
                client_order_id: client_order_id.to_owned(),
                at_ms: now_ms,
            },
            true,
        )?;
        self.entries.insert(
            signal_id.to_owned(),
            Entry {
                client_order_id: client_order_id.to_owned(),
                at_ms: now_ms,
                settled: false,
            },
        );
        self.order.push_back((now_ms, signal_id.to_owned()));
        self.evict();
        Ok(())
    }

    /// Past `max_entries`, forget the oldest settled entries (an unsettled one is an order in flight:
    /// it stays until its answer, or the next start-up's lookup, settles it). Also sweeps the queue of
    /// ids already forgotten once they outnumber the live ones.
    fn evict(&mut self) {
        let mut unsettled = Vec::new();
        while self.entries.len() > self.max_entries {
            let Some((at_ms, id)) = self.order.pop_front() else {
                break;
            };
            match self.entries.get(&id) {
                Some(e) if e.at_ms == at_ms && e.settled => {
                    self.entries.remove(&id);
                    self.evicted += 1;
                }
                Some(e) if e.at_ms == at_ms => unsettled.push((at_ms, id)),
                _ => {}
            }
        }
        for kept in unsettled.into_iter().rev() {
            self.order.push_front(kept);
        }
        if self.order.len() > 2 * self.entries.len() + 1_024 {
            let entries = &self.entries;
            self.order
                .retain(|(at, id)| entries.get(id).is_some_and(|e| e.at_ms == *at));
        }
    }

    /// Record the broker's answer: `placed: false` forgets the signal (it may be delivered again).
    pub fn settle(
        &mut self,
        signal_id: &str,
        placed: bool,
        now_ms: u64,
    ) -> Result<(), JournalError> {
        if !self.entries.contains_key(signal_id) {
            return Ok(());
        }
        self.append(
            &Record::Settled {
                signal_id: signal_id.to_owned(),
                placed,
            },
            false,
        )?;
        if placed {
            if let Some(entry) = self.entries.get_mut(signal_id) {
                entry.settled = true;
            }
        } else {
            self.entries.remove(signal_id);
        }
        if self.lines > 2 * self.entries.len() + COMPACT_SLACK {
            let horizon = now_ms.saturating_sub(self.window.as_millis() as u64);
            self.entries.retain(|_, e| e.at_ms >= horizon);
            let entries = &self.entries;
            self.order
                .retain(|(at, id)| entries.get(id).is_some_and(|e| e.at_ms == *at));
            self.compact()?;
        }
        Ok(())
    }

    /// Flush what the OS holds (shutdown): `settled` lines are not fsync'd one by one.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|source| self.io(source))
    }

    fn append(&mut self, record: &Record, durable: bool) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.io(e.into()))?;
        line.push(b'\n');
        // One write per line: with O_APPEND a line is never interleaved with another one.
        self.file
            .write_all(&line)
            .map_err(|source| self.io(source))?;
        if durable {
            self.file.sync_data().map_err(|source| self.io(source))?;
        }
        self.lines += 1;
        self.appends += 1;
        Ok(())
    }

    fn compact(&mut self) -> Result<(), JournalError> {
        let tmp = self.path.with_extension("compacting");
        let mut ordered: Vec<_> = self.entries.iter().collect();
        ordered.sort_by(|a, b| (a.1.at_ms, a.0).cmp(&(b.1.at_ms, b.0)));
        let mut text = Vec::new();
        for (id, entry) in &ordered {
            let mut records = vec![Record::Accepted {
                signal_id: (*id).clone(),
                client_order_id: entry.client_order_id.clone(),
                at_ms: entry.at_ms,
            }];
            if entry.settled {
                records.push(Record::Settled {
                    signal_id: (*id).clone(),
                    placed: true,
                });
            }
            for record in records {
                serde_json::to_writer(&mut text, &record).map_err(|e| self.io(e.into()))?;
                text.push(b'\n');
            }
        }
        let written = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            // The rename itself must survive a crash: sync the folder that holds the name.
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                File::open(parent)?.sync_all()?;
            }
            OpenOptions::new().append(true).open(&self.path)
        })();
        self.file = written.map_err(|source| self.io(source))?;
        self.lines = ordered.len() + ordered.iter().filter(|(_, e)| e.settled).count();
        Ok(())
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

fn read_records(
    path: &Path,
    file: File,
    entries: &mut HashMap<String, Entry>,
    report: &mut LoadReport,
) -> Result<(), JournalError> {
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| JournalError::Io {
                path: path.to_owned(),
                source,
            })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(body) {
            Ok(_) if !complete => report.torn_tail = true,
            Ok(Record::Accepted {
                signal_id,
                client_order_id,
                at_ms,
            }) => {
                entries.insert(
                    signal_id,
                    Entry {
                        client_order_id,
                        at_ms,
                        settled: false,
                    },
                );
            }
            Ok(Record::Settled { signal_id, placed }) => {
                if placed {
                    if let Some(entry) = entries.get_mut(&signal_id) {
                        entry.settled = true;
                    }
                } else {
                    entries.remove(&signal_id);
                }
            }
            // Only the last line can be cut short by a kill: it has no newline.
            Err(_) if !complete => report.torn_tail = true,
            Err(error) => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    line: number,
                    detail: error.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);
    const MAX: usize = 1_000_000;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tb-journal-{name}-{}-{}",
            std::process::id(),
            crate::kill::now_us()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn accepted_ids_survive_a_reopen_and_refused_ones_are_forgotten() {
        let dir = folder("reopen");
        let path = dir.join("state/engine.journal");
        let (mut j, report) = Journal::open(&path, DAY, MAX, 1_000).unwrap();
        assert_eq!(report, LoadReport::default());
        j.accept("s-1", "tb-s-1", 1_000).unwrap();
        j.accept("s-2", "tb-s-2", 1_001).unwrap();
        j.accept("s-3", "tb-s-3", 1_002).unwrap();
        j.settle("s-1", true, 1_003).unwrap();
        j.settle("s-2", false, 1_003).unwrap();
        drop(j);
        let (j, report) = Journal::open(&path, DAY, MAX, 2_000).unwrap();
        assert_eq!((report.entries, report.unsettled), (2, 1));
        assert!(j.known("s-1", 2_000).unwrap().settled);
        assert!(j.known("s-2", 2_000).is_none());
        assert_eq!(j.unsettled(), vec![("s-3".into(), "tb-s-3".into())]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_corrupt_one_refused() {
        let dir = folder("torn");
        let path = dir.join("engine.journal");
        let (mut j, _) = Journal::open(&path, DAY, MAX, 1_000).unwrap();
        j.accept("s-1", "tb-s-1", 1_000).unwrap();
        drop(j);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"e":"accepted","signal_id":"s-2","client_or"#)
            .unwrap();
        drop(file);
        let (j, report) = Journal::open(&path, DAY, MAX, 1_000).unwrap();
        assert!(report.torn_tail);
        assert_eq!(j.len(), 1);
        assert!(j.known("s-2", 1_000).is_none());
        drop(j);
        // Compaction at open removed the torn line: a clean reopen.
        let (_, report) = Journal::open(&path, DAY, MAX, 1_000).unwrap();
        assert!(!report.torn_tail);

        std::fs::write(
            &path,
            "{\"e\":\"what\"}\n{\"e\":\"settled\",\"signal_id\":\"x\",\"placed\":true}\n",
        )
        .unwrap();
        let error = Journal::open(&path, DAY, MAX, 1_000).unwrap_err();
        assert_eq!(error.code(), "journal_corrupt");
        assert!(error.to_string().contains("line 1"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_window_expires_entries_and_compaction_keeps_the_file_small() {
        let dir = folder("window");
        let path = dir.join("engine.journal");
        let window = Duration::from_millis(100);
        let (mut j, _) = Journal::open(&path, window, MAX, 1_000).unwrap();
        j.accept("old", "tb-old", 1_000).unwrap();
        j.settle("old", true, 1_000).unwrap();
        assert!(j.known("old", 1_100).is_some());
        assert!(j.known("old", 1_101).is_none());
        for i in 0..(COMPACT_SLACK + 10) {
            let id = format!("n-{i}");
            j.accept(&id, &format!("tb-{id}"), 5_000).unwrap();
            j.settle(&id, false, 5_000).unwrap();
        }
        assert!(j.lines < COMPACT_SLACK, "{}", j.lines);
        drop(j);
        let (j, report) = Journal::open(&path, window, MAX, 5_000).unwrap();
        assert_eq!((j.len(), report.expired), (0, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().count() < COMPACT_SLACK);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_count_bound_forgets_the_oldest_settled_entries_and_keeps_unsettled_ones() {
        let dir = folder("bound");
        let path = dir.join("engine.journal");
        let (mut j, _) = Journal::open(&path, DAY, 3, 1_000).unwrap();
        j.accept("in-flight", "tb-in-flight", 1_000).unwrap();
        for i in 0..5u64 {
            let id = format!("s-{i}");
            j.accept(&id, &format!("tb-{id}"), 1_001 + i).unwrap();
            j.settle(&id, true, 1_001 + i).unwrap();
        }
        // The oldest entry is unsettled (its order is on its way): it stays; the oldest settled go.
        assert_eq!(j.len(), 3);
        assert_eq!(j.evicted(), 3);
        assert!(j.known("in-flight", 2_000).is_some());
        assert!(j.known("s-2", 2_000).is_none());
        assert!(j.known("s-3", 2_000).unwrap().settled && j.known("s-4", 2_000).unwrap().settled);
        // Forgotten ids do not pile up in the age queue either.
        for i in 0..5_000u64 {
            let id = format!("r-{i}");
            j.accept(&id, &format!("tb-{id}"), 3_000).unwrap();
            j.settle(&id, false, 3_000).unwrap();
        }
        assert!(j.order.len() <= 2 * j.len() + 1_024, "{}", j.order.len());
        assert_eq!(j.len(), 2, "the first refused accept evicted s-3");
        drop(j);
        // A reopen with a smaller bound applies it at once (the unsettled entry still stays).
        let (j, report) = Journal::open(&path, DAY, 1, 4_000).unwrap();
        assert_eq!((j.len(), report.expired, report.unsettled), (1, 1, 1));
        assert!(j.known("in-flight", 4_000).is_some() && j.known("s-4", 4_000).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
