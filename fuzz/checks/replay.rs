//! Corpus replay for the stable regression tests (`crates/*/tests/fuzz_corpus.rs`): every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through a target's check, every failing
//! file named at the end rather than only the first.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    // Both crates sit two levels below the repository root, next to `fuzz/`.
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable fuzz folder").path();
            if path.is_file()
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

pub fn replay(target: &str, check: fn(&[u8])) {
    let files = inputs(target);
    // The seeded corpus is kept in git: an empty replay would pass while testing nothing.
    assert!(
        !files.is_empty(),
        "no inputs in fuzz/corpus/{target} (run `python fuzz/seed.py`)"
    );
    let failures: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = match std::fs::read(path) {
                Ok(data) => data,
                // A fuzzer running meanwhile replaces corpus files by smaller ones.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return false,
                Err(error) => panic!("{}: {error}", path.display()),
            };
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs fail their check:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
