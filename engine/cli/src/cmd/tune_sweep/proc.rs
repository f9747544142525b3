//! The processes of a sweep: each child is stopped and reaped when its
//! handle is dropped, so no path out of the sweep (an error, a failed
//! point) leaves one running; and the temporary folder goes with it.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::{POLL, STOP_TIMEOUT};

/// A child process that is stopped and reaped when dropped.
pub(super) struct Proc {
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` (the `what` of error messages) with stdin closed, its
    /// `SEEDCORE_*` environment removed, stderr into `log` and stdout into
    /// `out` (default: `log` too).
    pub(super) fn spawn(
        mut cmd: Command,
        what: &'static str,
        log: PathBuf,
        out: Option<&Path>,
    ) -> anyhow::Result<Proc> {
        let err = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let stdout = match out {
            Some(p) => File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
            None => err.try_clone().context("cannot share the log file")?,
        };
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SEEDCORE_") {
                cmd.env_remove(&key);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start the {what} ({:?})", cmd.get_program()))?;
        Ok(Proc {
            child,
            log,
            status: None,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, once it has exited (reaped here).
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits for it to exit, until `until`.
    pub(super) fn wait_until(&mut self, until: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; reaps it. Says whether
    /// SIGTERM was enough.
    pub(super) fn stop(&mut self) -> bool {
        if self.exited().is_some() {
            return true;
        }
        if let Ok(pid) = i32::try_from(self.pid()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if self.wait_until(Instant::now() + STOP_TIMEOUT).is_some() {
            return true;
        }
        self.kill();
        false
    }

    /// SIGKILL (by PID, through `Child::kill`) and reap.
    pub(super) fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// The last line of its log, for a failure message.
    pub(super) fn last_words(&self) -> String {
        last_line(&self.log).map_or_else(String::new, |l| format!(": {l}"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last non-empty line of a log file, colour codes removed.
pub(super) fn last_line(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(2048))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) && d != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    Some(out.trim().to_string())
}

/// A temporary folder, removed when dropped.
pub(super) struct WorkDir(pub(super) PathBuf);

impl WorkDir {
    pub(super) fn new() -> anyhow::Result<WorkDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("seedcore-sweep-{}-{nanos:09}", std::process::id()));
        fs::create_dir(&dir)
            .with_context(|| format!("cannot create the work folder {}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_without_colours() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("seed.log");
        fs::write(
            &log,
            "first\n\u{1b}[2m2026-11-21T21:28:50Z\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m cannot start seeding: port in use\n\n",
        )
        .unwrap();
        assert_eq!(
            last_line(&log).unwrap(),
            "2026-11-21T21:28:50Z ERROR cannot start seeding: port in use"
        );
        assert_eq!(last_line(&dir.path().join("none")), None);
    }
}
