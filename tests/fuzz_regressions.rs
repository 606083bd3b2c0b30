//! Replays every committed fuzz input on stable, through the very oracles
//! the fuzz targets run (`fuzz/src/lib.rs` and its modules, included below):
//!
//! * `fuzz/seeds/<target>/*`: the seed corpora, built from the RFC 6455
//!   vectors by `fuzz/make_seeds.py`; each must pass;
//! * `fuzz/regressions/<target>/*`: minimized inputs that once crashed a
//!   target; each must pass once its bug is fixed.
//!
//! A folder that names no target fails the test, so an input cannot be
//! committed where nothing replays it.

#[path = "../fuzz/src/lib.rs"]
mod oracles;

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(name)
}

/// The inputs under `fuzz/<dir>/`, each with the oracle of its folder.
/// Panics on a folder (or a stray file) that names no target; a README is
/// allowed at the top.
fn inputs(dir: &str) -> Vec<(&'static str, oracles::Oracle, PathBuf)> {
    let root = fuzz_dir(dir);
    let Ok(entries) = fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.expect("read_dir").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && name.starts_with("README") {
            continue;
        }
        let Some(&(target, oracle)) = oracles::TARGETS.iter().find(|(t, _)| *t == name) else {
            panic!(
                "fuzz/{dir}/{name} names no fuzz target (known: {:?})",
                oracles::TARGETS.iter().map(|(t, _)| t).collect::<Vec<_>>()
            );
        };
        assert!(path.is_dir(), "fuzz/{dir}/{name} is not a folder");
        for file in fs::read_dir(&path).expect("read_dir") {
            let file = file.expect("read_dir").path();
            assert!(file.is_file(), "{} is not a file", file.display());
            found.push((target, oracle, file));
        }
    }
    found.sort_by(|a, b| a.2.cmp(&b.2));
    found
}

/// Runs each input through its oracle; fails listing every input that
/// panicked.
fn replay(dir: &str) -> usize {
    let inputs = inputs(dir);
    let mut failures = Vec::new();
    for (target, oracle, path) in &inputs {
        let data = fs::read(path).expect("read input");
        if panic::catch_unwind(AssertUnwindSafe(|| oracle(&data))).is_err() {
            failures.push(format!("{target}: {}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs fail:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
    inputs.len()
}

#[test]
fn seeds_pass() {
    let count = replay("seeds");
    assert!(count > 0, "no seeds found under fuzz/seeds/");
}

#[test]
fn every_target_has_seeds() {
    let inputs = inputs("seeds");
    for (target, _) in oracles::TARGETS {
        assert!(
            inputs.iter().any(|(t, _, _)| t == target),
            "no seeds for {target} in fuzz/seeds/{target}/"
        );
    }
}

#[test]
fn regressions_pass() {
    replay("regressions");
}

/// The replay itself works: an empty input and a few short ones go through
/// every oracle (the edges of each input layout).
#[test]
fn short_inputs_pass() {
    for (_, oracle) in oracles::TARGETS {
        for data in [&[][..], &[0], &[0xff], &[0xff; 3], &[1, 1, 1, 0x81, 0x80]] {
            oracle(data);
        }
    }
}
