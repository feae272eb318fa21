//! The CURVE key-loading rule (`conformance/vectors/curve/keys.json`) against the Rust implementation;
//! the Python SDK runs the same file (`tests/security/test_vectors.py`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tradebridge_bus::security::{resolve, Allow, CurveFlags};

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sdk/tradebridge/conformance/vectors/curve/keys.json");
    let body: Value =
        serde_json::from_str(&fs::read_to_string(path).expect("vectors")).expect("json");
    body["cases"].as_array().expect("cases").clone()
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn answer(case: &Value, index: usize) -> Value {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "tradebridge-curve-vectors-{}-{index}",
        std::process::id()
    )));
    fs::create_dir_all(&dir.0).expect("temp dir");
    if let Some(files) = case["files"].as_object() {
        for (name, text) in files {
            let path = dir.0.join(name);
            fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            fs::write(path, text.as_str().expect("text")).expect("write");
        }
    }
    let root = dir.0.display().to_string();
    let fill = |value: &Value| -> HashMap<String, String> {
        value
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("str").replace("$DIR", &root)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let flags_map = fill(&case["flags"]);
    let env = fill(&case["env"]);
    let flags = CurveFlags {
        secret_key_file: flags_map.get("secret_key_file").cloned(),
        server_key_file: flags_map.get("server_key_file").cloned(),
        allow: flags_map.get("allow").cloned(),
    };
    match resolve(&flags, &|name| env.get(name).cloned()) {
        Err(error) => json!({"code": error.code}),
        Ok(None) => json!({"off": true}),
        Ok(Some(curve)) => {
            let allow = match curve.allow() {
                None => Value::Null,
                Some(Allow::Any) => json!("*"),
                Some(Allow::Keys(keys)) => json!(keys.iter().collect::<Vec<_>>()),
            };
            json!({"public": curve.public(), "server_public": curve.server_public(), "allow": allow})
        }
    }
}

#[test]
fn every_vector_gives_the_expected_answer() {
    let cases = vectors();
    assert!(cases.len() >= 20, "vectors missing");
    let mut failures = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let got = answer(case, index);
        if got != case["expected"] {
            failures.push(format!(
                "{}: expected {}, got {got}",
                case["name"], case["expected"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
