//! Replays every committed fuzz input through its target: the minimised
//! corpus (`fuzz/corpus/TARGET/`) and every input that once found a bug
//! (`fuzz/regressions/TARGET/`). A target that panics on any of them fails
//! here, in CI, with the file named.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("a readable corpus folder").path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `target` on every file; returns the failures.
fn replay(kind: &str, target: &seedcore_fuzz::Target) -> Vec<String> {
    let mut failed = Vec::new();
    for path in inputs(kind, target.name) {
        let data = std::fs::read(&path).expect("a readable input");
        let run = target.run;
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    failed
}

#[test]
fn every_target_has_a_corpus() {
    for t in seedcore_fuzz::TARGETS {
        assert!(
            !inputs("corpus", t.name).is_empty(),
            "fuzz/corpus/{} is empty: commit at least a seed",
            t.name
        );
    }
}

#[test]
fn corpus_and_regressions_pass() {
    let mut failed = Vec::new();
    let mut count = 0;
    for t in seedcore_fuzz::TARGETS {
        for kind in ["corpus", "regressions"] {
            count += inputs(kind, t.name).len();
            failed.extend(replay(kind, t));
        }
    }
    assert!(count > 0);
    assert!(
        failed.is_empty(),
        "{} inputs failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
