//! The hostile population: each behaviour is a loop on its own thread,
//! bounded by the run's deadline and a stop flag, sleeping between
//! actions so that it costs the machine little while it costs a careless
//! seed a lot.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use seedcore_protocol::ext::{LtMetadata, UtMetadata};
use seedcore_protocol::wire::{BlockRequest, HashRequest, Message};

use super::peer::{connect, Peer};
use crate::net::source_addr;
use crate::rng::Rng;

/// What a hostile peer needs to know about one torrent.
#[derive(Clone, Debug)]
pub struct Target {
    /// Handshake hash.
    pub info_hash: [u8; 20],
    /// Piece count, for requests.
    pub pieces: u32,
    /// Piece length, for requests.
    pub piece_length: u32,
    /// The size of the info dictionary.
    pub metadata_size: u32,
    /// v2 `pieces root`s of its files (hash requests), empty for v1.
    pub roots: Vec<[u8; 32]>,
}

/// Counters of one behaviour.
#[derive(Default, Debug)]
pub struct Stats {
    /// Connections made.
    pub connects: AtomicU64,
    /// Connections that failed to open or to handshake.
    pub failed: AtomicU64,
    /// Connections the seed closed (or reset) under us.
    pub closed_by_seed: AtomicU64,
    /// Bytes read from the seed.
    pub bytes_in: AtomicU64,
    /// Requests and other messages sent.
    pub sent: AtomicU64,
    /// Sum of how long connections the seed closed had lived (ms).
    pub lifetime_ms_sum: AtomicU64,
    /// The longest of those lives (ms).
    pub lifetime_ms_max: AtomicU64,
}

impl Stats {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds `n` to a counter.
    pub fn add_pub(c: &AtomicU64, n: u64) {
        Stats::add(c, n);
    }
    fn closed(&self, lived: Duration) {
        let ms = u64::try_from(lived.as_millis()).unwrap_or(u64::MAX);
        Stats::add(&self.closed_by_seed, 1);
        Stats::add(&self.lifetime_ms_sum, ms);
        self.lifetime_ms_max.fetch_max(ms, Ordering::Relaxed);
    }
    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let closed = g(&self.closed_by_seed);
        serde_json::json!({
            "connects": g(&self.connects),
            "failed": g(&self.failed),
            "closed_by_seed": closed,
            "bytes_in": g(&self.bytes_in),
            "sent": g(&self.sent),
            "mean_lifetime_s_when_closed": if closed > 0 { g(&self.lifetime_ms_sum) as f64 / closed as f64 / 1000.0 } else { 0.0 },
            "max_lifetime_s_when_closed": g(&self.lifetime_ms_max) as f64 / 1000.0,
        })
    }
}

/// Everything the behaviours share.
pub struct Ctx {
    /// The seed's address.
    pub seed: SocketAddr,
    /// The good leecher's torrent (downloaders, churners, never-readers...).
    pub main: Target,
    /// The torrent with the large info dictionary.
    pub big: Target,
    /// The hybrid torrent.
    pub hybrid: Target,
    /// When the hostile phase ends.
    pub deadline: Instant,
    /// Set to end it early.
    pub stop: Arc<AtomicBool>,
}

impl Ctx {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }
    /// Sleeps up to `d`, less if the run ends.
    fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while self.running() && Instant::now() < end {
            thread::sleep(
                Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
            );
        }
    }
}

/// A random byte.
pub fn byte(rng: &mut Rng) -> u8 {
    rng.next_u64().to_le_bytes()[0]
}

fn peer_id(tag: u8, i: usize) -> [u8; 20] {
    let mut id = *b"-HO0001-000000000000";
    id[8] = tag;
    id[12..20].copy_from_slice(&(i as u64).to_be_bytes());
    id
}

fn source(base: usize, i: usize, seed: SocketAddr) -> Option<IpAddr> {
    source_addr(base + i, seed)
}

/// How many of each behaviour to run.
#[derive(Clone, Debug)]
pub struct Population {
    /// Honest downloaders at about 2 MB/s each.
    pub downloaders: usize,
    /// Connect, request, hang up, ten times a second each.
    pub churners: usize,
    /// Threads of 100 connections that request and never read.
    pub never_readers: usize,
    /// Threads of 100 connections that dribble a byte at a time.
    pub slowloris: usize,
    /// Senders of random bytes and absurd frames.
    pub garbage: usize,
    /// ut_metadata / LT_metadata request bursts on the big torrent.
    pub metadata: usize,
    /// BEP 52 hash request bursts on the hybrid torrent.
    pub hashes: usize,
}

