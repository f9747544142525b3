//! A network namespace of the test's own, joined to the host by a veth
//! pair with private addresses, removed when the guard drops (also when
//! the test panics).
//!
//! Why: some clients refuse loopback peers they did not connect to
//! themselves. Transmission 3.00 drops 127.0.0.0/8 and ::1 peers learned
//! from a tracker, PEX or the DHT, so on loopback it can only leech from a
//! seed that dials it. Put it in a namespace and the seed, the tracker and
//! the client talk over `10.x.y.z` addresses it accepts, while every
//! packet stays on this machine.
//!
//! ```text
//!   host (root namespace)                 namespace sc-<tag>-<pid>-<n>
//!   seedcore, opentracker                 the client
//!   veth s<pid>x<n>h  10.213.a.b+1/30 ─── veth s<pid>x<n>n  10.213.a.b+2/30
//! ```
//!
//! Names carry the test's pid and a counter, and the /30 is picked from
//! them and checked against the host's addresses, so tests running at the
//! same time (other helpers', other test binaries) never share one.
//! Needs root (CAP_NET_ADMIN) and `ip` from iproute2: without them this
//! panics, which fails the test (a missing tool is a failure, not a skip).
//!
//! Processes started with [`NetNs::command`] must be stopped before the
//! guard drops (declare the guard first, so it drops last): the namespace
//! and its veth pair go away once its last process has.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::clients::require_exe;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth link to the host; deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    host_if: String,
    host_ip: Ipv4Addr,
    ns_ip: Ipv4Addr,
}

/// Runs `ip ARGS`, panicking with its output when it fails.
#[track_caller]
fn ip(args: &[&str]) {
    let exe = require_exe("ip", "iproute2");
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Whether the host already has `addr` on some interface.
fn address_in_use(addr: Ipv4Addr) -> bool {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let needle = format!("inet {addr}/");
    out.contains(&needle)
}

impl NetNs {
    /// Creates `sc-<tag>-<pid>-<n>` with its veth pair, addresses and both
    /// ends (and the namespace's loopback) up.
    #[track_caller]
    pub fn create(tag: &str) -> NetNs {
        assert!(
            nix::unistd::geteuid().is_root(),
            "network namespace tests need root (CAP_NET_ADMIN) to create {tag}'s namespace"
        );
        let pid = std::process::id();
        let (n, host_ip) = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            // 16384 /30 subnets in 10.213.0.0/16, chosen by pid and counter.
            let k = (pid.wrapping_mul(64).wrapping_add(n)) % 16384;
            let host_ip = Ipv4Addr::new(
                10,
                213,
                u8::try_from(k / 64).unwrap_or(0),
                u8::try_from((k % 64) * 4 + 1).unwrap_or(1),
            );
            if !address_in_use(host_ip) {
                break (n, host_ip);
            }
            assert!(n < 1000, "no free 10.213.x.y/30 for a test namespace");
        };
        let ns_ip = Ipv4Addr::from(u32::from(host_ip) + 1);
        let name = format!("sc-{tag}-{pid}-{n}");
        let host_if = format!("s{pid}x{n}h");
        let ns_if = format!("s{pid}x{n}n");
        assert!(host_if.len() <= 15, "interface name {host_if} too long");
        ip(&["netns", "add", &name]);
        // From here on the guard removes what was made, whatever fails.
        let guard = NetNs {
            name,
            host_if,
            host_ip,
            ns_ip,
        };
        let ns = guard.name.as_str();
        ip(&[
            "link",
            "add",
            &guard.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", ns]);
        ip(&[
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &guard.host_if,
        ]);
        ip(&["link", "set", &guard.host_if, "up"]);
        ip(&[
            "netns",
            "exec",
            ns,
            "ip",
            "addr",
            "add",
            &format!("{ns_ip}/30"),
            "dev",
            &ns_if,
        ]);
        ip(&["netns", "exec", ns, "ip", "link", "set", &ns_if, "up"]);
        ip(&["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
        guard
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host end's address (bind seeds and trackers here).
    pub fn host_ip(&self) -> IpAddr {
        IpAddr::V4(self.host_ip)
    }

    /// The address inside the namespace.
    pub fn ns_ip(&self) -> IpAddr {
        IpAddr::V4(self.ns_ip)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`
    /// execs it, so the child's pid is the program's own).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it; the host
        // end is removed by name too in case the namespace is still held
        // by a process.
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&["link", "del", &self.host_if]);
        quiet(&["netns", "del", &self.name]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_reachable_and_removed() {
        let name;
        let host_if;
        let host_ip;
        {
            let ns = NetNs::create("unit");
            name = ns.name().to_string();
            host_if = ns.host_if.clone();
            host_ip = ns.host_ip;
            assert!(address_in_use(host_ip));
            let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
            assert!(String::from_utf8_lossy(&list.stdout).contains(&name));
            // Inside: the namespace's own address is there.
            let out = ns
                .command("ip")
                .args(["-4", "-o", "addr", "show"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(text.contains(&format!("inet {}/30", ns.ns_ip())), "{text}");
            // A listener inside is reachable from the host over the veth.
            let mut server = ns
                .command("python3")
                .args([
                    "-c",
                    "import socket,sys;s=socket.socket();s.bind((sys.argv[1],40001));s.listen();\
                     print('ok',flush=True);c,_=s.accept();c.sendall(b'hi')",
                    &ns.ns_ip().to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            use std::io::{BufRead, Read};
            std::io::BufReader::new(server.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ok");
            let mut s = std::net::TcpStream::connect((ns.ns_ip(), 40001)).unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).unwrap();
            assert_eq!(got, "hi");
            assert!(server.wait().unwrap().success());
        }
        let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
        assert!(!address_in_use(host_ip), "the host end's address is gone");
        let link = Command::new("ip")
            .args(["link", "show", &host_if])
            .output()
            .unwrap();
        assert!(!link.status.success(), "the veth pair is gone");
    }
}
