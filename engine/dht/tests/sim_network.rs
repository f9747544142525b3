//! A simulated network of `Dht` nodes exchanging datagrams in memory with
//! virtual time: bootstrap, lookups, announce/get_peers, restore, churn.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use seedcore_dht::{Dht, Event, LookupKind, NodeId, Rng};
use support::{addr_of, config, Net};

const N: usize = 120;

fn bootstrapped(n: usize) -> Net {
    let mut net = Net::new(n);
    net.run_for(Duration::from_secs(60));
    net
}

fn lookup_done(net: &Net, i: usize, target: NodeId) -> Option<Vec<NodeId>> {
    net.events[i].iter().find_map(|e| match e {
        Event::LookupDone {
            target: t, closest, ..
        } if *t == target => Some(closest.iter().map(|n| n.id).collect()),
        _ => None,
    })
}

fn peers_found(net: &Net, i: usize, info_hash: NodeId) -> Vec<SocketAddr> {
    net.events[i]
        .iter()
        .filter_map(|e| match e {
            Event::Peers {
                info_hash: h,
                peers,
                ..
            } if *h == info_hash => Some(peers.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn bootstrap_converges_and_lookups_find_the_closest_nodes() {
    let mut net = bootstrapped(N);
    for (i, node) in net.nodes.iter().enumerate() {
        assert!(
            node.table().len() >= 8,
            "node {i} has {} nodes",
            node.table().len()
        );
        if i > 0 {
            assert!(
                net.events[i]
                    .iter()
                    .any(|e| matches!(e, Event::Bootstrapped { nodes } if *nodes > 0)),
                "node {i} did not report a bootstrap"
            );
        }
    }
    // Lookups from random nodes for random targets end at the true closest.
    let mut rng = Rng::new(99);
    let mut lookups = Vec::new();
    for _ in 0..20 {
        let from = rng.below(N);
        let target = NodeId::random(&mut rng);
        net.nodes[from].find_node(net.now, target).unwrap();
        lookups.push((from, target));
    }
    net.run_for(Duration::from_secs(30));
    let mut exact_sets = 0;
    for (from, target) in lookups {
        let found = lookup_done(&net, from, target).expect("lookup finished");
        let truth: Vec<NodeId> = net
            .true_closest(&target)
            .into_iter()
            .filter(|id| *id != net.nodes[from].id())
            .take(8)
            .collect();
        assert_eq!(found.first(), truth.first(), "closest node for {target}");
        let overlap = found.iter().filter(|id| truth.contains(id)).count();
        assert!(
            overlap >= 6,
            "only {overlap} of the 8 closest found for {target}"
        );
        exact_sets += usize::from(found == truth);
    }
    assert!(exact_sets >= 15, "exact 8-closest sets: {exact_sets}/20");
    // Nothing was dropped for lack of queue space.
    for node in &net.nodes {
        assert_eq!(node.stats().transmit_dropped, 0);
        assert_eq!(node.stats().events_dropped, 0);
    }
}

#[test]
fn announce_then_get_peers_from_elsewhere_finds_the_announcer() {
    let mut net = bootstrapped(N);
    let info_hash = NodeId([0x5e; 20]);
    // Node 5 announces its TCP port; node 6 asks for implied_port.
    let now = net.now;
    net.nodes[5].announce(now, info_hash, Some(7000)).unwrap();
    net.nodes[6].announce(now, info_hash, None).unwrap();
    for i in [5, 6] {
        let done = net.run_until_event(i, Duration::from_secs(30), |e| {
            matches!(e, Event::LookupDone { kind: LookupKind::Announce { .. }, announced, .. } if *announced >= 6)
        });
        assert!(done, "node {i} did not announce to the closest nodes");
    }
    net.run_for(Duration::from_secs(2));
    // The closest nodes to the info-hash now hold the peers.
    let holders = net.nodes.iter().filter(|n| n.stored_peers().1 > 0).count();
    assert!(holders >= 6, "only {holders} nodes store the peers");
    let now = net.now;
    net.nodes[100].get_peers(now, info_hash).unwrap();
    let done = net.run_until_event(100, Duration::from_secs(30), |e| {
        matches!(
            e,
            Event::LookupDone {
                kind: LookupKind::GetPeers,
                ..
            }
        )
    });
    assert!(done);
    let mut found = peers_found(&net, 100, info_hash);
    found.sort();
    let want_tcp = SocketAddr::new(addr_of(5).ip(), 7000);
    assert_eq!(found, vec![want_tcp, addr_of(6)]);
    // An unrelated info-hash has no peers.
    let other = NodeId([0x11; 20]);
    net.nodes[100].get_peers(net.now, other).unwrap();
    net.run_for(Duration::from_secs(20));
    assert!(lookup_done(&net, 100, other).is_some());
    assert!(peers_found(&net, 100, other).is_empty());
}

#[test]
fn restored_node_rejoins_with_its_id_without_bootstrap_nodes() {
    let mut net = bootstrapped(60);
    let snap = net.nodes[30].routing_table_snapshot();
    let old_id = net.nodes[30].id();
    // Restart node 30 with no bootstrap address at all: only the snapshot.
    let restored = Dht::restore(config(30, vec![]), net.now, &snap);
    assert_eq!(restored.id(), old_id);
    net.replace(30, restored);
    net.run_for(Duration::from_secs(30));
    assert!(net.events[30]
        .iter()
        .any(|e| matches!(e, Event::Bootstrapped { nodes } if *nodes >= 8)));
    assert!(
        net.nodes[30]
            .table()
            .nodes()
            .filter(|n| n.verified())
            .count()
            >= 8
    );
    // A corrupt snapshot is a cold start, and the bootstrap nodes still work.
    let fresh = Dht::restore(
        config(31, vec![addr_of(0)]),
        net.now,
        &snap[..snap.len() / 3],
    );
    assert_ne!(
        fresh.id(),
        old_id,
        "a corrupt snapshot must not lend its id"
    );
    net.replace(31, fresh);
    net.run_for(Duration::from_secs(30));
    assert!(net.nodes[31].table().len() >= 8);
}

#[test]
fn lookups_survive_churn() {
    let mut net = bootstrapped(N);
    let info_hash = NodeId([0xc4; 20]);
    net.nodes[3]
        .announce(net.now, info_hash, Some(6000))
        .unwrap();
    net.run_for(Duration::from_secs(20));
    // A fifth of the network leaves (not the announcer or the asker).
    for i in (10..N).step_by(5) {
        net.offline.insert(i);
    }
    net.run_for(Duration::from_secs(20 * 60));
    // Tables noticed: no online node keeps a departed node as good.
    let now = net.now;
    for (i, node) in net.nodes.iter().enumerate() {
        if net.offline.contains(&i) {
            continue;
        }
        for n in node.table().nodes() {
            let j = n.info.addr.ip().to_string();
            let gone = net
                .offline
                .iter()
                .any(|&k| addr_of(k).ip().to_string() == j);
            if gone {
                assert_ne!(n.state(now), seedcore_dht::routing::NodeState::Good);
            }
        }
    }
    // Re-announce (as a seed does every ~15 min), then look up from elsewhere.
    net.nodes[3]
        .announce(net.now, info_hash, Some(6000))
        .unwrap();
    net.run_for(Duration::from_secs(20));
    net.nodes[7].get_peers(net.now, info_hash).unwrap();
    net.run_for(Duration::from_secs(30));
    assert_eq!(
        peers_found(&net, 7, info_hash),
        vec![SocketAddr::new(addr_of(3).ip(), 6000)]
    );
}
