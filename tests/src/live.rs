//! A child process that runs in the background while the test talks to it:
//! the seed under test, a leecher, a client waiting for peers.
//!
//! [`crate::process::Cmd`] runs a command to its end; end-to-end tests need
//! several programs alive at once, their output readable *while* they run
//! (to wait for "listening" or "complete"), and a guarantee that none
//! outlives the test. So:
//! - stdout and stderr are drained by threads into shared buffers, so a
//!   chatty child never blocks on a full pipe and the test can read what it
//!   said so far;
//! - every wait takes a deadline, and failing waits panic with everything
//!   the child printed;
//! - signals go to the PID we started (never a name), and dropping a
//!   [`Live`] kills a child that is still running, so a failing test leaves
//!   no process behind.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often waits look again.
const POLL: Duration = Duration::from_millis(50);

type Shared = Arc<Mutex<Vec<u8>>>;

/// A running child with its output captured as it comes.
pub struct Live {
    name: String,
    command: String,
    child: Child,
    stdout: Shared,
    stderr: Shared,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
    started: Instant,
}

impl Live {
    /// Starts `cmd` (stdin closed, stdout and stderr captured) under the
    /// label `name`, for messages. Panics when it cannot start.
    pub fn spawn(name: &str, cmd: &mut Command) -> Live {
        let command = describe(cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .env("LC_ALL", "C");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (`{command}`): {e}"));
        let stdout = Shared::default();
        let stderr = Shared::default();
        let mut readers = Vec::new();
        if let Some(p) = child.stdout.take() {
            readers.push(pump(p, Arc::clone(&stdout)));
        }
        if let Some(p) = child.stderr.take() {
            readers.push(pump(p, Arc::clone(&stderr)));
        }
        Live {
            name: name.to_string(),
            command,
            child,
            stdout,
            stderr,
            readers,
            status: None,
            started: Instant::now(),
        }
    }

    /// The label given at start.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stdout so far (lossy UTF-8).
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Everything written to stderr so far (lossy UTF-8).
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// The exit status once the child has ended, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.status = Some(s);
                self.join_readers();
            }
        }
        self.status
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// Waits up to `timeout` for the child to end; `None` when it is still
    /// running then (it is left running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_exit() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout` until `ready(self)` holds. Panics, with the
    /// child's output, when the deadline passes or the child ends first
    /// (unless `ready` already holds then).
    #[track_caller]
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&Live) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(self) {
                return;
            }
            if let Some(s) = self.try_exit() {
                if ready(self) {
                    return;
                }
                panic!("{} ended ({s}) while waiting for {what}\n{self}", self.name);
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not reach \"{what}\" within {timeout:?}\n{self}",
                    self.name
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Sends `signal` to the child's PID (nothing when it has ended).
    pub fn signal(&mut self, signal: nix::sys::signal::Signal) {
        if self.is_running() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                // The child has not been reaped (try_wait said it runs), so
                // its PID cannot belong to another process yet.
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
            }
        }
    }

    /// SIGTERM, then up to `grace` for the child to end, then SIGKILL.
    /// Returns the exit status, `None` when it had to be killed.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.try_exit() {
            return Some(s);
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        if let Some(s) = self.wait_exit(grace) {
            return Some(s);
        }
        self.kill();
        None
    }

    /// Kills the child (SIGKILL to its PID) and reaps it.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            if let Ok(s) = self.child.wait() {
                self.status = Some(s);
            }
            self.join_readers();
        }
    }

    /// Resident memory of the child in KiB (see [`rss_kib_of`]); `None`
    /// once it has ended.
    pub fn rss_kib(&mut self) -> Option<u64> {
        if !self.is_running() {
            return None;
        }
        rss_kib_of(self.child.id())
    }

    /// How long since the child started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn join_readers(&mut self) {
        // The pipes close when the child ends (unless a grandchild holds
        // them: then the readers are left to finish on their own).
        let readers = std::mem::take(&mut self.readers);
        let deadline = Instant::now() + Duration::from_secs(2);
        for r in readers {
            while !r.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // Nothing the test started may outlive it.
        self.kill();
    }
}

impl fmt::Display for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "=== {} (pid {}, {:.1?} since start, exit {:?}) ===\n$ {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            self.child.id(),
            self.started.elapsed(),
            self.status,
            self.command,
            tail(&self.stdout()),
            tail(&self.stderr()),
        )
    }
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Live({}, pid {})", self.name, self.child.id())
    }
}

/// The last 16 KiB of `s`: enough to see why something failed without
/// drowning the message in progress lines.
fn tail(s: &str) -> &str {
    const KEEP: usize = 16 << 10;
    if s.len() <= KEEP {
        return s;
    }
    let mut start = s.len() - KEEP;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn pump<R: Read + Send + 'static>(mut pipe: R, into: Shared) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut v) = into.lock() {
                        v.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
    })
}

fn text(b: &Shared) -> String {
    b.lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

/// The command line as a shell-like string, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        s.push(' ');
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '&') {
            s.push_str(&format!("'{}'", a.replace('\'', r"'\''")));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Resident memory of process `pid` in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits up to `timeout` until the file at `path` exists.
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        thread::sleep(POLL);
    }
    path.exists()
}
