//! JSON Schemas derived from the Rust types (via `schemars`), for the drift check against `contracts/v1`.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::messages::{
    BarUpdate, BusMessage, Health, Heartbeat, OrderUpdate, QuoteUpdate, Readiness, Signal,
    TradeUpdate,
};

fn derived<T: JsonSchema>() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// schemars does not describe serde's struct tag, so the `type` property comes from [`BusMessage`].
fn derived_bus<T: JsonSchema + BusMessage>() -> Value {
    let mut schema = derived::<T>();
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("type".into(), json!({"const": T::TYPE}));
    }
    if T::TAG_REQUIRED {
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.insert(0, Value::from("type"));
        }
    }
    schema
}

/// Contract file stem (`bar_update`) and the schema derived from the matching Rust type.
pub fn derived_schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("bar_update", derived_bus::<BarUpdate>()),
        ("trade_update", derived_bus::<TradeUpdate>()),
        ("quote_update", derived_bus::<QuoteUpdate>()),
        ("signal", derived_bus::<Signal>()),
        ("order_update", derived_bus::<OrderUpdate>()),
        ("heartbeat", derived_bus::<Heartbeat>()),
        ("health", derived::<Health>()),
        ("readiness", derived::<Readiness>()),
    ]
}
