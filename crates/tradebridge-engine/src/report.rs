//! What the engine shows of itself: the `/health` metrics and status, and the counters `/metrics` exports
//! (`tradebridge_<name>_total{source="engine"}`), refreshed by the main loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;
use tradebridge_health::{HealthCheck, HealthStatus, OPERATIONAL_MESSAGE};

use crate::engine::Engine;
use crate::service::Bus;

/// Counter snapshot shared with the `/metrics` renderer.
pub type Exported = Arc<std::sync::Mutex<Vec<(&'static str, u64)>>>;

pub fn lock(exported: &Exported) -> std::sync::MutexGuard<'_, Vec<(&'static str, u64)>> {
    exported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every counter of the engine and of its broker client, each refusal reason by name (zeros included):
/// `tradebridge_<name>_total{source="engine"}` in `/metrics`, `engine_<name>` in `/health`.
pub fn export_counters(engine: &Engine, exported: &Exported) {
    let c = engine.counters();
    let book = engine.book();
    let mut out = vec![
        ("signals_received", c.signals_received),
        ("orders_submitted", c.orders_submitted),
        ("orders_acknowledged", c.orders_acknowledged),
        ("orders_filled", c.orders_filled),
        ("orders_final_unfilled", c.orders_final_unfilled),
        ("orders_lookup_failed", c.orders_lookup_failed),
        ("fills", c.fills),
        ("order_updates", c.order_updates),
        ("broker_errors", c.broker_errors),
        ("refused_total", book.refused_total()),
        ("orders_halted", c.orders_halted),
        (
            "kill_switch_engagements",
            engine.kill_switch().engagements(),
        ),
        ("kill_switch_orders_canceled", c.kill_switch_orders_canceled),
        (
            "kill_switch_positions_flattened",
            c.kill_switch_positions_flattened,
        ),
        ("quote_requests", c.quote_requests),
        ("quote_errors", c.quote_errors),
        ("exposure_syncs", c.exposure_syncs),
        ("exposure_sync_failures", c.exposure_sync_failures),
        ("order_polls", c.order_polls),
        ("poll_fallback", c.poll_fallback),
        ("safety_polls", c.safety_polls),
        ("updates_from_stream", c.updates_from_stream),
        ("updates_from_poll", c.updates_from_poll),
        ("updates_from_reconcile", c.updates_from_reconcile),
        ("stream_events", c.stream_events),
        ("stream_events_stale", c.stream_events_stale),
        ("stream_events_malformed", c.stream_events_malformed),
        ("stream_connects", c.stream_connects),
        ("stream_disconnects", c.stream_disconnects),
        ("stream_reconciles", c.stream_reconciles),
        ("stream_reconcile_failures", c.stream_reconcile_failures),
    ];
    out.extend(off_loop_counters(engine));
    out.extend(restart_counters(engine));
    out.extend(
        book.refusal_counts()
            .iter()
            .map(|(reason, n)| (reason.metric_name(), *n)),
    );
    out.extend(engine.broker().stats().snapshot());
    *lock(exported) = out;
}

pub fn refresh_health(engine: &Engine, bus: &mut Bus, health: &Arc<RwLock<HealthCheck>>) {
    let c = engine.counters();
    let book = engine.book();
    let mut h = health.blocking_write();
    h.set_metric("signals_received", c.signals_received);
    h.set_metric("orders_submitted", c.orders_submitted);
    h.set_metric("orders_acknowledged", c.orders_acknowledged);
    h.set_metric("orders_filled", c.orders_filled);
    h.set_metric("orders_final_unfilled", c.orders_final_unfilled);
    h.set_metric("orders_open", engine.open_orders());
    h.set_metric("fills", c.fills);
    h.set_metric("filled_shares", c.filled_shares);
    h.set_metric("order_updates", c.order_updates);
    h.set_metric("refused_total", book.refused_total());
    // Every reason is listed, zeros included, so dashboards see them all from the start.
    for (reason, n) in book.refusal_counts() {
        h.set_metric(format!("refused_{}", reason.as_str()), n);
    }
    let kill = engine.kill_switch();
    h.set_metric("kill_switch", kill.engaged());
    h.set_metric("kill_switch_source", kill.last_source());
    h.set_metric("kill_switch_held_by_file", kill.held_by_file());
    h.set_metric("kill_switch_engaged_at_us", kill.engaged_at_us());
    h.set_metric("kill_switch_requested_at_us", kill.requested_at_us());
    h.set_metric("kill_switch_released_at_us", kill.released_at_us());
    h.set_metric("kill_switch_engagements", kill.engagements());
    h.set_metric("kill_switch_orders_canceled", c.kill_switch_orders_canceled);
    h.set_metric(
        "kill_switch_positions_flattened",
        c.kill_switch_positions_flattened,
    );
    h.set_metric("orders_halted", c.orders_halted);
    h.set_metric("exposure_synced", engine.is_synced());
    h.set_metric("exposure_syncs", c.exposure_syncs);
    h.set_metric("exposure_sync_failures", c.exposure_sync_failures);
    h.set_metric("open_orders_loaded", c.open_orders_loaded);
    for (name, value) in restart_counters(engine)
        .into_iter()
        .chain(off_loop_counters(engine))
    {
        h.set_metric(name, value);
    }
    h.set_metric("quote_requests", c.quote_requests);
    h.set_metric("quote_errors", c.quote_errors);
    h.set_metric("trade_stream_up", engine.stream_up());
    for (name, value) in [
        ("order_polls", c.order_polls),
        ("poll_fallback", c.poll_fallback),
        ("safety_polls", c.safety_polls),
        ("updates_from_stream", c.updates_from_stream),
        ("updates_from_poll", c.updates_from_poll),
        ("updates_from_reconcile", c.updates_from_reconcile),
        ("stream_events", c.stream_events),
        ("stream_events_stale", c.stream_events_stale),
        ("stream_events_malformed", c.stream_events_malformed),
        ("stream_connects", c.stream_connects),
        ("stream_disconnects", c.stream_disconnects),
        ("stream_reconciles", c.stream_reconciles),
        ("stream_reconcile_failures", c.stream_reconcile_failures),
    ] {
        h.set_metric(name, value);
    }
    h.set_metric("allow_signal_price", book.limits().allow_signal_price);
    let mut pending: Vec<_> = book.pending_all().iter().collect();
    pending.sort_by(|a, b| a.0.cmp(b.0));
    let text: Vec<String> = pending.iter().map(|(s, q)| format!("{s}:{q}")).collect();
    h.set_metric("pending", text.join(","));
    for (name, value) in bus.stats() {
        h.set_metric(name, value);
    }
    let mut positions: Vec<_> = book
        .positions()
        .iter()
        .filter(|(_, q)| **q != 0.0)
        .collect();
    positions.sort_by(|a, b| a.0.cmp(b.0));
    let text: Vec<String> = positions.iter().map(|(s, q)| format!("{s}:{q}")).collect();
    h.set_metric("positions", text.join(","));
    h.set_metric("broker_errors", c.broker_errors);
    h.set_metric("orders_lookup_failed", c.orders_lookup_failed);
    h.set_metric(
        "orders_lookup_failed_ids",
        engine.unresolved_orders().join(","),
    );
    for (name, value) in engine.broker().stats().snapshot() {
        h.set_metric(name, value);
    }
    if let Some(remaining) = engine.broker().stats().rate_limit_remaining() {
        h.set_metric("broker_rate_limit_remaining", remaining);
    }
    // Signal sent -> taken off the socket here, from the envelope's `sent_at_us` (same host clock): the
    // signal subscriber's transit histogram, bucket upper bounds in ms.
    let transit = bus.signal_transit();
    h.set_metric("signal_transit_samples", transit.count);
    h.set_metric("signal_transit_negative", transit.negative);
    for (name, micros) in [
        ("signal_transit_p50_ms", transit.p50_us()),
        ("signal_transit_p99_ms", transit.p99_us()),
    ] {
        if let Some(us) = micros {
            h.set_metric(name, format!("{:.3}", us as f64 / 1_000.0));
        }
    }
    if kill.engaged() {
        h.set_status(
            HealthStatus::Degraded,
            "kill switch engaged: every signal is refused",
        );
    } else if let Some(until) = engine.broker().held_off_until() {
        let wait = until.saturating_duration_since(Instant::now()).as_millis();
        h.set_status(
            HealthStatus::Degraded,
            format!("broker rate limit reached: requests held off for {wait} ms"),
        );
    } else if let Some(error) = engine.recent_broker_error(Duration::from_secs(5)) {
        h.set_status(HealthStatus::Degraded, format!("broker errors: {error}"));
    } else if h.status() == HealthStatus::Degraded {
        h.set_status(HealthStatus::Healthy, OPERATIONAL_MESSAGE);
    }
}

/// The loop never waits on the broker: signals held for a quote (now, ever, past their wait), broker
/// reads on their way and those deferred because the readers' queue was full.
fn off_loop_counters(engine: &Engine) -> Vec<(&'static str, u64)> {
    let c = engine.counters();
    vec![
        ("signals_waiting", engine.signals_waiting() as u64),
        ("signals_held", c.signals_held),
        ("price_waits_expired", c.price_waits_expired),
        ("broker_reads_pending", engine.reads_pending() as u64),
        ("broker_reads_deferred", c.broker_reads_deferred),
    ]
}

/// Restart safety: signals that cannot be made idempotent, duplicates recognised, the journal's state.
fn restart_counters(engine: &Engine) -> Vec<(&'static str, u64)> {
    let c = engine.counters();
    let journal = engine.journal();
    vec![
        ("signals_without_id", c.signals_without_id),
        ("duplicates_from_journal", c.duplicates_from_journal),
        ("duplicates_from_broker", c.duplicates_from_broker),
        ("journal_found_at_broker", c.journal_found_at_broker),
        ("journal_not_at_broker", c.journal_not_at_broker),
        ("journal_entries", journal.map_or(0, |j| j.len() as u64)),
        ("journal_appends", journal.map_or(0, |j| j.appends())),
        ("journal_evicted", journal.map_or(0, |j| j.evicted())),
        // The idempotency window's size: bounded by `--idempotency-max-ids`.
        ("seen_signal_ids", engine.book().seen_signal_ids() as u64),
    ]
}
