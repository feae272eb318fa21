//! `tradebridge._native`: the Python binding. Core crates know nothing of Python; this crate only adapts.
//!
//! One module per area keeps this file a list: each `register` adds that area's classes.

use pyo3::prelude::*;

mod boundary;
mod features;
mod prefault;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    features::register(m)?;
    Ok(())
}
