//! The control core's DHT node and PEX: an in-process seed joins a
//! loopback DHT (a `seedcore_dht` node on its own thread), announces its
//! torrent there, saves and reloads its routing table, pings the DHT node
//! a peer names in a `port` message, and dials the peers a peer sends by
//! PEX.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;
mod control_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use control_support::{compact, eventually, DhtNode, Dialled};
use seedcore_protocol::wire::{Handshake, Reserved};
use seedcore_runtime::{Config, Seeder};

fn dht_config(folder: &std::path::Path, resume: &std::path::Path, boot: SocketAddr) -> Config {
    let mut cfg = common::config(&[folder], 1);
    cfg.dht = true;
    cfg.dht_bootstrap = vec![boot.to_string()];
    cfg.resume_dir = Some(resume.to_path_buf());
    cfg
}

#[test]
fn announces_to_the_dht_and_keeps_its_table_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "small", &[("a.bin", 100_000)]);
    let resume = dir.path().join("resume");
    let node = DhtNode::start();
    let seeder = Seeder::start(dht_config(&folder, &resume, node.addr)).unwrap();
    let hash = common::meta_of(&seeder, 0).info_hashes.wire_hash();
    eventually(
        "our announce stored at the node",
        Duration::from_secs(30),
        || node.view().stored == (1, 1),
    );
    // A second node joining through the first finds the seed's TCP port
    // with a get_peers lookup (the first node answers from its store).
    let other = DhtNode::start_with(vec![node.addr]);
    let port = seeder.port();
    eventually(
        "another node's lookup finds the seed",
        Duration::from_secs(30),
        || {
            other.lookup(hash);
            std::thread::sleep(Duration::from_millis(500));
            other.view().found.iter().any(|p| p.port() == port)
        },
    );
    eventually(
        "the seed's status shows its table",
        Duration::from_secs(10),
        || {
            seeder
                .status()
                .and_then(|s| s.dht)
                .is_some_and(|d| d.running && d.nodes >= 1 && d.announces >= 1)
        },
    );
    let first = seeder.status().unwrap().dht.unwrap();
    assert_eq!(first.port, port, "the DHT port defaults to the TCP port");
    seeder.shutdown();
    assert!(resume.join("dht.state").is_file(), "routing table saved");

    // A restart with the node gone still knows it (and keeps its id).
    drop(node);
    let mut cfg = common::config(&[&folder], 1);
    cfg.dht = true;
    cfg.dht_bootstrap = Vec::new();
    cfg.resume_dir = Some(resume.clone());
    let seeder = Seeder::start(cfg).unwrap();
    eventually(
        "the restarted node's status",
        Duration::from_secs(10),
        || seeder.status().and_then(|s| s.dht).is_some(),
    );
    let again = seeder.status().unwrap().dht.unwrap();
    assert_eq!(again.node_id, first.node_id, "same node id after restart");
    seeder.shutdown();
}

/// Connects to the seed as a peer with the DHT and extension bits, and
/// returns the stream after the handshakes.
fn peer(seed: SocketAddr, hash: [u8; 20]) -> TcpStream {
    let mut s = TcpStream::connect(seed).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = Reserved::EMPTY;
    r.set_dht(true);
    r.set_extension_protocol(true);
    s.write_all(&Handshake::new(r, hash, *b"-XX0001-abcdefghijkl").to_bytes())
        .unwrap();
    let mut hs = [0u8; 68];
    s.read_exact(&mut hs).unwrap();
    let theirs = Handshake::decode(&hs).unwrap().unwrap();
    assert!(theirs.reserved.dht(), "the seed sets the DHT bit");
    s
}

#[test]
fn port_messages_are_pinged_and_pex_peers_dialled() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "small", &[("a.bin", 100_000)]);
    let node = DhtNode::start();
    let seeder = Seeder::start(dht_config(&folder, &dir.path().join("r"), node.addr)).unwrap();
    let hash = common::meta_of(&seeder, 0).info_hashes.wire_hash();

    // BEP 5 `port`: our "DHT node" is a plain socket that waits for the ping.
    let ours = UdpSocket::bind("127.0.0.1:0").unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut s = peer(seeder.local_addrs()[0], hash);
    let port = ours.local_addr().unwrap().port();
    let mut msg = vec![0, 0, 0, 3, 9];
    msg.extend_from_slice(&port.to_be_bytes());
    s.write_all(&msg).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = ours
        .recv_from(&mut buf)
        .expect("a ping from the seed's DHT node");
    let q = &buf[..n];
    assert!(
        q.windows(6).any(|w| w == b"4:ping"),
        "{:?}",
        String::from_utf8_lossy(q)
    );

    // BEP 11: a PEX message naming a waiting peer gets it dialled. Our
    // `ut_pex` id in the seed's table is 1 (the session's fixed ids).
    let target = Dialled::start();
    let mut pex = b"d5:added".to_vec();
    let c = compact(&[target.addr]);
    pex.extend_from_slice(format!("{}:", c.len()).as_bytes());
    pex.extend_from_slice(&c);
    pex.extend_from_slice(b"7:added.f1:\x00e");
    let mut m = ((pex.len() + 2) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&[20, 1]);
    m.extend_from_slice(&pex);
    s.write_all(&m).unwrap();
    eventually("the PEX peer dialled", Duration::from_secs(20), || {
        target.handshakes().iter().any(|h| h.info_hash == hash)
    });
    eventually("the status counts it", Duration::from_secs(10), || {
        seeder
            .status()
            .is_some_and(|st| st.outgoing.from_pex >= 1 && st.dht.is_some_and(|d| d.pings >= 1))
    });
    drop(s);
    seeder.shutdown();
}
