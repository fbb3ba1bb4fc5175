//! Replays every checked-in fuzz input (the seed corpus and the crash inputs fixed since) through
//! the same checks the fuzz targets run, on a stable toolchain, so they stay regression tests.

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_checked_in_input_passes_its_target() {
    let mut replayed = 0;
    for (target, check) in fuzz_harness::TARGETS {
        let dir = corpus_dir(target);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{target} has no corpus");
        for input in inputs {
            let data = std::fs::read(&input).expect("reads the input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target} fails on {}", input.display());
            replayed += 1;
        }
    }
    assert!(replayed >= fuzz_harness::TARGETS.len());
}
