//! Routing table invariants and BEP 5 placement rules.

use super::*;
use crate::rng::Rng;
use proptest::prelude::{any, proptest};

fn info(id: NodeId, n: u32) -> NodeInfo {
    let [a, b, c, d] = n.to_be_bytes();
    NodeInfo {
        id,
        addr: SocketAddr::from(([10, a.wrapping_add(b), c, d], 6881)),
    }
}

fn id_with_first_byte(b0: u8, fill: u8) -> NodeId {
    let mut x = [fill; 20];
    x[0] = b0;
    NodeId(x)
}

fn check_invariants(t: &RoutingTable) {
    let last = t.bucket_count() - 1;
    assert!(t.bucket_count() <= MAX_BUCKETS);
    for (i, b) in t.buckets.iter().enumerate() {
        assert!(b.nodes.len() <= K, "bucket {i} has {}", b.nodes.len());
        assert!(b.replacements.len() <= K);
        for n in b.nodes.iter().chain(&b.replacements) {
            let p = t.own.common_prefix(&n.info.id);
            if i == last {
                assert!(p >= i);
            } else {
                assert_eq!(p, i);
            }
        }
    }
    let mut ids: Vec<NodeId> = t.nodes().map(|n| n.info.id).collect();
    let len = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), len, "duplicate ids");
    assert!(len <= MAX_BUCKETS * K);
}

#[test]
fn splits_only_the_own_bucket() {
    let now = Instant::now();
    let mut t = RoutingTable::new(NodeId([0; 20]), now);
    // Eight nodes in the far half (first bit 1) fill the only bucket.
    for i in 0..8u8 {
        let r = t.insert(
            info(id_with_first_byte(0x80 | i, i), u32::from(i)),
            now,
            Contact::Responded,
        );
        assert_eq!(r, Insert::Added);
    }
    assert_eq!(t.bucket_count(), 1);
    // A ninth far node splits the bucket (it holds our id); all eight land
    // in the far bucket, which cannot split again: the ninth is cached.
    let r = t.insert(
        info(id_with_first_byte(0xF0, 9), 9),
        now,
        Contact::Responded,
    );
    assert_eq!(r, Insert::Cached { ping: None });
    assert_eq!(t.bucket_count(), 2);
    assert_eq!(t.bucket_sizes(), vec![(8, 1), (0, 0)]);
    // Near nodes still fit.
    let r = t.insert(
        info(id_with_first_byte(0x01, 1), 100),
        now,
        Contact::Responded,
    );
    assert_eq!(r, Insert::Added);
    check_invariants(&t);
}

#[test]
fn bad_nodes_are_replaced_from_the_cache() {
    let now = Instant::now();
    let mut t = RoutingTable::new(NodeId([0; 20]), now);
    let far: Vec<NodeInfo> = (0..9u8)
        .map(|i| info(id_with_first_byte(0x80 | i, i), u32::from(i)))
        .collect();
    for n in &far {
        t.insert(*n, now, Contact::Responded);
    }
    let victim = far[0];
    let spare = far[8];
    assert!(t.get(&spare.id).is_none());
    t.failed(&victim.id, &victim.addr, now);
    assert_eq!(
        t.get(&victim.id).map(|n| n.state(now)),
        Some(NodeState::Questionable)
    );
    t.failed(&victim.id, &victim.addr, now);
    assert!(t.get(&victim.id).is_none(), "bad node stays");
    assert!(t.get(&spare.id).is_some(), "replacement not promoted");
    check_invariants(&t);
}

#[test]
fn unverified_nodes_make_way_for_ones_that_answer() {
    let now = Instant::now();
    let mut t = RoutingTable::new(NodeId([0; 20]), now);
    t.insert(
        info(id_with_first_byte(0x01, 0), 1000),
        now,
        Contact::Responded,
    );
    for i in 0..8u8 {
        t.insert(
            info(id_with_first_byte(0x80 | i, i), u32::from(i)),
            now,
            Contact::Heard,
        );
    }
    assert_eq!(t.bucket_sizes()[0], (8, 0));
    let newcomer = info(id_with_first_byte(0xC0, 42), 42);
    assert_eq!(t.insert(newcomer, now, Contact::Responded), Insert::Added);
    assert!(t.get(&newcomer.id).is_some_and(Node::verified));
    // A heard-of node that never answers is dropped after one failure.
    let dead = t.nodes().find(|n| !n.verified()).map(|n| n.info).unwrap();
    t.failed(&dead.id, &dead.addr, now);
    assert!(t.get(&dead.id).is_none());
    check_invariants(&t);
}

