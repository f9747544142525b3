//! Child processes with a hard lifetime, pinned to CPUs, stopped by PID.
//!
//! Every seeder and load run starts as
//! `timeout --kill-after=5 LIMIT taskset -c CPUS PROGRAM ARGS...`:
//! `taskset` execs the program (so the pid `timeout` forked is the
//! program's own, the one `load --pid` measures), and `timeout` ends it
//! even if this process dies without cleaning up. [`Proc::stop`] sends
//! SIGTERM to that pid, waits, then SIGKILL; dropping a [`Proc`] stops it.
//! Output goes to log files, never pipes, so a chatty child cannot block
//! on a full pipe nobody reads.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Time a stopped process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// A running child: the `timeout` wrapper and the program's pid.
#[derive(Debug)]
pub(crate) struct Proc {
    name: String,
    wrapper: Child,
    pid: u32,
    status: Option<ExitStatus>,
    /// Where its stdout goes.
    pub out_path: PathBuf,
    /// Where its stderr goes.
    pub err_path: PathBuf,
    /// The command line, shell-quoted, without the wrapper.
    pub command: String,
}

/// Quotes `s` for a POSIX shell when needed (for the report's commands).
pub(crate) fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A command line for the report.
pub(crate) fn command_line(program: &Path, args: &[String]) -> String {
    std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends `signal` (`TERM`, `KILL`) to one pid with `kill(1)`.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The pid of the first child of `parent` (`/proc/P/task/P/children`).
fn first_child(parent: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// What to start.
pub(crate) struct Spec<'a> {
    /// Name for logs and messages.
    pub name: &'a str,
    /// `taskset -c` CPU list.
    pub cpus: &'a str,
    /// Hard lifetime.
    pub limit: Duration,
    /// The program.
    pub program: &'a Path,
    /// Its arguments.
    pub args: &'a [String],
    /// Folder for `<name>.out` / `<name>.err`.
    pub logs: &'a Path,
}

impl Proc {
    /// Starts `spec` and finds its pid (within 5 s).
    pub(crate) fn spawn(spec: &Spec<'_>) -> Result<Proc, String> {
        fs::create_dir_all(spec.logs)
            .map_err(|e| format!("cannot create {}: {e}", spec.logs.display()))?;
        let out_path = spec.logs.join(format!("{}.out", spec.name));
        let err_path = spec.logs.join(format!("{}.err", spec.name));
        let open =
            |p: &Path| File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()));
        let (out, err) = (open(&out_path)?, open(&err_path)?);
        let limit = format!("{}s", spec.limit.as_secs().max(1));
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=5", &limit, "taskset", "-c", spec.cpus])
            .arg(spec.program)
            .args(spec.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // The seeders read no SEEDCORE_* settings from our environment:
        // every run gets exactly the flags the report shows.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SEEDCORE_") {
                cmd.env_remove(k);
            }
        }
        let mut wrapper = cmd
            .spawn()
            .map_err(|e| format!("cannot run timeout/taskset for {}: {e}", spec.name))?;
        let command = command_line(spec.program, spec.args);
        let t0 = Instant::now();
        let pid = loop {
            if let Some(pid) = first_child(wrapper.id()) {
                break pid;
            }
            if let Ok(Some(status)) = wrapper.try_wait() {
                return Err(format!(
                    "{} exited at once ({status}): {}",
                    spec.name,
                    tail(&err_path, 400)
                ));
            }
            if t0.elapsed() > Duration::from_secs(5) {
                let _ = wrapper.kill();
                let _ = wrapper.wait();
                return Err(format!("{} did not start within 5 s", spec.name));
            }
            thread::sleep(Duration::from_millis(2));
        };
        Ok(Proc {
            name: spec.name.to_string(),
            wrapper,
            pid,
            status: None,
            out_path,
            err_path,
            command,
        })
    }

    /// The program's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Its exit status, once it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.wrapper.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for it to exit by itself.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if t0.elapsed() >= limit {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it: SIGTERM to its pid, up to 10 s, then SIGKILL to the pid
    /// and the wrapper. Returns how it ended.
    pub(crate) fn stop(&mut self) -> String {
        if let Some(s) = self.exited() {
            return format!("had exited ({s})");
        }
        signal(self.pid, "TERM");
        if let Some(s) = self.wait_exit(TERM_GRACE) {
            return format!("stopped by SIGTERM ({s})");
        }
        if self.exited().is_none() {
            signal(self.pid, "KILL");
            let _ = self.wrapper.kill();
        }
        match self.wait_exit(Duration::from_secs(5)) {
            Some(s) => format!("killed after {} s ({s})", TERM_GRACE.as_secs()),
            None => format!("{} (pid {}) would not die", self.name, self.pid),
        }
    }

    /// The end of its stderr, for error messages.
    pub(crate) fn stderr_tail(&self) -> String {
        tail(&self.err_path, 600)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The last `max` bytes of a file, as text on one line.
pub(crate) fn tail(path: &Path, max: usize) -> String {
    let text = fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    let s = String::from_utf8_lossy(text.get(start..).unwrap_or_default());
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a short command (a version query) with a 10 s limit and returns
/// its first non-empty line of stdout or stderr.
pub(crate) fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("timeout")
        .arg("10")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_for_the_report() {
        assert_eq!(shell_quote("--peers"), "--peers");
        assert_eq!(shell_quote("127.0.0.1:6881"), "127.0.0.1:6881");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            command_line(Path::new("/bin/x"), &["-a".into(), "b c".into()]),
            "/bin/x -a 'b c'"
        );
    }

    #[test]
    fn tail_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, "line one\nline two\n").unwrap();
        assert_eq!(tail(&p, 9), "line two");
        assert_eq!(tail(&dir.path().join("missing"), 8), "");
    }
}
