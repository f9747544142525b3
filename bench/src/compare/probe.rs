//! "Is it serving this torrent?": one BitTorrent handshake, with timeouts.
//!
//! Every seeder counts as ready only when it answers a handshake for the
//! torrent's info-hash: a listening socket alone says nothing (aria2 and
//! transmission listen before their data check ends, and seedcore drops a
//! handshake for a torrent it does not serve). The probe connects from
//! 127.0.0.1, which no simulated peer uses.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use seedcore_protocol::wire::{Handshake, HANDSHAKE_LEN};

use super::proc::Proc;
use crate::load::our_reserved;

/// One handshake for `info_hash` at `addr`; `Ok` when the answer names
/// the same torrent.
pub(crate) fn handshake(
    addr: SocketAddr,
    info_hash: [u8; 20],
    timeout: Duration,
) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("socket: {e}"))?;
    let mut out = Vec::with_capacity(HANDSHAKE_LEN);
    Handshake::new(our_reserved(), info_hash, *b"-SB0001-probe0000000").encode(&mut out);
    s.write_all(&out).map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; HANDSHAKE_LEN];
    s.read_exact(&mut buf)
        .map_err(|e| format!("no handshake back: {e}"))?;
    match Handshake::decode(&buf) {
        Ok(Some(h)) if h.info_hash == info_hash => Ok(()),
        Ok(Some(_)) => Err("answered for another torrent".into()),
        Ok(None) | Err(_) => Err("answered with something that is not a handshake".into()),
    }
}

/// Waits until `addr` answers a handshake for `info_hash`, the process
/// exits, or `limit` passes.
pub(crate) fn wait_serving(
    proc: &mut Proc,
    addr: SocketAddr,
    info_hash: [u8; 20],
    limit: Duration,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = proc.exited() {
            return Err(format!(
                "exited before serving ({s}): {}",
                proc.stderr_tail()
            ));
        }
        let Err(last) = handshake(addr, info_hash, Duration::from_secs(2)) else {
            return Ok(t0.elapsed());
        };
        if t0.elapsed() >= limit {
            return Err(format!(
                "not serving after {:.0} s (last probe: {last}); log: {}",
                limit.as_secs_f64(),
                proc.stderr_tail()
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP port free on 127.0.0.1 right now.
pub(crate) fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_not_serving() {
        let port = free_port().unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let e = handshake(addr, [1; 20], Duration::from_millis(500)).unwrap_err();
        assert!(e.starts_with("connect"), "{e}");
    }
}
