use super::*;

/// A simulated shard: peers with the stats a session would report, updated
/// as the choker's decisions are applied.
struct Sim {
    t0: Instant,
    peers: Vec<ChokePeer<u32>>,
    /// Seconds each peer spent unchoked.
    unchoked_secs: Vec<u64>,
}

fn stats(t0: Instant) -> PeerStats {
    PeerStats {
        connected_at: t0,
        uploaded: 0,
        sent: 0,
        received: 0,
        upload_rate: 0,
        peer_pieces: 0,
        piece_count: 100,
        interested: true,
        choked: true,
        unchoked_at: None,
        uploaded_since_unchoke: 0,
        queued_requests: 0,
        requests: 0,
        refused_requests: 0,
        input_pauses: 0,
        last_received: t0,
        hash_requests: 0,
    }
}

impl Sim {
    fn new(n: u32) -> Sim {
        let t0 = Instant::now();
        Sim {
            t0,
            peers: (0..n)
                .map(|key| ChokePeer {
                    key,
                    stats: stats(t0),
                })
                .collect(),
            unchoked_secs: vec![0; n as usize],
        }
    }

    /// Runs the choker every 10 s for `rounds` rounds; returns the most
    /// peers unchoked at once.
    fn run(&mut self, choker: &mut Choker<u32>, rounds: u32) -> usize {
        self.run_from(choker, 0, rounds)
    }

    fn run_from(&mut self, choker: &mut Choker<u32>, first: u32, rounds: u32) -> usize {
        let mut most = 0;
        for round in first..rounds {
            let now = self.t0 + RECHOKE_INTERVAL * round;
            for d in choker.rechoke(now, &self.peers) {
                let p = &mut self.peers[d.key as usize].stats;
                p.choked = d.choke;
                if !d.choke {
                    p.unchoked_at = Some(now);
                    p.uploaded_since_unchoke = 0;
                }
            }
            let unchoked = self.peers.iter().filter(|p| !p.stats.choked).count();
            most = most.max(unchoked);
            for (i, p) in self.peers.iter_mut().enumerate() {
                if !p.stats.choked {
                    self.unchoked_secs[i] += RECHOKE_INTERVAL.as_secs();
                    // 100 KiB/s each while unchoked.
                    p.stats.uploaded_since_unchoke += 1_024_000;
                    p.stats.uploaded += 1_024_000;
                }
            }
        }
        most
    }
}

#[test]
fn unlimited_unchokes_every_interested_peer() {
    let mut sim = Sim::new(5);
    sim.peers[2].stats.interested = false;
    let mut c = Choker::new(ChokerConfig::default());
    let d = c.rechoke(sim.t0, &sim.peers);
    let keys: Vec<u32> = d.iter().map(|d| d.key).collect();
    assert_eq!(keys, [0, 1, 3, 4]);
    assert!(d.iter().all(|d| !d.choke));
}

#[test]
fn round_robin_is_fair_and_respects_slots() {
    let mut sim = Sim::new(10);
    let mut c = Choker::new(ChokerConfig {
        slots: Some(3),
        ..ChokerConfig::default()
    });
    // One hour of rechokes.
    let most = sim.run(&mut c, 360);
    assert!(most <= 3, "{most} unchoked at once");
    let total: u64 = sim.unchoked_secs.iter().sum();
    // The slots were always used.
    assert!(total >= 3 * 3600 - 30, "slots idle: {total}");
    let min = *sim.unchoked_secs.iter().min().unwrap();
    let max = *sim.unchoked_secs.iter().max().unwrap();
    // Fair: every peer got ~3/10 of the time; the spread is a few turns.
    assert!(min >= 1020, "{:?}", sim.unchoked_secs);
    assert!(max - min <= 60, "{:?}", sim.unchoked_secs);
}

#[test]
fn rotation_happens_only_when_others_wait() {
    let mut sim = Sim::new(2);
    let mut c = Choker::new(ChokerConfig {
        slots: Some(4),
        ..ChokerConfig::default()
    });
    sim.run(&mut c, 100);
    // Both always unchoked: 100 rounds of 10 s.
    assert_eq!(sim.unchoked_secs, [1000, 1000]);
}

#[test]
fn uninterested_peers_lose_their_slot() {
    let mut sim = Sim::new(3);
    let mut c = Choker::new(ChokerConfig {
        slots: Some(2),
        ..ChokerConfig::default()
    });
    sim.run(&mut c, 1);
    let unchoked: Vec<u32> = sim
        .peers
        .iter()
        .filter(|p| !p.stats.choked)
        .map(|p| p.key)
        .collect();
    assert_eq!(unchoked.len(), 2);
    let gone = unchoked[0];
    sim.peers[gone as usize].stats.interested = false;
    let d = c.rechoke(sim.t0 + RECHOKE_INTERVAL, &sim.peers);
    assert!(d.contains(&ChokeDecision {
        key: gone,
        choke: true
    }));
    assert_eq!(d.iter().filter(|d| !d.choke).count(), 1);
}

#[test]
fn optimistic_slot_moves_every_interval() {
    let mut sim = Sim::new(6);
    let mut c = Choker::new(ChokerConfig {
        slots: Some(2),
        turn: Duration::from_secs(3600),
        turn_bytes: None,
        ..ChokerConfig::default()
    });
    let mut seen = Vec::new();
    for round in 0..12u32 {
        let now = sim.t0 + RECHOKE_INTERVAL * round;
        for d in c.rechoke(now, &sim.peers) {
            let p = &mut sim.peers[d.key as usize].stats;
            p.choked = d.choke;
            if !d.choke {
                p.unchoked_at = Some(now);
            }
        }
        if let Some(o) = c.optimistic() {
            if seen.last() != Some(o) {
                seen.push(*o);
            }
        }
    }
    // 120 s at 30 s per optimistic turn: four different holders, none of
    // them the regular peer (whose turn lasts an hour here).
    assert_eq!(seen.len(), 4, "{seen:?}");
    let regular: Vec<u32> = sim
        .peers
        .iter()
        .filter(|p| !p.stats.choked && Some(&p.key) != c.optimistic())
        .map(|p| p.key)
        .collect();
    assert_eq!(regular.len(), 1);
    assert!(!seen.contains(&regular[0]));
}

#[test]
fn anti_leech_favours_the_ends() {
    let mut sim = Sim::new(9);
    // Peers 0..3 just started, 3..6 half way, 6..9 nearly done.
    for (i, p) in sim.peers.iter_mut().enumerate() {
        p.stats.peer_pieces = match i {
            0..=2 => 2,
            3..=5 => 50,
            _ => 97,
        };
    }
    let mut c = Choker::new(ChokerConfig {
        slots: Some(3),
        anti_leech: true,
        ..ChokerConfig::default()
    });
    sim.run(&mut c, 360);
    let ends: u64 = sim.unchoked_secs[0..3]
        .iter()
        .chain(&sim.unchoked_secs[6..9])
        .sum();
    let middle: u64 = sim.unchoked_secs[3..6].iter().sum();
    assert!(ends / 2 > middle, "{:?}", sim.unchoked_secs);
    // No starvation.
    assert!(
        sim.unchoked_secs[3..6].iter().all(|&s| s > 0),
        "{:?}",
        sim.unchoked_secs
    );
}
