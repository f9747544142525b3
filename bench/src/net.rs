//! Sockets: the loopback-only policy, one source address per simulated
//! peer, non-blocking connects from that address, and `SO_REUSEPORT`
//! listeners for the raw seeder.
//!
//! Why a source address per peer: seeders (libtorrent without
//! `allow_multiple_connections_per_ip`, transmission, and seedcore's own
//! per-IP limits) treat several connections from one IP as one peer, or
//! refuse them. All of 127.0.0.0/8 is loopback on Linux, so binding each
//! peer's socket to its own 127.x.y.z before `connect` makes N peers look
//! like N hosts without any setup. IPv6 has only `::1`, so over IPv6 every
//! peer shares it.
//!
//! Why loopback only: the tool opens thousands of connections and pulls
//! data as fast as the target sends it. Pointed at someone else's host
//! that is a denial-of-service tool, and its figures would measure the
//! network rather than the seeder. `--allow-remote` exists for a lab the
//! user controls (then no source address is bound: 127.x.y.z cannot reach
//! another host).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

/// Why a target address was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The host part did not resolve.
    #[error("cannot resolve target {target:?}: {source}; give HOST:PORT, e.g. 127.0.0.1:6881")]
    Resolve {
        /// What was given.
        target: String,
        /// Resolver error.
        source: io::Error,
    },
    /// It resolved to nothing.
    #[error("target {target:?} resolved to no address; give HOST:PORT, e.g. 127.0.0.1:6881")]
    NoAddress {
        /// What was given.
        target: String,
    },
    /// Not a loopback address and `--allow-remote` was not given.
    #[error(
        "{addr} is not a loopback address: this tool only loads 127.0.0.0/8 or ::1 unless \
         --allow-remote is given (it can flood a host; use it only on machines you control)"
    )]
    NotLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
}

/// Resolves `HOST:PORT`, preferring an IPv4 address when there are several.
pub fn resolve(target: &str) -> Result<SocketAddr, NetError> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|source| NetError::Resolve {
            target: target.to_string(),
            source,
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| NetError::NoAddress {
            target: target.to_string(),
        })
}

/// Refuses a non-loopback address unless `allow_remote`.
pub fn check_loopback(addr: SocketAddr, allow_remote: bool) -> Result<(), NetError> {
    if addr.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(NetError::NotLoopback { addr })
    }
}

/// The source address of simulated peer number `peer` when connecting to
/// `target`: `127.x.y.z` with `z` in 1..=254 (no .0 or .255 host parts),
/// `y` in 0..=255 and `x` from 1 (so 127.0.0.1, which the target itself
/// often uses, is never one). `None` when no address should be bound: an
/// IPv6 or non-loopback target, or more than ~16 million peers.
pub fn source_addr(peer: usize, target: SocketAddr) -> Option<IpAddr> {
    if !(target.is_ipv4() && target.ip().is_loopback()) {
        return None;
    }
    let z = u8::try_from(peer % 254 + 1).ok()?;
    let rest = peer / 254;
    let y = u8::try_from(rest % 256).ok()?;
    let x = u8::try_from(1 + rest / 256).ok().filter(|x| *x < 255)?;
    Some(IpAddr::V4(Ipv4Addr::new(127, x, y, z)))
}

/// Starts a non-blocking connect to `target`, from `source` (port chosen by
/// the kernel) when given. Completion (or refusal) shows up as a writable
/// or error event on the returned stream.
pub fn connect_from(source: Option<IpAddr>, target: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if let Some(ip) = source {
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// `n` (at least one) non-blocking listeners on the same address with
/// `SO_REUSEPORT`, so the kernel spreads incoming connections over the
/// threads that own them. Port 0 picks a free port for all of them.
pub fn reuseport_listeners(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpListener>> {
    let first = reuseport_listener(addr)?;
    let actual = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..n.max(1) {
        out.push(reuseport_listener(actual)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn source_addresses_are_distinct_loopback_hosts() {
        let t = v4("127.0.0.1:6881");
        let mut seen = std::collections::HashSet::new();
        for p in 0..5000 {
            let ip = source_addr(p, t).unwrap();
            assert!(ip.is_loopback());
            let IpAddr::V4(v) = ip else { panic!() };
            let o = v.octets();
            assert!(o[1] >= 1 && o[3] != 0 && o[3] != 255, "{v}");
            assert!(seen.insert(ip));
        }
        assert_eq!(source_addr(0, t), Some("127.1.0.1".parse().unwrap()));
        assert_eq!(source_addr(254, t), Some("127.1.1.1".parse().unwrap()));
        assert_eq!(source_addr(0, v4("10.0.0.1:1")), None);
        assert_eq!(source_addr(0, "[::1]:1".parse().unwrap()), None);
        assert_eq!(source_addr(254 * 256 * 254, t), None);
    }

    #[test]
    fn remote_targets_need_the_flag() {
        assert!(check_loopback(v4("127.9.9.9:1"), false).is_ok());
        assert!(check_loopback("[::1]:1".parse().unwrap(), false).is_ok());
        let err = check_loopback(v4("192.0.2.1:6881"), false).unwrap_err();
        assert!(err.to_string().contains("--allow-remote"));
        assert!(check_loopback(v4("192.0.2.1:6881"), true).is_ok());
    }

    #[test]
    fn resolve_prefers_ipv4_and_reports_garbage() {
        assert_eq!(resolve("127.0.0.1:80").unwrap(), v4("127.0.0.1:80"));
        assert!(resolve("no port here").is_err());
    }

    #[test]
    fn reuseport_listeners_share_one_port() {
        let ls = reuseport_listeners(v4("127.0.0.1:0"), 3).unwrap();
        let port = ls[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(ls.iter().all(|l| l.local_addr().unwrap().port() == port));
    }
}
