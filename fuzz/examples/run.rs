//! Runs one target on files, for triage: `cargo run -p seedcore-fuzz
//! --example run -- TARGET FILE...` (a panic shows its message and
//! backtrace as usual).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: run TARGET FILE...");
    let target = seedcore_fuzz::target(&name).expect("a known target");
    for file in args {
        let data = std::fs::read(&file).unwrap();
        (target.run)(&data);
        println!("{file}: ok");
    }
}
