//! Runs one target on files, for triage: `cargo run -p seedcore-fuzz
//! --example run -- TARGET FILE...`. Each file runs on its own (a panic
//! prints its message and the next file runs); exit 1 if any failed.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: run TARGET FILE...");
    let target = seedcore_fuzz::target(&name).expect("a known target");
    let mut failed = 0;
    let mut total = 0;
    for file in args {
        total += 1;
        let data = std::fs::read(&file).unwrap();
        if std::panic::catch_unwind(|| (target.run)(&data)).is_err() {
            failed += 1;
            println!("FAILED: {file}");
        }
    }
    println!("{name}: {total} inputs, {failed} failed");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