/// Starts every behaviour; the returned threads end by the deadline.
pub fn start(
    ctx: &Arc<Ctx>,
    pop: &Population,
) -> (
    Vec<thread::JoinHandle<()>>,
    BTreeMap<&'static str, Arc<Stats>>,
) {
    type Behaviour = fn(&Ctx, usize, &Stats);
    let kinds: [(&'static str, usize, usize, Behaviour); 7] = [
        ("downloader", pop.downloaders, 1000, downloader),
        ("churner", pop.churners, 2000, churner),
        ("never_reader", pop.never_readers, 3000, never_reader),
        ("slowloris", pop.slowloris, 4000, slowloris),
        ("garbage", pop.garbage, 5000, garbage),
        ("metadata", pop.metadata, 6000, metadata),
        ("hashes", pop.hashes, 7000, hashes),
    ];
    let mut threads = Vec::new();
    let mut stats = BTreeMap::new();
    for (name, count, base, f) in kinds {
        let s = Arc::new(Stats::default());
        stats.insert(name, Arc::clone(&s));
        for i in 0..count {
            let (ctx, s) = (Arc::clone(ctx), Arc::clone(&s));
            let spawn = thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || f(&ctx, base + i * 100, &s));
            if let Ok(t) = spawn {
                threads.push(t);
            }
        }
    }
    (threads, stats)
}

/// Opens and handshakes a connection for `t`, counting it.
fn open(
    ctx: &Ctx,
    s: &Stats,
    src: Option<IpAddr>,
    t: &Target,
    tag: u8,
    i: usize,
    rcvbuf: Option<usize>,
) -> Option<Peer> {
    let v2 = !t.roots.is_empty();
    let p = connect(src, ctx.seed, rcvbuf)
        .and_then(|mut p| p.handshake(t.info_hash, peer_id(tag, i), v2).map(|()| p));
    match p {
        Ok(p) => {
            Stats::add(&s.connects, 1);
            Some(p)
        }
        Err(_) => {
            Stats::add(&s.failed, 1);
            None
        }
    }
}

fn random_block(rng: &mut Rng, t: &Target) -> BlockRequest {
    let index = rng.below(t.pieces);
    let blocks = t.piece_length.div_ceil(16384).max(1);
    BlockRequest {
        index,
        begin: rng.below(blocks) * 16384,
        length: 16384,
    }
}

/// A modest, honest downloader: 8 blocks at a time, a pause between
/// rounds (about 2 MB/s), reconnecting when dropped.
fn downloader(ctx: &Ctx, id: usize, s: &Stats) {
    let mut rng = Rng::new(id as u64);
    let t = &ctx.main;
    while ctx.running() {
        let Some(mut p) = open(ctx, s, source(id, 0, ctx.seed), t, b'D', id, None) else {
            ctx.pause(Duration::from_secs(1));
            continue;
        };
        let born = Instant::now();
        let _ = p.send(&Message::Interested);
        let mut ok = true;
        while ok && ctx.running() {
            for _ in 0..8 {
                ok &= p.send(&Message::Request(random_block(&mut rng, t))).is_ok();
                Stats::add(&s.sent, 1);
            }
            let mut pieces = 0;
            let round = Instant::now() + Duration::from_secs(10);
            while ok && pieces < 8 && Instant::now() < round && ctx.running() {
                match p.read_message() {
                    Ok(Some((Some(7), n))) => {
                        pieces += 1;
                        Stats::add(&s.bytes_in, n as u64);
                    }
                    Ok(Some((Some(0x10), _))) => pieces += 1, // rejected (choked): asked again next round
                    Ok(_) => {}
                    Err(_) => ok = false,
                }
            }
            ctx.pause(Duration::from_millis(50));
        }
        if !ok {
            s.closed(born.elapsed());
        }
    }
}

