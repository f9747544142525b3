use super::*;
use crate::load::depth::{DepthMode, REQQ_ABSENT};
use crate::load::stats::ThreadStats;
use seedcore_protocol::metainfo::{build::TorrentBuilder, Metainfo};
use seedcore_protocol::wire::decode_all;

const PL: u32 = 32768;

fn setup() -> (Vec<u8>, Torrent) {
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13 % 253) as u8).collect();
    let hashes = data.chunks(PL as usize).map(seedcore_hash::sha1).collect();
    let bytes = TorrentBuilder::new("t", PL)
        .file(vec![], data.len() as u64)
        .v1_pieces(hashes)
        .build()
        .unwrap();
    (
        data,
        Torrent::from_meta(Metainfo::from_bytes(&bytes).unwrap()),
    )
}

fn cfg(depth: u32) -> SessionConfig {
    cfg_with(DepthConfig {
        mode: DepthMode::Fixed(depth),
        ..DepthConfig::default()
    })
}

fn cfg_with(depth: DepthConfig) -> SessionConfig {
    SessionConfig {
        depth,
        order: Order::Sequential,
        verify: true,
        idle: false,
    }
}

struct Harness {
    s: Session,
    stats: ThreadStats,
    bytes: u64,
    t0: Instant,
}

impl Harness {
    fn new(t: &Torrent, depth: u32) -> Harness {
        Harness::with(t, cfg(depth))
    }

    fn with(t: &Torrent, c: SessionConfig) -> Harness {
        let t0 = Instant::now();
        Harness {
            s: Session::new(t, &c, *b"-SB0001-000000000000", 1, t0),
            stats: ThreadStats::default(),
            bytes: 0,
            t0,
        }
    }

    /// Feeds `input` and returns the consumed count.
    fn feed(&mut self, t: &Torrent, input: &[u8]) -> Result<usize, SessionError> {
        self.feed_at(t, input, Duration::from_millis(5))
    }

    /// Feeds `input` at `t0 + at`.
    fn feed_at(&mut self, t: &Torrent, input: &[u8], at: Duration) -> Result<usize, SessionError> {
        let mut ctx = Ctx {
            torrent: t,
            stats: &mut self.stats,
            now: self.t0 + at,
            peer_bytes: &mut self.bytes,
        };
        self.s.on_bytes(input, &mut ctx)
    }

    /// Lets time pass to `t0 + at`.
    fn time(&mut self, t: &Torrent, at: Duration) {
        let mut ctx = Ctx {
            torrent: t,
            stats: &mut self.stats,
            now: self.t0 + at,
            peer_bytes: &mut self.bytes,
        };
        self.s.on_time(&mut ctx);
    }

    /// Takes the queued output as messages (after skipping `skip` bytes).
    fn sent(&mut self, skip: usize) -> Vec<Message<'static>> {
        let out = std::mem::take(&mut self.s.out);
        let body: &'static [u8] = Vec::leak(out[skip..].to_vec());
        let (msgs, used) = decode_all(body, &Limits::default()).unwrap();
        assert_eq!(used, body.len());
        msgs
    }
}

fn seeder_handshake(t: &Torrent, reserved: Reserved) -> Vec<u8> {
    Handshake::new(reserved, t.info_hash, *b"-RS0001-abcdefghijkl")
        .to_bytes()
        .to_vec()
}

fn msg(m: Message<'_>) -> Vec<u8> {
    m.to_vec().unwrap()
}

fn block_msg(data: &[u8], r: &BlockRequest) -> Vec<u8> {
    let off = (r.index * PL + r.begin) as usize;
    msg(Message::Piece {
        index: r.index,
        begin: r.begin,
        data: &data[off..off + r.length as usize],
    })
}

fn requests(msgs: &[Message<'_>]) -> Vec<BlockRequest> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Request(r) => Some(*r),
            _ => None,
        })
        .collect()
}

