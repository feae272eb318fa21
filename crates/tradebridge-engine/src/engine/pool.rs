//! The submission workers: a few threads that send approved orders to the broker, fed by a bounded
//! queue, so a submission waiting out a rate limit (up to its retry budget) holds one worker, not the
//! main loop. The main loop is the only producer and counts what it handed out, so "full" is known
//! before a signal is approved ([`Pool::has_room`]) and the exposure is never reserved for nothing.
//!
//! One lane per worker, chosen by symbol: the orders of one symbol are sent in the order of their
//! signals (a strategy's buy-then-sell stays so), different symbols go out side by side.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::submit::{deliver, Delivery, RateGate, Submission};
use crate::broker::BrokerClient;
use crate::kill::KillSwitch;

pub struct Pool {
    lanes: Vec<Sender<Box<Submission>>>,
    results: Receiver<(Box<Submission>, Delivery)>,
    in_flight: usize,
    capacity: usize,
}

impl Pool {
    /// `workers` threads (at least 1); at most `workers + queue` submissions handed out at once.
    pub fn start(
        workers: usize,
        queue: usize,
        broker: Arc<BrokerClient>,
        kill: KillSwitch,
        gate: RateGate,
    ) -> std::io::Result<Self> {
        let gate = Arc::new(gate);
        let workers = workers.max(1);
        let (outbox, results) = mpsc::channel();
        let mut lanes = Vec::with_capacity(workers);
        for n in 0..workers {
            let (lane, inbox) = mpsc::channel::<Box<Submission>>();
            let (outbox, broker, kill, gate) =
                (outbox.clone(), broker.clone(), kill.clone(), gate.clone());
            std::thread::Builder::new()
                .name(format!("submit-{n}"))
                .spawn(move || {
                    for job in inbox {
                        let delivery = deliver(&broker, &kill, Some(&gate), &job);
                        if outbox.send((job, delivery)).is_err() {
                            return;
                        }
                    }
                })?;
            lanes.push(lane);
        }
        Ok(Pool {
            lanes,
            results,
            in_flight: 0,
            capacity: workers + queue,
        })
    }

    /// One more submission can be handed out now.
    pub fn has_room(&self) -> bool {
        !self.lanes.is_empty() && self.in_flight < self.capacity
    }

    /// Submissions handed out and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Hand out one submission. Call only when [`Pool::has_room`].
    pub fn submit(&mut self, job: Box<Submission>) {
        if self.lanes.is_empty() {
            return;
        }
        let mut hasher = DefaultHasher::new();
        job.request.symbol.hash(&mut hasher);
        let lane = (hasher.finish() % self.lanes.len() as u64) as usize;
        if self.lanes[lane].send(job).is_ok() {
            self.in_flight += 1;
        }
    }

    /// The answers received so far, without waiting.
    pub fn answered(&mut self) -> Vec<(Submission, Delivery)> {
        let done: Vec<_> = self.results.try_iter().collect();
        self.in_flight -= done.len();
        done.into_iter().map(|(job, d)| (*job, d)).collect()
    }

    /// Shutdown: take no more submissions, and wait until `deadline` for the answers still due. What is
    /// not answered by then is left to the next start (its journal entry is looked up at the broker).
    pub fn drain(&mut self, deadline: Instant) -> Vec<(Submission, Delivery)> {
        self.lanes.clear();
        let mut done = Vec::new();
        while self.in_flight > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .results
                .recv_timeout(left.max(Duration::from_millis(1)))
            {
                Ok((job, delivery)) => {
                    self.in_flight -= 1;
                    done.push((*job, delivery));
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => break,
            }
        }
        done
    }
}