/// Connects, asks for a few blocks, reads one message and hangs up: over
/// and over, from many addresses.
fn churner(ctx: &Ctx, id: usize, s: &Stats) {
    let mut rng = Rng::new(id as u64);
    let mut i = 0;
    while ctx.running() {
        i += 1;
        if let Some(mut p) = open(
            ctx,
            s,
            source(id, i % 90, ctx.seed),
            &ctx.main,
            b'C',
            id + i,
            None,
        ) {
            let _ = p.send(&Message::Interested);
            for _ in 0..4 {
                let _ = p.send(&Message::Request(random_block(&mut rng, &ctx.main)));
            }
            let _ = p.read_timeout(Duration::from_millis(300));
            let _ = p.read_message();
        }
        ctx.pause(Duration::from_millis(100));
    }
}

/// Up to 100 connections that ask for 250 blocks and never read; a keep-
/// alive a minute each tells whether the seed has closed them.
fn never_reader(ctx: &Ctx, id: usize, s: &Stats) {
    const HOLD: usize = 100;
    let mut rng = Rng::new(id as u64);
    let mut held: Vec<(Peer, Instant, Instant)> = Vec::new();
    let mut n = 0;
    while ctx.running() {
        while held.len() < HOLD && ctx.running() {
            n += 1;
            let Some(mut p) = open(
                ctx,
                s,
                source(id, n % 99, ctx.seed),
                &ctx.main,
                b'N',
                id + n,
                Some(4096),
            ) else {
                break;
            };
            let _ = p.send(&Message::Interested);
            for _ in 0..250 {
                let _ = p.send(&Message::Request(random_block(&mut rng, &ctx.main)));
            }
            Stats::add(&s.sent, 250);
            let now = Instant::now();
            held.push((p, now, now));
        }
        let now = Instant::now();
        held.retain_mut(|(p, born, poked)| {
            if now.duration_since(*poked) < Duration::from_secs(60) {
                return true;
            }
            *poked = now;
            // The write fails once the seed has closed (RST after our
            // unread data): that is the seed giving the slot back.
            let alive = p.stream.write_all(&[0, 0, 0, 0]).is_ok()
                && p.stream.take_error().ok().flatten().is_none();
            if !alive {
                s.closed(born.elapsed());
            }
            alive
        });
        ctx.pause(Duration::from_secs(1));
    }
}

/// Connections that dribble: a handshake one byte every two seconds, or
/// a handshake and then a 128 KiB message one byte a second.
fn slowloris(ctx: &Ctx, id: usize, s: &Stats) {
    const HOLD: usize = 100;
    let hs = seedcore_protocol::wire::Handshake::new(
        super::peer::reserved(false),
        ctx.main.info_hash,
        peer_id(b'S', id),
    )
    .to_bytes();
    let mut held: Vec<(Peer, Instant, usize, bool)> = Vec::new();
    let mut n = 0;
    while ctx.running() {
        while held.len() < HOLD && ctx.running() {
            n += 1;
            let slow_handshake = n % 2 == 0;
            let src = source(id, n % 99, ctx.seed);
            let p = if slow_handshake {
                connect(src, ctx.seed, None).ok()
            } else {
                open(ctx, s, src, &ctx.main, b'S', id + n, None).and_then(|mut p| {
                    // An extended message announced at 128 KiB.
                    p.stream.write_all(&[0, 2, 0, 1, 20, 1]).ok().map(|()| p)
                })
            };
            match p {
                Some(p) => {
                    let _ = p.read_timeout(Duration::from_millis(1));
                    if slow_handshake {
                        Stats::add(&s.connects, 1);
                    }
                    held.push((p, Instant::now(), 0, slow_handshake));
                }
                None => break,
            }
        }
        let now = Instant::now();
        held.retain_mut(|(p, born, sent, slow_hs)| {
            let byte = if *slow_hs {
                hs.get(*sent).copied().unwrap_or(0)
            } else {
                b'x'
            };
            *sent += 1;
            let alive = p.stream.write_all(&[byte]).is_ok() && p.drain(4096).is_ok();
            if !alive {
                s.closed(now.duration_since(*born));
            }
            alive
        });
        ctx.pause(Duration::from_secs(if n % 2 == 0 { 2 } else { 1 }));
    }
}