#[test]
fn full_exchange_fetches_and_verifies_everything() {
    let (data, t) = setup();
    let mut h = Harness::new(&t, 64);
    assert_eq!(&h.s.out[..20], b"\x13BitTorrent protocol");
    assert_eq!(h.s.out[25] & 0x10, 0x10, "LTEP bit");
    assert_eq!(h.s.out[27] & 0x04, 0x04, "fast bit");
    let mut input = seeder_handshake(&t, our_reserved());
    let ext = ExtendedHandshake {
        reqq: Some(3),
        ..Default::default()
    };
    input.extend(msg(Message::Extended {
        id: 0,
        payload: &ext.to_bytes().unwrap(),
    }));
    input.extend(msg(Message::HaveAll));
    input.extend(msg(Message::Unchoke));
    input.extend([0, 0, 0]); // part of a next message stays unconsumed
    assert_eq!(h.feed(&t, &input).unwrap(), input.len() - 3);
    let msgs = h.sent(HANDSHAKE_LEN);
    assert_eq!(msgs[0], Message::HaveNone);
    assert!(matches!(msgs[1], Message::Extended { id: 0, .. }));
    assert_eq!(msgs[2], Message::Interested);
    let reqs = requests(&msgs);
    assert_eq!(reqs.len(), 3, "depth clamped to the seeder's reqq");
    assert_eq!(
        (reqs[0].index, reqs[0].begin, reqs[0].length),
        (0, 0, 16384)
    );

    // Serve requests until the whole torrent went by once.
    let mut pending = reqs;
    for _ in 0..20 {
        let mut answer = Vec::new();
        for r in &pending {
            answer.extend(block_msg(&data, r));
        }
        assert_eq!(h.feed(&t, &answer).unwrap(), answer.len());
        let msgs = h.sent(0);
        pending = requests(&msgs);
    }
    let c = &h.stats.counters;
    assert!(c.pieces_completed >= 4);
    assert_eq!(c.pieces_verified, c.pieces_completed);
    assert_eq!(c.hash_failures, 0);
    assert_eq!(c.handshakes, 1);
    assert_eq!(h.bytes, c.data_bytes);
    assert_eq!(h.stats.latency.len(), c.blocks);
}

#[test]
fn byte_at_a_time_input_gives_the_same_result() {
    let (_, t) = setup();
    let mut h = Harness::new(&t, 4);
    let mut input = seeder_handshake(&t, Reserved::EMPTY);
    input.extend(msg(Message::Bitfield(&[0b0100_0000])));
    input.extend(msg(Message::Unchoke));
    let mut buf = Vec::new();
    for b in input {
        buf.push(b);
        let used = h.feed(&t, &buf).unwrap();
        buf.drain(..used);
    }
    assert!(buf.is_empty());
    let msgs = h.sent(HANDSHAKE_LEN);
    assert_eq!(
        msgs[0],
        Message::Interested,
        "no fast, no LTEP: just interested"
    );
    let reqs = requests(&msgs);
    assert_eq!(reqs.len(), 2, "only piece 1 is there: two blocks");
    assert!(reqs.iter().all(|r| r.index == 1));
}

#[test]
fn choke_and_reject_lead_to_re_requests() {
    let (data, t) = setup();
    let mut h = Harness::new(&t, 4);
    let mut input = seeder_handshake(&t, our_reserved());
    input.extend(msg(Message::HaveAll));
    input.extend(msg(Message::Unchoke));
    h.feed(&t, &input).unwrap();
    let first = requests(&h.sent(HANDSHAKE_LEN));
    assert_eq!(first.len(), 4);

    // Choke: nothing new is requested; unchoke: the same four again.
    h.feed(&t, &msg(Message::Choke)).unwrap();
    assert!(h.sent(0).is_empty());
    assert_eq!(h.s.in_flight(), 0);
    h.feed(&t, &msg(Message::Unchoke)).unwrap();
    let mut again = requests(&h.sent(0));
    again.sort_by_key(|r| (r.index, r.begin));
    assert_eq!(again, first);

    // A reject puts one back and it is asked for again.
    h.feed(&t, &msg(Message::RejectRequest(first[2]))).unwrap();
    assert_eq!(requests(&h.sent(0)), vec![first[2]]);
    // A block served twice: the second copy is unexpected, not an error.
    let b = block_msg(&data, &first[0]);
    h.feed(&t, &b).unwrap();
    h.feed(&t, &b).unwrap();
    let c = &h.stats.counters;
    assert_eq!((c.chokes, c.unchokes, c.rejects), (1, 2, 1));
    assert_eq!((c.blocks, c.unexpected_blocks), (2, 1));
}

