//! `seedcore-afl TARGET`: runs one fuzz target of `seedcore-fuzz` under
//! AFL++ in persistent mode. `bench/fuzz.sh` builds and starts it.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = seedcore_fuzz::target(&name) else {
        eprintln!(
            "usage: seedcore-afl TARGET (one of: {})",
            seedcore_fuzz::TARGETS
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| {
        (target.run)(data);
    });
}
