//! Listening sockets: one per shard and address, all on the same port with
//! `SO_REUSEPORT`, so the kernel spreads incoming peers over the shards
//! (by a hash of the connection's addresses) and no shard hands
//! connections to another.
//!
//! They are created and bound on the starting thread, before any shard
//! runs, so that "port in use" is an error at startup and not a log line
//! from a thread. Each shard then turns its sockets into glommio listeners.
//! IPv6 sockets are `IPV6_V6ONLY`, so `0.0.0.0` and `::` can both be bound
//! on one port.

use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

use crate::RuntimeError;

/// Connections waiting to be accepted, per socket.
const BACKLOG: i32 = 1024;

fn listener(addr: SocketAddr) -> std::io::Result<Socket> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s)
}

/// Checks that no other program listens on `addr`. `SO_REUSEPORT` would
/// otherwise let a second seed (same user) bind the same port silently and
/// take half of the incoming peers; a plain bind (without the option) fails
/// on a port anyone is listening on.
fn probe(addr: SocketAddr) -> std::io::Result<()> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())
}

/// The bound sockets: `sockets[shard]` holds one socket per address in
/// `addrs` (same order).
#[derive(Debug)]
pub struct Bound {
    /// Per shard, its listeners.
    pub sockets: Vec<Vec<Socket>>,
    /// The addresses listened on (the real port when 0 was asked for).
    pub addrs: Vec<SocketAddr>,
}

/// Binds `shards` listeners on each of `ips` at `port`. With port 0 the
/// first socket picks a free port and the others use the same one.
///
/// `optional_v6`: an IPv6 address that cannot be bound (no IPv6 on the
/// host) is skipped with a warning instead of failing, as long as some
/// address was bound (for the default `0.0.0.0` + `::`).
pub fn bind(
    ips: &[IpAddr],
    port: u16,
    shards: usize,
    optional_v6: bool,
) -> Result<Bound, RuntimeError> {
    let mut sockets: Vec<Vec<Socket>> = (0..shards).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    let mut port = port;
    for &ip in ips {
        let mut addr = SocketAddr::new(ip, port);
        let mut mine = Vec::with_capacity(shards);
        // Port 0 asks for a fresh port: nobody can be on it.
        let mut failed = (port != 0)
            .then(|| probe(addr).err())
            .flatten()
            .map(|source| RuntimeError::Bind { addr, source });
        while failed.is_none() && mine.len() < shards {
            match listener(addr) {
                Ok(s) => {
                    if addr.port() == 0 {
                        if let Some(real) = s.local_addr().ok().and_then(|a| a.as_socket()) {
                            addr.set_port(real.port());
                        }
                    }
                    mine.push(s);
                }
                Err(source) => failed = Some(RuntimeError::Bind { addr, source }),
            }
        }
        if let Some(e) = failed {
            if optional_v6 && ip.is_ipv6() && mine.is_empty() {
                tracing::warn!("{e}; serving IPv4 only");
                continue;
            }
            return Err(e);
        }
        port = addr.port();
        addrs.push(addr);
        for (shard, s) in sockets.iter_mut().zip(mine) {
            shard.push(s);
        }
    }
    if addrs.is_empty() {
        return Err(RuntimeError::Config {
            what: "no address could be bound (see the warnings above)".into(),
        });
    }
    Ok(Bound { sockets, addrs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn port_zero_gives_every_shard_the_same_port() {
        let ips = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        let b = bind(&ips, 0, 3, true).unwrap();
        assert_eq!(b.sockets.len(), 3);
        let port = b.addrs[0].port();
        assert_ne!(port, 0);
        for shard in &b.sockets {
            for s in shard {
                assert_eq!(s.local_addr().unwrap().as_socket().unwrap().port(), port);
            }
        }
        // A second, unrelated bind on the same port without SO_REUSEPORT fails.
        let plain = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        assert!(plain.is_err());
        // So does a second seed, although it would be allowed to share the
        // port with SO_REUSEPORT.
        let again = bind(&ips[..1], port, 1, false);
        assert!(matches!(again, Err(RuntimeError::Bind { .. })), "{again:?}");
    }
}