#[test]
fn states_follow_bep5_timing() {
    let now = Instant::now();
    let mut t = RoutingTable::new(NodeId([0; 20]), now);
    let n = info(id_with_first_byte(0x80, 1), 1);
    t.insert(n, now, Contact::Responded);
    let state = |t: &RoutingTable, at| t.get(&n.id).map(|x| x.state(at));
    assert_eq!(state(&t, now), Some(NodeState::Good));
    let later = now + GOOD_FOR + Duration::from_secs(1);
    assert_eq!(state(&t, later), Some(NodeState::Questionable));
    assert_eq!(t.ping_candidates(later), vec![n]);
    // It queried us: good again (it has answered before).
    t.insert(n, later, Contact::Queried);
    assert_eq!(state(&t, later), Some(NodeState::Good));
    // Same id from another address is not taken over.
    let moved = NodeInfo {
        addr: "10.9.9.9:1".parse().unwrap(),
        ..n
    };
    assert_eq!(t.insert(moved, later, Contact::Responded), Insert::Rejected);
    // Our own id never enters.
    assert_eq!(
        t.insert(info(NodeId([0; 20]), 5), now, Contact::Responded),
        Insert::Rejected
    );
}

#[test]
fn closest_is_sorted_and_skips_bad_nodes() {
    let now = Instant::now();
    let mut rng = Rng::new(3);
    let mut t = RoutingTable::new(NodeId::random(&mut rng), now);
    for i in 0..300 {
        t.insert(info(NodeId::random(&mut rng), i), now, Contact::Responded);
    }
    let target = NodeId::random(&mut rng);
    let c = t.closest(&target, 8, false, now);
    assert_eq!(c.len(), 8);
    assert!(c
        .windows(2)
        .all(|w| w[0].id.distance(&target) < w[1].id.distance(&target)));
    let mut all: Vec<NodeInfo> = t.nodes().map(|n| n.info).collect();
    all.sort_by_key(|n| n.id.distance(&target));
    assert_eq!(c, all[..8].to_vec());
    for _ in 0..MAX_FAILURES {
        t.failed(&c[0].id, &c[0].addr, now);
    }
    assert!(!t.closest(&target, 8, false, now).contains(&c[0]));
    assert!(t.closest(&target, 8, true, now).is_empty());
    check_invariants(&t);
}

#[test]
fn refresh_targets_fall_in_their_buckets() {
    let now = Instant::now();
    let mut rng = Rng::new(5);
    let mut t = RoutingTable::new(NodeId::random(&mut rng), now);
    for i in 0..200 {
        t.insert(info(NodeId::random(&mut rng), i), now, Contact::Responded);
    }
    assert!(t.refresh_targets(now, &mut rng).is_empty());
    let later = now + GOOD_FOR;
    let targets = t.refresh_targets(later, &mut rng);
    assert_eq!(targets.len(), t.bucket_count());
    let last = t.bucket_count() - 1;
    for (i, target) in targets.iter().enumerate() {
        let p = t.own.common_prefix(target);
        assert!(if i == last { p >= i } else { p == i });
    }
    assert!(t.refresh_targets(later, &mut rng).is_empty());
}

proptest! {
    #[test]
    fn invariants_hold_under_any_sequence(
        own in any::<[u8; 20]>(),
        ops in proptest::collection::vec((any::<[u8; 20]>(), 0u8..4, 0u32..64, 0u64..4000), 1..400),
    ) {
        let start = Instant::now();
        let mut t = RoutingTable::new(NodeId(own), start);
        let mut seen = Vec::new();
        for (id, op, addr, secs) in ops {
            let now = start + Duration::from_secs(secs);
            // Some ids close to ours to exercise deep splits.
            let mut id = id;
            if op == 3 { id[..4].copy_from_slice(&own[..4]); }
            let n = info(NodeId(id), addr);
            match op {
                0 => { t.insert(n, now, Contact::Heard); }
                1 | 3 => { t.insert(n, now, Contact::Responded); seen.push(n); }
                _ => {
                    if let Some(s) = seen.get(usize::try_from(addr).unwrap_or(0) % seen.len().max(1)) {
                        t.failed(&s.id, &s.addr, now);
                    }
                }
            }
        }
        check_invariants(&t);
    }
}