/// Garbage: random bytes, a valid handshake then random bytes, or frames
/// with absurd lengths; about twenty connections a second.
fn garbage(ctx: &Ctx, id: usize, s: &Stats) {
    let mut rng = Rng::new(id as u64 ^ 0x9a);
    let mut i = 0;
    while ctx.running() {
        i += 1;
        let src = source(id, i % 99, ctx.seed);
        let mut junk = vec![0u8; 64 + rng.below_usize(4096)];
        for b in &mut junk {
            *b = byte(&mut rng);
        }
        let p = match i % 3 {
            0 => connect(src, ctx.seed, None).ok(),
            _ => open(ctx, s, src, &ctx.main, b'G', id + i, None),
        };
        if let Some(mut p) = p {
            if i % 3 == 2 {
                // Frames whose length prefix is absurd for their id.
                junk.splice(0..0, [0xff, 0xff, 0xff, 0xf0, 7]);
            }
            let _ = p.stream.write_all(&junk);
            Stats::add(&s.sent, 1);
            let _ = p.read_timeout(Duration::from_millis(500));
            while let Ok(n) = p.drain(65536) {
                if n == 0 {
                    break;
                }
                Stats::add(&s.bytes_in, n as u64);
            }
        }
        ctx.pause(Duration::from_millis(50));
    }
}

/// Metadata amplification: on the torrent with the large info
/// dictionary, bursts of ut_metadata and LT_metadata requests (answers
/// far larger than the questions), then slow reading.
fn metadata(ctx: &Ctx, id: usize, s: &Stats) {
    let t = &ctx.big;
    let pieces = t.metadata_size.div_ceil(16384).max(1);
    let mut i = 0;
    while ctx.running() {
        i += 1;
        let Some(mut p) = open(
            ctx,
            s,
            source(id, i % 99, ctx.seed),
            t,
            b'M',
            id + i,
            Some(16384),
        ) else {
            ctx.pause(Duration::from_secs(1));
            continue;
        };
        let born = Instant::now();
        let mut burst = Vec::new();
        let mut ok = p.extended_handshake().is_ok();
        for k in 0..200u32 {
            let payload = UtMetadata::Request { piece: k % pieces }
                .to_vec()
                .unwrap_or_default();
            let _ = Message::Extended {
                id: 2,
                payload: &payload,
            }
            .encode(&mut burst);
        }
        for _ in 0..50 {
            let payload = LtMetadata::Request {
                start: 0,
                size: 256,
            }
            .to_vec()
            .unwrap_or_default();
            let _ = Message::Extended {
                id: 14,
                payload: &payload,
            }
            .encode(&mut burst);
        }
        ok &= p.stream.write_all(&burst).is_ok();
        Stats::add(&s.sent, 250);
        let _ = p.read_timeout(Duration::from_millis(100));
        let end = Instant::now() + Duration::from_secs(10);
        while ok && Instant::now() < end && ctx.running() {
            match p.drain(16384) {
                Ok(n) => Stats::add(&s.bytes_in, n as u64),
                Err(_) => ok = false,
            }
            ctx.pause(Duration::from_millis(100));
        }
        if !ok {
            s.closed(born.elapsed());
        }
    }
}

/// BEP 52 hash requests in bursts (largest answers, full proofs, and
/// invalid lengths) on the hybrid torrent, read slowly.
fn hashes(ctx: &Ctx, id: usize, s: &Stats) {
    let t = &ctx.hybrid;
    let mut i = 0;
    while ctx.running() && !t.roots.is_empty() {
        i += 1;
        let Some(mut p) = open(
            ctx,
            s,
            source(id, i % 99, ctx.seed),
            t,
            b'H',
            id + i,
            Some(16384),
        ) else {
            ctx.pause(Duration::from_secs(1));
            continue;
        };
        let born = Instant::now();
        let mut burst = Vec::new();
        for k in 0..300u32 {
            let root = t.roots[k as usize % t.roots.len()];
            let (length, index) = if k % 10 == 9 { (3, 0) } else { (512, 0) };
            let r = HashRequest {
                pieces_root: root,
                base_layer: 0,
                index,
                length,
                proof_layers: 20,
            };
            let _ = Message::HashRequest(r).encode(&mut burst);
        }
        let mut ok = p.stream.write_all(&burst).is_ok();
        Stats::add(&s.sent, 300);
        let _ = p.read_timeout(Duration::from_millis(100));
        let end = Instant::now() + Duration::from_secs(10);
        while ok && Instant::now() < end && ctx.running() {
            match p.drain(16384) {
                Ok(n) => Stats::add(&s.bytes_in, n as u64),
                Err(_) => ok = false,
            }
            ctx.pause(Duration::from_millis(100));
        }
        if !ok {
            s.closed(born.elapsed());
        }
    }
}
