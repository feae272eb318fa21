//! The feature engine's classes: `MarketBar` (bar.rs) and `RustFeatureComputer` (computer.rs), with the
//! argument checks they share (args.rs).

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use tradebridge_features::FEATURE_NAMES;

mod args;
mod bar;
mod computer;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<bar::MarketBar>()?;
    m.add_class::<computer::RustFeatureComputer>()?;
    // A tuple: a module-level constant must not be mutable by whoever imports it.
    m.add("FEATURE_NAMES", PyTuple::new(m.py(), FEATURE_NAMES)?)?;
    Ok(())
}