#[test]
fn broken_seeders_are_errors_of_the_right_kind() {
    let (_, t) = setup();
    let mut h = Harness::new(&t, 4);
    let mut other = seeder_handshake(&t, our_reserved());
    other[30] ^= 0xFF;
    let e = h.feed(&t, &other).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::HandshakeFailed);
    assert!(e.to_string().contains("info-hash"), "{e}");

    let mut h = Harness::new(&t, 4);
    assert_eq!(
        h.feed(&t, b"HTTP/1.1 200 OK").unwrap_err().kind(),
        ErrorKind::HandshakeFailed
    );

    for bad in [
        msg(Message::Bitfield(&[0xFF, 0xFF])),
        msg(Message::Have { index: 4 }),
        vec![0xFF, 0, 0, 0, 7],
    ] {
        let mut h = Harness::new(&t, 4);
        let mut input = seeder_handshake(&t, our_reserved());
        input.extend(bad);
        assert_eq!(
            h.feed(&t, &input).unwrap_err().kind(),
            ErrorKind::ProtocolError
        );
    }

    // A block of the wrong size for its request.
    let mut h = Harness::new(&t, 1);
    let mut input = seeder_handshake(&t, our_reserved());
    input.extend(msg(Message::HaveAll));
    input.extend(msg(Message::Unchoke));
    h.feed(&t, &input).unwrap();
    let r = requests(&h.sent(HANDSHAKE_LEN))[0];
    let short = msg(Message::Piece {
        index: r.index,
        begin: r.begin,
        data: &[1, 2, 3],
    });
    assert_eq!(
        h.feed(&t, &short).unwrap_err().kind(),
        ErrorKind::ProtocolError
    );
}

#[test]
fn keepalive_only_when_idle() {
    let (_, t) = setup();
    let mut h = Harness::new(&t, 1);
    h.feed(&t, &seeder_handshake(&t, Reserved::EMPTY)).unwrap();
    h.sent(HANDSHAKE_LEN);
    h.s.keepalive_if_idle(h.t0 + Duration::from_secs(1), Duration::from_secs(30));
    assert!(h.s.out.is_empty());
    h.s.keepalive_if_idle(h.t0 + Duration::from_secs(31), Duration::from_secs(30));
    assert_eq!(h.sent(0), vec![Message::KeepAlive]);
    h.feed(&t, &msg(Message::KeepAlive)).unwrap();
    assert_eq!(h.stats.counters.keepalives, 1);
}

#[test]
fn idle_peers_handshake_then_stay_silent() {
    let (_, t) = setup();
    let t0 = Instant::now();
    let idle = SessionConfig {
        idle: true,
        ..cfg(64)
    };
    let mut h = Harness {
        s: Session::new(&t, &idle, *b"-SB0001-000000000000", 1, t0),
        stats: ThreadStats::default(),
        bytes: 0,
        t0,
    };
    let mut input = seeder_handshake(&t, our_reserved());
    input.extend(msg(Message::HaveAll));
    input.extend(msg(Message::Unchoke));
    h.feed(&t, &input).unwrap();
    let msgs = h.sent(HANDSHAKE_LEN);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0], Message::HaveNone);
    assert!(matches!(msgs[1], Message::Extended { id: 0, .. }));
    assert_eq!(h.stats.counters.handshakes, 1);
    assert_eq!(
        h.stats.counters.requests, 0,
        "never interested, never a request"
    );
    h.feed(&t, &msg(Message::Unchoke)).unwrap();
    assert!(h.s.out.is_empty());
}

/// The seeder's opening: handshake, extended handshake with `reqq`
/// (none: no `reqq` key), have-all, unchoke.
fn opening(t: &Torrent, reqq: Option<u32>) -> Vec<u8> {
    let mut input = seeder_handshake(t, our_reserved());
    let ext = ExtendedHandshake {
        reqq,
        ..Default::default()
    };
    input.extend(msg(Message::Extended {
        id: 0,
        payload: &ext.to_bytes().unwrap(),
    }));
    input.extend(msg(Message::HaveAll));
    input.extend(msg(Message::Unchoke));
    input
}

fn big_torrent() -> Torrent {
    // 64 pieces of 1 MiB (4,096 blocks): deeper than any test pipeline.
    let hashes = vec![[0u8; 20]; 64];
    let bytes = TorrentBuilder::new("big", 1 << 20)
        .file(vec![], 64 << 20)
        .v1_pieces(hashes)
        .build()
        .unwrap();
    Torrent::from_meta(Metainfo::from_bytes(&bytes).unwrap())
}

#[test]
fn default_depth_is_the_seeders_reqq() {
    let t = big_torrent();
    let c = cfg_with(DepthConfig::default());
    let mut h = Harness::with(&t, c);
    h.feed(&t, &opening(&t, Some(1500))).unwrap();
    assert_eq!(requests(&h.sent(HANDSHAKE_LEN)).len(), 1500);
    assert_eq!(h.stats.depth.seeder_reqq, Some((1500, 1500)));

    // No reqq advertised: BEP 10's libtorrent default.
    let mut h = Harness::with(&t, c);
    h.feed(&t, &opening(&t, None)).unwrap();
    assert_eq!(requests(&h.sent(HANDSHAKE_LEN)).len(), REQQ_ABSENT as usize);
    assert_eq!(h.stats.depth.seeder_reqq, None);
}

