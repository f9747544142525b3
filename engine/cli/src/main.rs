//! The `seedcore` command (being written).
fn main() {}
