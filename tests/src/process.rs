//! Running a child process with a deadline and capturing everything it says.
//!
//! Tests must never hang CI: each child gets a wall-clock budget, and when it
//! overruns we kill exactly the process we started (by its PID, through
//! `Child::kill`) and fail with whatever it printed so far. stdout and
//! stderr are drained on their own threads so a chatty child cannot block
//! on a full pipe while we wait for it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Default budget for one command: generous for a debug build hashing a few
/// MiB on a loaded 2-core CI machine, short enough to fail fast on a hang.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A command to run: program, arguments, working folder, deadline.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

/// What a finished command did.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit code; `None` when it was killed by a signal.
    pub code: Option<i32>,
    /// Everything written to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Cmd {
    /// A command running `program` (a path, or a name looked up on `PATH`).
    pub fn new(program: impl AsRef<Path>) -> Cmd {
        Cmd {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Runs in `dir` instead of the test's working folder.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Replaces the deadline ([`DEFAULT_TIMEOUT`] by default).
    pub fn timeout(mut self, t: Duration) -> Cmd {
        self.timeout = t;
        self
    }

    /// The command line as a shell-like string, for messages.
    pub fn describe(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
                s.push_str(&format!("'{}'", a.replace('\'', r"'\''")));
            } else {
                s.push_str(&a);
            }
        }
        s
    }

    /// Runs to completion and returns what happened, whatever the exit
    /// code. Panics when it cannot start or overruns its deadline (after
    /// killing it), with the output so far.
    pub fn run(&self) -> RunOutput {
        let command = self.describe();
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Deterministic, uncoloured, untranslated output from every child.
        cmd.env("NO_COLOR", "1").env("LC_ALL", "C");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        let deadline = start + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) => {}
                Err(e) => panic!("cannot wait for `{command}`: {e}"),
            }
            if Instant::now() >= deadline {
                // Kill only the child we started, by its PID.
                let pid = child.id();
                let _ = child.kill();
                let _ = child.wait();
                let stdout = join(out);
                let stderr = join(err);
                panic!(
                    "`{command}` (pid {pid}) ran past its {:?} deadline and was killed\n\
                     --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                    self.timeout
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = start.elapsed();
        RunOutput {
            command,
            code: status.and_then(|s| s.code()),
            stdout: join(out),
            stderr: join(err),
            elapsed,
        }
    }
}

type Drain = thread::JoinHandle<Vec<u8>>;

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<Drain> {
    pipe.map(|mut p| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            buf
        })
    })
}

fn join(h: Option<Drain>) -> String {
    h.and_then(|h| h.join().ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl RunOutput {
    /// stdout then stderr, for "the report names X" checks that should not
    /// care which stream a line went to.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics unless the exit code is `code`; returns `self` for chaining.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &RunOutput {
        assert_eq!(self.code, Some(code), "expected exit code {code}\n{self}");
        self
    }

    /// Panics when the child reported a Rust panic (exit 101 or a
    /// "panicked" line): bad input must be an error message, never a crash.
    #[track_caller]
    pub fn expect_no_panic(&self) -> &RunOutput {
        assert!(
            !self.stderr.contains("panicked") && self.code != Some(101),
            "the command panicked\n{self}"
        );
        self
    }

    /// Parses stdout as one JSON value, panicking with the output if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e})\n{self}"))
    }
}

impl fmt::Display for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {}\nexit: {:?} after {:.2?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_both_streams_and_code() {
        let out = Cmd::new("/bin/sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .run();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    #[should_panic(expected = "deadline")]
    fn overrun_is_killed_and_reported() {
        Cmd::new("/bin/sleep")
            .arg("30")
            .timeout(Duration::from_millis(200))
            .run();
    }

    #[test]
    fn describe_quotes_spaces() {
        let c = Cmd::new("prog").args(["a b", "c"]);
        assert_eq!(c.describe(), "prog 'a b' c");
    }
}
