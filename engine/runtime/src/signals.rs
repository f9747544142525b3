//! What the process' signals ask of a seed: SIGINT and SIGTERM stop it,
//! SIGHUP asks it to reload.
//!
//! # Why the handlers go in before anything else
//!
//! A seed's start-up can take minutes (verifying terabytes, making a
//! torrent for a big folder). A SIGTERM from systemd or a container
//! runtime in that time must not kill the process by signal half-way:
//! it raises the stop flag, the verification ends within one task per
//! thread, nothing partial is written (no resume file for an unfinished
//! check, no `.torrent` for an unfinished hash), and the binary exits 0.
//! So [`Signals::install`] runs first, and the same flags then drive the
//! running seed. A second SIGINT/SIGTERM while stopping ends the process
//! at once with status 1 (the operator insists).
//!
//! SIGHUP's default action is to end the process; here it only raises the
//! reload flag, which the control thread takes on its next turn (see
//! `Control::reload`). That is the hook a configuration or blocklist
//! reload hangs from; [`ReloadHandle`] raises the same flag from code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::RuntimeError;

/// Asks a running seed to stop; cheap to clone, usable from any thread.
#[derive(Clone, Debug)]
pub struct StopHandle(pub(crate) Arc<AtomicBool>);

impl StopHandle {
    /// Stops the seed: no more connections are accepted, every peer is
    /// closed, [`Seeder::wait`](crate::Seeder::wait) returns. Before the
    /// seed has started, its start-up ends with [`RuntimeError::Stopped`].
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Asks a running seed to reload (what SIGHUP does).
#[derive(Clone, Debug)]
pub struct ReloadHandle(pub(crate) Arc<AtomicBool>);

impl ReloadHandle {
    /// Raises the reload flag; the control thread takes it on its next turn.
    pub fn reload(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The stop and reload flags of one seed, and the signal handlers that
/// raise them.
#[derive(Clone, Debug, Default)]
pub struct Signals {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) reload: Arc<AtomicBool>,
    installed: Arc<AtomicBool>,
}

impl Signals {
    /// Fresh flags, no handlers yet.
    pub fn new() -> Signals {
        Signals::default()
    }

    /// Installs the handlers: SIGINT and SIGTERM raise the stop flag (a
    /// second one while it is raised exits with status 1), SIGHUP raises
    /// the reload flag. Installing twice does nothing more.
    pub fn install(&self) -> Result<(), RuntimeError> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        if self.installed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let fail = |sig: i32| {
            move |source| RuntimeError::Thread {
                name: format!("signal handler for {sig}"),
                source,
            }
        };
        for sig in [SIGINT, SIGTERM] {
            // Order matters: the exit check runs before the flag is raised,
            // so only a second signal finds it raised.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&self.stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&self.stop)))
                .map_err(fail(sig))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&self.reload)).map_err(fail(SIGHUP))?;
        Ok(())
    }

    /// A handle that stops the seed these flags belong to.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.stop))
    }

    /// A handle that asks the seed to reload.
    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle(Arc::clone(&self.reload))
    }

    /// Whether a stop was asked for.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_share_the_flags() {
        let s = Signals::new();
        assert!(!s.stop_requested());
        s.reload_handle().reload();
        assert!(s.reload.load(Ordering::Relaxed));
        let h = s.stop_handle();
        assert!(!h.is_stopped());
        h.stop();
        assert!(s.stop_requested() && h.is_stopped());
    }
}
