//! Exit codes, and the one place errors are printed.
//!
//! Commands return `anyhow::Result<Outcome>`. An error is bad input (exit 2)
//! unless it is tagged as a failed check ([`CheckFailed`], exit 1).

use std::fmt;

/// What a command that ran to the end found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is as it should be: exit 0.
    Ok,
    /// The command ran, and what it checked is wrong (bad pieces): exit 1.
    CheckFailed,
}

/// Exit code for bad input: a malformed torrent, a missing path, a bad flag.
pub const BAD_INPUT: i32 = 2;

/// Prints the error chain on stderr and maps the result to an exit code.
pub fn report(result: anyhow::Result<Outcome>) -> i32 {
    match result {
        Ok(Outcome::Ok) => 0,
        Ok(Outcome::CheckFailed) => 1,
        Err(err) => {
            eprintln!("seedcore: error: {}", Chain(&err));
            BAD_INPUT
        }
    }
}

/// `outer: inner: innermost`, the way operators read errors.
struct Chain<'a>(&'a anyhow::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for cause in self.0.chain() {
            if !first {
                f.write_str(": ")?;
            }
            first = false;
            write!(f, "{cause}")?;
        }
        Ok(())
    }
}