#[test]
fn ignore_reqq_requests_past_it() {
    let t = big_torrent();
    let mut h = Harness::with(
        &t,
        cfg_with(DepthConfig {
            mode: DepthMode::Fixed(300),
            ignore_reqq: true,
            ..DepthConfig::default()
        }),
    );
    h.feed(&t, &opening(&t, Some(250))).unwrap();
    assert_eq!(requests(&h.sent(HANDSHAKE_LEN)).len(), 300);
}

#[test]
fn auto_depth_starts_small_and_grows_with_blocks() {
    let t = big_torrent();
    let data = vec![7u8; 16384];
    let mut h = Harness::with(
        &t,
        cfg_with(DepthConfig {
            mode: DepthMode::Auto,
            ..DepthConfig::default()
        }),
    );
    h.feed(&t, &opening(&t, Some(2000))).unwrap();
    let mut pending = requests(&h.sent(HANDSHAKE_LEN));
    assert_eq!(pending.len(), 4, "libtorrent's first target");
    // Slow start: each block answered lets the pipeline grow by one, so
    // each round of answers asks for twice as many.
    for round in 0..3 {
        let mut answer = Vec::new();
        for r in &pending {
            answer.extend(msg(Message::Piece {
                index: r.index,
                begin: r.begin,
                data: &data[..r.length as usize],
            }));
        }
        h.feed(&t, &answer).unwrap();
        let next = requests(&h.sent(0));
        assert_eq!(next.len(), 2 * pending.len(), "round {round}");
        pending = next;
    }
    assert_eq!(h.s.in_flight(), 32);
}

#[test]
fn write_latency_holds_slots_until_the_write_is_done() {
    let t = big_torrent();
    let data = vec![7u8; 16384];
    let mut h = Harness::with(
        &t,
        cfg_with(DepthConfig {
            mode: DepthMode::Fixed(4),
            write_latency: Duration::from_millis(20),
            ..DepthConfig::default()
        }),
    );
    h.feed(&t, &opening(&t, Some(250))).unwrap();
    let first = requests(&h.sent(HANDSHAKE_LEN));
    assert_eq!(first.len(), 4);
    let r = first[0];
    let block = msg(Message::Piece {
        index: r.index,
        begin: r.begin,
        data: &data[..r.length as usize],
    });
    h.feed_at(&t, &block, Duration::from_millis(10)).unwrap();
    assert!(h.sent(0).is_empty(), "the block still holds its slot");
    assert_eq!(h.s.next_wake(), Some(h.t0 + Duration::from_millis(30)));
    h.time(&t, Duration::from_millis(29));
    assert!(h.sent(0).is_empty());
    h.time(&t, Duration::from_millis(30));
    assert_eq!(requests(&h.sent(0)).len(), 1, "written: one more request");
    assert_eq!(h.s.next_wake(), None);
}

#[test]
fn refill_interval_tops_up_on_a_timer_only() {
    // Transmission-like: the pipeline is topped up once a second.
    let t = big_torrent();
    let data = vec![7u8; 16384];
    let mut h = Harness::with(
        &t,
        cfg_with(DepthConfig {
            mode: DepthMode::Fixed(4),
            refill_interval: Duration::from_secs(1),
            ..DepthConfig::default()
        }),
    );
    h.feed(&t, &opening(&t, Some(250))).unwrap();
    let first = requests(&h.sent(HANDSHAKE_LEN));
    assert_eq!(first.len(), 4, "the first refill is at once");
    let mut answer = Vec::new();
    for r in &first[..2] {
        answer.extend(msg(Message::Piece {
            index: r.index,
            begin: r.begin,
            data: &data[..r.length as usize],
        }));
    }
    h.feed_at(&t, &answer, Duration::from_millis(100)).unwrap();
    assert!(h.sent(0).is_empty(), "two slots free, but no refill yet");
    assert_eq!(h.s.next_wake(), Some(h.t0 + Duration::from_millis(1005)));
    h.time(&t, Duration::from_millis(1004));
    assert!(h.sent(0).is_empty());
    h.time(&t, Duration::from_millis(1005));
    assert_eq!(requests(&h.sent(0)).len(), 2, "refilled after a second");
    // Choked: no refill wake-ups.
    h.feed_at(&t, &msg(Message::Choke), Duration::from_millis(1100))
        .unwrap();
    assert_eq!(h.s.next_wake(), None);
}
