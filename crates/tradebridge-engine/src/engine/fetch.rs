//! Broker reads off the main loop: latest quotes, order-status polls, cancels, the exposure load, the
//! reconciliation after a trade-stream connect and the kill switch's account actions run on a few reader
//! threads, so a slow broker (a 2 s quote, a hung poll) never stops the loop from reading signals,
//! answering SIGTERM or refreshing `/health`.
//!
//! The main loop asks ([`Fetcher::ask`]) and later folds the answers in ([`Fetcher::answers`]); the
//! engine's state is only ever changed on the loop thread. The queue is bounded (asks handed out and not
//! yet answered): a full queue is the caller's to count. Two priorities: what a decision waits on
//! (quotes, the exposure load, the kill switch's actions) goes before routine upkeep (polls, cancels),
//! so a backlog of polls to a slow broker does not delay the price a signal is held for.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::broker::{BrokerClient, BrokerError, BrokerOrder, BrokerPosition};

/// One read (or account action) for a reader thread.
#[derive(Debug)]
pub(super) enum Ask {
    Quote(String),
    /// `GET /v2/orders/{id}`.
    Order(String),
    Cancel(String),
    /// The journal's unsettled entries (signal id, client order id) looked up by client order id, then
    /// the open orders and positions.
    Load(Vec<(String, String)>),
    /// After a trade-stream connect: the open orders, then each of these order ids not among them.
    Reconcile(Vec<String>),
    CancelAll,
    Flatten,
}

impl Ask {
    fn urgent(&self) -> bool {
        !matches!(self, Ask::Order(_) | Ask::Cancel(_))
    }
}

/// What the exposure load found.
#[derive(Debug)]
pub(super) struct Loaded {
    /// Unsettled journal entries looked up: (signal id, client order id, at the broker).
    pub journal: Vec<(String, String, bool)>,
    /// The positions and open orders, or why they (or a journal lookup) could not be read.
    pub exposure: Result<(Vec<BrokerPosition>, Vec<BrokerOrder>), String>,
    /// A broker failure to record (degraded health), if any.
    pub failure: Option<BrokerError>,
}

/// Each followed order's state after a reconciliation (or why it could not be read), or why the open
/// orders could not be listed.
pub(super) type Reconciled = Result<Vec<(String, Result<BrokerOrder, BrokerError>)>, BrokerError>;

#[derive(Debug)]
pub(super) enum Answer {
    Quote(String, Result<Option<f64>, BrokerError>),
    Order(String, Result<BrokerOrder, BrokerError>),
    Cancel(String, Result<(), BrokerError>),
    Load(Loaded),
    Reconcile(Reconciled),
    CancelAll(Result<usize, BrokerError>),
    Flatten(Result<usize, BrokerError>),
}

#[derive(Default)]
struct Queue {
    urgent: VecDeque<Ask>,
    routine: VecDeque<Ask>,
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

pub(super) struct Fetcher {
    shared: Shared,
    answers: Receiver<Answer>,
    /// Asks handed out and not answered yet (queued or on a reader).
    pending: usize,
    capacity: usize,
}

impl Fetcher {
    /// `readers` threads (at least 1); at most `capacity` asks pending at once.
    pub fn start(broker: Arc<BrokerClient>, readers: usize, capacity: usize) -> Self {
        let shared: Shared = Arc::default();
        let (outbox, answers) = mpsc::channel();
        for n in 0..readers.max(1) {
            let (shared, outbox, broker) = (shared.clone(), outbox.clone(), broker.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("broker-read-{n}"))
                .spawn(move || read(&shared, &outbox, &broker));
            if let Err(error) = spawned {
                // Fewer readers is slower, not wrong; none at all is caught by `has_readers`.
                tracing::error!(%error, "cannot start a broker reader thread");
            }
        }
        Fetcher {
            shared,
            answers,
            pending: 0,
            capacity: capacity.max(1),
        }
    }

    /// Hand `ask` to a reader; false (nothing asked) when the queue is full.
    pub fn ask(&mut self, ask: Ask) -> bool {
        if self.pending >= self.capacity {
            return false;
        }
        let (lock, wake) = &*self.shared;
        let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if ask.urgent() {
            queue.urgent.push_back(ask);
        } else {
            queue.routine.push_back(ask);
        }
        drop(queue);
        wake.notify_one();
        self.pending += 1;
        true
    }

