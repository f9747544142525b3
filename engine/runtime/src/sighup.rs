//! Reloads (SIGHUP, or a [`crate::ReloadHandle`]): the configuration and
//! the blocklist read again without a restart.
//!
//! The signal handler only raises a flag (`crate::signals`); the control
//! thread takes it and sends a request here. This thread does the slow
//! part (reading and parsing files) and hands the result back through
//! [`Node::reload_config`] (or, for a node with no configuration to read
//! again, [`Node::reload_blocklist`]), logging what changed and what needs
//! a restart. It ends when the control thread does.

use crossbeam_channel::Receiver;

use crate::node::{Node, NodeError};
use crate::RuntimeError;

/// Starts the reloader thread.
pub(crate) fn start(node: Node, requests: Receiver<()>) -> Result<(), RuntimeError> {
    std::thread::Builder::new()
        .name("seedcore-reload".into())
        .spawn(move || {
            while requests.recv().is_ok() {
                match node.reload_config() {
                    Ok(r) => {
                        if r.applied.is_empty() && r.needs_restart.is_empty() {
                            tracing::info!("reload: done, nothing changed");
                        } else {
                            tracing::info!(
                                "reload: done; applied: {}; needs a restart: {}",
                                list(&r.applied),
                                list(&r.needs_restart)
                            );
                        }
                    }
                    Err(NodeError::NotConfigured { .. }) => match node.reload_blocklist() {
                        Ok(_) | Err(NodeError::NotConfigured { .. }) => {
                            tracing::info!(
                                "reload: no configuration file or blocklist to read again"
                            );
                        }
                        Err(e) => tracing::warn!("reload: blocklist not reloaded: {e}"),
                    },
                    Err(NodeError::Stopping) => return,
                    Err(e) => tracing::warn!("reload: configuration not reloaded: {e}"),
                }
            }
        })
        .map_err(|source| RuntimeError::Thread {
            name: "reload".into(),
            source,
        })?;
    Ok(())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "nothing".into()
    } else {
        v.join(", ")
    }
}
