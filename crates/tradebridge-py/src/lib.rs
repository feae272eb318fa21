//! `tradebridge._native`: the Python binding. Core crates know nothing of Python; this crate only adapts.
//!
//! One module per area keeps this file a list: each `register` adds that area's classes and functions.

use pyo3::prelude::*;

mod boundary;
mod bus_io;
mod bus_publish;
mod bus_recv;
mod capture;
mod contract_guard;
mod errors;
mod features;
mod health;
mod libzmq;
mod one_arg;
mod prefault;
mod slots;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    bus_io::register(m)?;
    bus_publish::register(m)?;
    bus_recv::register(m)?;
    capture::register(m)?;
    contract_guard::register(m)?;
    errors::register(m)?;
    features::register(m)?;
    health::register(m)?;
    // setattr, not add: `add` would list the test hook in `__all__`.
    m.setattr("_panic", wrap_pyfunction!(_panic, m)?)?;
    Ok(())
}

/// Panics inside the boundary guard, so tests can prove a panic reaches Python as `InternalError` (no real
/// input can make the extension panic). Private: not part of the stub.
#[pyfunction]
fn _panic(message: &str) -> PyResult<()> {
    boundary::guard(|| panic!("{message}"))
}