    /// Asks not answered yet.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The answers received so far, without waiting.
    pub fn answers(&mut self) -> Vec<Answer> {
        let done: Vec<Answer> = self.answers.try_iter().collect();
        self.pending = self.pending.saturating_sub(done.len());
        done
    }
}

impl Drop for Fetcher {
    /// Readers waiting for work stop; one in the middle of a request finishes it and then stops (the
    /// process does not wait for it).
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        wake.notify_all();
    }
}

fn read(shared: &Shared, outbox: &Sender<Answer>, broker: &BrokerClient) {
    let (lock, wake) = &**shared;
    loop {
        let ask = {
            let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if queue.closed {
                    return;
                }
                if let Some(ask) = queue
                    .urgent
                    .pop_front()
                    .or_else(|| queue.routine.pop_front())
                {
                    break ask;
                }
                queue = wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
            }
        };
        if outbox.send(answer(broker, ask)).is_err() {
            return;
        }
    }
}

fn answer(broker: &BrokerClient, ask: Ask) -> Answer {
    match ask {
        Ask::Quote(symbol) => {
            let quote = broker.latest_quote(&symbol);
            Answer::Quote(symbol, quote)
        }
        Ask::Order(id) => {
            let order = broker.get(&id);
            Answer::Order(id, order)
        }
        Ask::Cancel(id) => {
            let done = broker.cancel(&id);
            Answer::Cancel(id, done)
        }
        Ask::Load(unsettled) => Answer::Load(load(broker, unsettled)),
        Ask::Reconcile(followed) => Answer::Reconcile(reconcile(broker, followed)),
        Ask::CancelAll => Answer::CancelAll(broker.cancel_all()),
        Ask::Flatten => Answer::Flatten(broker.close_all_positions()),
    }
}

/// The journal's unsettled entries first (which of them reached the broker decides what a re-delivered
/// signal does), then the exposure. Open orders are read before and after the positions; a fill in
/// between would count twice or not at all, so the load is repeated until both reads agree.
fn load(broker: &BrokerClient, unsettled: Vec<(String, String)>) -> Loaded {
    let mut journal = Vec::new();
    for (signal_id, client_order_id) in unsettled {
        let placed = match broker.get_by_client_order_id(&client_order_id) {
            Ok(_) => true,
            Err(BrokerError::Rejected { status: 404, .. }) => false,
            Err(error) => {
                return Loaded {
                    journal,
                    exposure: Err(format!(
                        "cannot check journal entry {client_order_id} at the broker: {error}"
                    )),
                    failure: Some(error),
                }
            }
        };
        journal.push((signal_id, client_order_id, placed));
    }
    match exposure(broker) {
        Ok(both) => Loaded {
            journal,
            exposure: Ok(both),
            failure: None,
        },
        Err(error) => Loaded {
            journal,
            exposure: Err(error.to_string()),
            failure: Some(error),
        },
    }
}

fn exposure(broker: &BrokerClient) -> Result<(Vec<BrokerPosition>, Vec<BrokerOrder>), BrokerError> {
    const ATTEMPTS: usize = 5;
    let mut before = broker.open_orders()?;
    for _ in 0..ATTEMPTS {
        let positions = broker.positions()?;
        let after = broker.open_orders()?;
        if same_orders(&before, &after) {
            return Ok((positions, after));
        }
        before = after;
    }
    Err(BrokerError::Protocol(format!(
        "open orders kept changing during {ATTEMPTS} loads of the exposure"
    )))
}

/// The open orders, and each followed order no longer among them (it reached a final state meanwhile)
/// looked up by id.
fn reconcile(broker: &BrokerClient, followed: Vec<String>) -> Reconciled {
    let listed = broker.open_orders()?;
    let mut by_id: std::collections::HashMap<String, BrokerOrder> =
        listed.into_iter().map(|o| (o.id.clone(), o)).collect();
    Ok(followed
        .into_iter()
        .map(|id| {
            let fresh = match by_id.remove(&id) {
                Some(order) => Ok(order),
                None => broker.get(&id),
            };
            (id, fresh)
        })
        .collect())
}

/// Two reads of the open orders agree: the same orders with the same fills.
fn same_orders(a: &[BrokerOrder], b: &[BrokerOrder]) -> bool {
    let key = |orders: &[BrokerOrder]| {
        let mut k: Vec<(String, u64)> = orders
            .iter()
            .map(|o| (o.id.clone(), o.filled().to_bits()))
            .collect();
        k.sort();
        k
    };
    key(a) == key(b)
}
