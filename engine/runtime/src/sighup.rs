//! SIGHUP: reload the configuration and the blocklist without a restart.
//!
//! The handler only raises a flag (nothing else is safe in a signal
//! handler); a small thread looks at it a few times a second and calls
//! [`Node::reload_config`] (or, for a node with no configuration to read
//! again, [`Node::reload_blocklist`]), logging what changed and what needs
//! a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::node::{Node, NodeError};
use crate::RuntimeError;

/// How often the flag is looked at.
const POLL: Duration = Duration::from_millis(200);

/// Installs the SIGHUP handler and the thread that acts on it; the
/// thread ends when the node stops.
pub(crate) fn install(node: Node) -> Result<(), RuntimeError> {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&flag)).map_err(
        |source| RuntimeError::Thread {
            name: "signal handler for SIGHUP".into(),
            source,
        },
    )?;
    std::thread::Builder::new()
        .name("seedcore-sighup".into())
        .spawn(move || loop {
            std::thread::sleep(POLL);
            if !flag.swap(false, Ordering::Relaxed) {
                // Ends with the node: any call then says it is stopping.
                if matches!(node.limits(), Err(NodeError::Stopping)) {
                    return;
                }
                continue;
            }
            tracing::info!("SIGHUP: reloading the configuration and the blocklist");
            match node.reload_config() {
                Ok(r) => {
                    if r.applied.is_empty() && r.needs_restart.is_empty() {
                        tracing::info!("SIGHUP: nothing changed");
                    }
                }
                Err(NodeError::NotConfigured { .. }) => match node.reload_blocklist() {
                    Ok(_) | Err(NodeError::NotConfigured { .. }) => {}
                    Err(e) => tracing::warn!("SIGHUP: blocklist not reloaded: {e}"),
                },
                Err(NodeError::Stopping) => return,
                Err(e) => tracing::warn!("SIGHUP: configuration not reloaded: {e}"),
            }
        })
        .map_err(|source| RuntimeError::Thread {
            name: "sighup".into(),
            source,
        })?;
    Ok(())
}
