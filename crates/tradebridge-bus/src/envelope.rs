//! Access to the envelope fields (`seq`, `source`, `sent_at_us`) that the bus writes into every message.

use tradebridge_contracts::{
    BarUpdate, Framed, Heartbeat, Message, OrderUpdate, QuoteUpdate, Signal, TradeUpdate,
};

/// A bus message whose envelope the publisher can read and clear: every contract message and
/// [`Message`]. Implemented here so that publishing never needs to know the concrete type.
pub trait Envelope: Framed + Clone {
    fn seq(&self) -> Option<u64>;
    fn source(&self) -> Option<&str>;
    fn sent_at_us(&self) -> Option<u64>;
    /// Remove `seq`, `source` and `sent_at_us` (a republished message takes its new publisher's
    /// numbering and stamp, never two of one field).
    fn clear_envelope(&mut self);
}

macro_rules! envelope_of_struct {
    ($($name:ident),*) => {$(
        impl Envelope for $name {
            fn seq(&self) -> Option<u64> {
                self.seq
            }
            fn source(&self) -> Option<&str> {
                self.source.as_deref()
            }
            fn sent_at_us(&self) -> Option<u64> {
                self.sent_at_us
            }
            fn clear_envelope(&mut self) {
                self.seq = None;
                self.source = None;
                self.sent_at_us = None;
            }
        }
    )*};
}

envelope_of_struct!(
    BarUpdate,
    TradeUpdate,
    QuoteUpdate,
    Signal,
    OrderUpdate,
    Heartbeat
);

macro_rules! each_variant {
    ($message:expr, $inner:ident => $body:expr) => {
        match $message {
            Message::BarUpdate($inner) => $body,
            Message::TradeUpdate($inner) => $body,
            Message::QuoteUpdate($inner) => $body,
            Message::Signal($inner) => $body,
            Message::OrderUpdate($inner) => $body,
            Message::Heartbeat($inner) => $body,
        }
    };
}

impl Envelope for Message {
    fn seq(&self) -> Option<u64> {
        each_variant!(self, m => m.seq)
    }
    fn source(&self) -> Option<&str> {
        each_variant!(self, m => m.source.as_deref())
    }
    fn sent_at_us(&self) -> Option<u64> {
        each_variant!(self, m => m.sent_at_us)
    }
    fn clear_envelope(&mut self) {
        each_variant!(self, m => m.clear_envelope())
    }
}
