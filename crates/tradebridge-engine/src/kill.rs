//! The kill switch: one flag that every order submission reads right before it is sent.
//!
//! Sources: `--kill-switch` (start engaged), SIGUSR1 / SIGUSR2, the authenticated HTTP routes on the
//! health port (latched: engaged until an explicit release), and `--kill-switch-file` (engaged while the
//! file exists; removing it is the release for that source). The switch is engaged while either source is.
//!
//! Why a gate and not just a flag: a submission that read "not engaged" a microsecond before the switch
//! flipped would still reach the broker *after* the engage instant. So each send attempt holds the gate
//! from the moment it reads the flag until the broker's answer is read, and engaging takes the gate once
//! after raising the flag. The engage instant recorded is therefore one after which no order of this
//! engine can reach the broker: every attempt either finished before it or sees the flag and is not sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Who changed the switch, for logs and `/health` (`kill_switch_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--kill-switch` at start-up.
    Flag,
    /// SIGUSR1 (engage) / SIGUSR2 (release).
    Signal,
    /// `POST /kill-switch/engage` / `POST /kill-switch/release` on the health port.
    Http,
    /// `--kill-switch-file` appeared / was removed.
    File,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Signal => "signal",
            Source::Http => "http",
            Source::File => "file",
        }
    }
}

/// What a change of the switch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The switch is engaged after the change.
    pub engaged: bool,
    /// The change flipped the switch (an engage of an engaged switch is not a transition).
    pub transition: bool,
    /// Wall-clock µs of the last engage (0: never engaged).
    pub engaged_at_us: u64,
}

#[derive(Debug, Default)]
struct Sources {
    latched: bool,
    file: bool,
    last: Option<Source>,
}

#[derive(Debug, Default)]
struct Inner {
    /// What submissions read: `latched || file`.
    engaged: AtomicBool,
    /// Held (shared) by each send attempt from its flag check until its answer; taken exclusively once by
    /// each engage. Shared, so concurrent submissions do not queue behind each other's round trips.
    gate: RwLock<()>,
    /// Serializes changes, so two sources flipping at once agree on the transition.
    sources: Mutex<Sources>,
    engaged_at_us: AtomicU64,
    requested_at_us: AtomicU64,
    released_at_us: AtomicU64,
    engagements: AtomicU64,
    /// Set by each engage, taken by the main loop to run the on-engage actions (cancel, flatten).
    actions_due: AtomicBool,
    /// Set by each release, taken by the main loop to reload exposure before trading again.
    resync_due: AtomicBool,
}

/// A cheap handle on the shared switch (clone it into signal handlers and HTTP routes).
#[derive(Clone, Debug, Default)]
pub struct KillSwitch {
    inner: Arc<Inner>,
}

/// Permission to send one attempt; the switch cannot finish engaging while it is held.
pub type Permit<'a> = RwLockReadGuard<'a, ()>;

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KillSwitch {
    pub fn new() -> Self {
        KillSwitch::default()
    }

    /// Read by the risk check (to refuse with `kill_switch`) and, through [`KillSwitch::permit`], by
    /// every send attempt.
    pub fn engaged(&self) -> bool {
        self.inner.engaged.load(Ordering::SeqCst)
    }

    /// Taken right before a send attempt and held until its answer is read: `None` when engaged.
    pub fn permit(&self) -> Option<Permit<'_>> {
        let permit = self
            .inner
            .gate
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (!self.engaged()).then_some(permit)
    }

    /// Engage (latched until [`KillSwitch::release`]). Blocks until an attempt in flight has its answer:
    /// call it off the async runtime's workers (`spawn_blocking`).
    pub fn engage(&self, source: Source) -> Change {
        self.change(source, |s| s.latched = true)
    }

    /// Release the latch (an explicit act). The switch stays engaged while the kill file exists.
    pub fn release(&self, source: Source) -> Change {
        self.change(source, |s| s.latched = false)
    }

    /// The kill file's presence, as seen by the watcher.
    pub fn set_file(&self, present: bool) -> Change {
        self.change(Source::File, |s| s.file = present)
    }

    fn change(&self, source: Source, apply: impl FnOnce(&mut Sources)) -> Change {
        let requested = now_us();
        let inner = &self.inner;
        let mut sources = lock(&inner.sources);
        let was = sources.latched || sources.file;
        apply(&mut sources);
        let engaged = sources.latched || sources.file;
        if engaged && !was {
            sources.last = Some(source);
            inner.engaged.store(true, Ordering::SeqCst);
            // Wait out the attempts in flight, if any: from here on, none can start.
            drop(inner.gate.write().unwrap_or_else(PoisonError::into_inner));
            inner.requested_at_us.store(requested, Ordering::SeqCst);
            inner.engaged_at_us.store(now_us(), Ordering::SeqCst);
            inner.engagements.fetch_add(1, Ordering::SeqCst);
            inner.actions_due.store(true, Ordering::SeqCst);
        } else if !engaged && was {
            sources.last = Some(source);
            inner.engaged.store(false, Ordering::SeqCst);
            inner.released_at_us.store(now_us(), Ordering::SeqCst);
            inner.resync_due.store(true, Ordering::SeqCst);
        }
        Change {
            engaged,
            transition: engaged != was,
            engaged_at_us: inner.engaged_at_us.load(Ordering::SeqCst),
        }
    }

    /// True once after each engage: the main loop runs the on-engage actions.
    pub fn take_actions_due(&self) -> bool {
        self.inner.actions_due.swap(false, Ordering::SeqCst)
    }

    /// True once after each release: the main loop reloads exposure before trading again.
    pub fn take_resync_due(&self) -> bool {
        self.inner.resync_due.swap(false, Ordering::SeqCst)
    }

    /// Whether the kill file is what holds the switch (a release over HTTP or SIGUSR2 cannot lift it).
    pub fn held_by_file(&self) -> bool {
        lock(&self.inner.sources).file
    }

    /// The source of the last transition (`none` before any).
    pub fn last_source(&self) -> &'static str {
        lock(&self.inner.sources)
            .last
            .map_or("none", Source::as_str)
    }

    /// Wall-clock µs of the last engage, after any attempt in flight ended (0: never engaged).
    pub fn engaged_at_us(&self) -> u64 {
        self.inner.engaged_at_us.load(Ordering::SeqCst)
    }

    /// Wall-clock µs at which the last engage was asked for (before waiting for an attempt in flight).
    pub fn requested_at_us(&self) -> u64 {
        self.inner.requested_at_us.load(Ordering::SeqCst)
    }

    pub fn released_at_us(&self) -> u64 {
        self.inner.released_at_us.load(Ordering::SeqCst)
    }

    pub fn engagements(&self) -> u64 {
        self.inner.engagements.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn latch_and_file_are_both_needed_off() {
        let kill = KillSwitch::new();
        assert!(kill.permit().is_some());
        let on = kill.engage(Source::Signal);
        assert!(on.engaged && on.transition && on.engaged_at_us > 0);
        assert!(kill.permit().is_none());
        assert!(!kill.engage(Source::Http).transition);
        kill.set_file(true);
        let off = kill.release(Source::Http);
        assert!(off.engaged && !off.transition, "the file still holds it");
        assert!(kill.held_by_file());
        let off = kill.set_file(false);
        assert!(!off.engaged && off.transition);
        assert!(kill.permit().is_some());
        assert_eq!(kill.engagements(), 1);
        assert!(kill.take_actions_due() && !kill.take_actions_due());
        assert!(kill.take_resync_due() && !kill.take_resync_due());
        assert_eq!(kill.last_source(), "file");
    }

    #[test]
    fn engaging_waits_for_the_attempt_in_flight() {
        let kill = KillSwitch::new();
        let (sent_tx, sent_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let sender = {
            let kill = kill.clone();
            thread::spawn(move || {
                let permit = kill.permit().expect("not engaged yet");
                sent_tx.send(()).unwrap();
                go_rx.recv().unwrap(); // "the broker's answer"
                let answered = now_us();
                drop(permit);
                answered
            })
        };
        sent_rx.recv().unwrap();
        let engager = {
            let kill = kill.clone();
            thread::spawn(move || kill.engage(Source::Http))
        };
        // The engager raised the flag but cannot record the instant while the attempt is in flight.
        while !kill.engaged() {
            thread::yield_now();
        }
        assert_eq!(kill.engaged_at_us(), 0);
        thread::sleep(Duration::from_millis(5));
        assert_eq!(kill.engaged_at_us(), 0);
        go_tx.send(()).unwrap();
        let answered = sender.join().unwrap();
        let change = engager.join().unwrap();
        assert!(change.engaged_at_us >= answered);
        assert!(kill.requested_at_us() <= change.engaged_at_us);
        assert!(kill.permit().is_none());
    }
}
