//! `seedcore-mse` against real libtorrent, before any runtime: a tiny
//! blocking peer over `std::net::TcpStream` drives our `Handshake` and
//! `Cipher`, and libtorrent (python3-libtorrent, encryption forced) is the
//! other side. Both directions, every payload level: libtorrent downloads
//! a whole torrent from us, and we download one from libtorrent, through
//! the agreed cipher, with every block compared.
//!
//! With `SEEDCORE_MSE_CAPTURE=<folder>` set, each run also writes what
//! libtorrent sent during the handshake, with our fixed entropy, as a
//! fixture: `engine/mse/tests/data/*.json` are such captures, replayed
//! without libtorrent by `engine/mse/tests/capture.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use seedcore_mse::{
    Cipher, Entropy, Established, Handshake, Level, Mode, MseConfig, Negotiated, Prefer, SkeyMap,
};
use seedcore_tests::*;

const PIECE: u32 = 16_384;
const LEN: u64 = 5 * PIECE as u64 + 1_000;
const OUR_ENTROPY: [u8; 36] = [0x5c; 36];
const PEER_ID: &[u8; 20] = b"-SC0001-mse-harness-";

struct Torrent {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    torrent: std::path::PathBuf,
    data: Vec<u8>,
    hash: [u8; 20],
}

fn torrent() -> Torrent {
    let tmp = temp_dir();
    let dir = tmp.path().to_path_buf();
    let file = dir.join("seed").join("mse.bin");
    write_pseudo_random(&file, LEN, 77);
    let torrent = dir.join("mse.torrent");
    let made = lt_create(LtMode::V1, PIECE, &torrent, &file);
    let hash: [u8; 20] = hex::decode(json_str(&made, "v1"))
        .unwrap()
        .try_into()
        .unwrap();
    Torrent {
        _tmp: tmp,
        data: std::fs::read(&file).unwrap(),
        dir,
        torrent,
        hash,
    }
}

fn lt_peer(t: &Torrent, save: &Path, level: &str, connect: Option<u16>) -> (Live, u16) {
    let spec = serde_json::json!({
        "torrent": t.torrent, "save": save, "in": "forced", "out": "forced",
        "level": level, "connect": connect.map(|p| format!("127.0.0.1:{p}")),
        "seconds": 40,
    });
    let spec_path = t
        .dir
        .join(format!("spec-{level}-{}.json", connect.is_some()));
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    require_libtorrent();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join("lt_mse_peer.py");
    let mut cmd = std::process::Command::new(clients::SYSTEM_PYTHON);
    cmd.arg(script).arg(&spec_path);
    let mut live = Live::spawn("libtorrent (lt_mse_peer.py)", &mut cmd);
    live.wait_until("PORT", Duration::from_secs(20), |l| {
        l.stdout().contains("PORT ")
    });
    let port = live
        .stdout()
        .lines()
        .find_map(|l| {
            l.strip_prefix("PORT ")
                .map(|p| p.trim().parse::<u16>().unwrap())
        })
        .unwrap();
    (live, port)
}

/// A peer connection as this harness sees it: the socket, the bytes not
/// consumed yet, and everything the other side sent during the handshake.
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    capture: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Conn {
            stream,
            pending: Vec::new(),
            capture: Vec::new(),
        }
    }

    /// Reads what is there (waits 100 ms at most); `false` at EOF.
    fn read_some(&mut self) -> bool {
        let mut buf = [0u8; 16384];
        match self.stream.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Runs the handshake; `Err` says how it failed (our error, or the peer
    /// hanging up).
    fn handshake(&mut self, mut h: Handshake, keys: &SkeyMap) -> Result<Established, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(out) = h.poll_transmit() {
                self.stream.write_all(&out).unwrap();
            }
            let before = self.pending.len();
            let open = self.read_some();
            self.capture.extend_from_slice(&self.pending[before..]);
            let used = h
                .handle_input(Instant::now(), &self.pending, keys)
                .map_err(|e| e.to_string())?;
            self.pending.drain(..used);
            if let Some(out) = h.poll_transmit() {
                self.stream.write_all(&out).unwrap();
            }
            if let Some(e) = h.take_established() {
                // Bytes past the handshake are not part of the capture.
                self.capture
                    .truncate(self.capture.len() - self.pending.len());
                return Ok(e);
            }
            h.handle_timeout(Instant::now())
                .map_err(|e| e.to_string())?;
            if !open {
                return Err(format!(
                    "peer closed during the handshake at {:?}",
                    h.step()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "handshake stuck at {:?}",
                h.step()
            );
        }
    }

    /// Reads until `n` decrypted bytes are there; returns them.
    fn read_exact(&mut self, cipher: &mut Cipher, decrypted: &mut usize, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if *decrypted < self.pending.len() {
                cipher.decrypt(&mut self.pending[*decrypted..]);
                *decrypted = self.pending.len();
            }
            if self.pending.len() >= n {
                *decrypted -= n;
                return self.pending.drain(..n).collect();
            }
            assert!(self.read_some(), "peer closed the connection");
            assert!(Instant::now() < deadline, "timed out reading {n} bytes");
        }
    }

    /// The next wire message: (id, payload); keep-alives are skipped.
    fn message(&mut self, cipher: &mut Cipher, decrypted: &mut usize) -> (u8, Vec<u8>) {
        loop {
            let len = self.read_exact(cipher, decrypted, 4);
            let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
            assert!(len <= 1 << 20, "message of {len} bytes");
            if len == 0 {
                continue;
            }
            let body = self.read_exact(cipher, decrypted, len);
            return (body[0], body[1..].to_vec());
        }
    }

    fn send(&mut self, cipher: &mut Cipher, bytes: &[u8]) {
        let mut b = bytes.to_vec();
        cipher.encrypt(&mut b);
        self.stream.write_all(&b).unwrap();
    }
}

fn bt_handshake(hash: &[u8; 20]) -> Vec<u8> {
    let mut v = b"\x13BitTorrent protocol".to_vec();
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x04]); // Fast
    v.extend_from_slice(hash);
    v.extend_from_slice(PEER_ID);
    v
}

fn msg(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(id);
    v.extend_from_slice(payload);
    v
}

fn check_peer_handshake(hs: &[u8], hash: &[u8; 20]) {
    assert_eq!(&hs[..20], b"\x13BitTorrent protocol", "{hs:?}");
    assert_eq!(&hs[28..48], hash, "the handshake names our torrent");
}

fn capture(
    name: &str,
    entropy: &[u8; 36],
    cfg: &MseConfig,
    skey: &[u8; 20],
    ia: &[u8],
    conn: &mut Conn,
    e: &Established,
) {
    let Some(dir) = std::env::var_os("SEEDCORE_MSE_CAPTURE") else {
        return;
    };
    // The peer's BitTorrent handshake too, still as it came off the wire.
    let deadline = Instant::now() + Duration::from_secs(10);
    while conn.pending.len() < 68 {
        assert!(conn.read_some() && Instant::now() < deadline);
    }
    let v = serde_json::json!({
        "role": if ia.is_empty() { "incoming" } else { "outgoing" },
        "entropy": hex::encode(entropy),
        "level": cfg.level.name(), "prefer": cfg.prefer.name(),
        "skey": hex::encode(skey),
        "ia": hex::encode(ia),
        "peer_bytes": hex::encode(&conn.capture),
        "after": hex::encode(&conn.pending[..68]),
        "negotiated": e.negotiated.name(),
    });
    let path = Path::new(&dir).join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// libtorrent (out_enc_policy forced, allowed_enc_level `level`) dials us
/// and downloads the whole torrent through the negotiated cipher.
fn libtorrent_dials_us(level: &str, prefer: Prefer, want: Negotiated) {
    let t = torrent();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let save = t.dir.join(format!("lt-{level}"));
    let (mut lt, _) = lt_peer(&t, &save, level, Some(port));
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "libtorrent never dialled\n{lt}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut conn = Conn::new(stream);
    let cfg = MseConfig {
        incoming: Mode::Forced,
        prefer,
        ..MseConfig::default()
    };
    let keys: SkeyMap = [t.hash].into_iter().collect();
    let h = Handshake::incoming(Instant::now(), cfg, Entropy::from_bytes(OUR_ENTROPY));
    let mut e = conn
        .handshake(h, &keys)
        .unwrap_or_else(|err| panic!("{err}\n{lt}"));
    assert_eq!(e.negotiated, want);
    assert_eq!(e.skey, Some(t.hash));
    capture(
        &format!("lt-dials-{level}-{}", prefer.name()),
        &OUR_ENTROPY,
        &cfg,
        &t.hash,
        &[],
        &mut conn,
        &e,
    );

    let mut dec = 0;
    let cipher = &mut e.cipher;
    let hs = conn.read_exact(cipher, &mut dec, 68);
    check_peer_handshake(&hs, &t.hash);
    conn.send(cipher, &bt_handshake(&t.hash));
    // libtorrent's own view of the connection, once its handshake is done.
    let rc4 = want == Negotiated::MseRc4;
    lt.wait_until("encryption reported", Duration::from_secs(10), |l| {
        l.stdout().contains(&format!(
            "\"rc4\": {rc4}, \"plaintext_encrypted\": {}",
            !rc4
        ))
    });
    let mut out = msg(14, &[]); // have all
    out.extend(msg(1, &[])); // unchoke
    conn.send(cipher, &out);
    // Serve every request until libtorrent says it finished.
    let pieces = LEN.div_ceil(u64::from(PIECE));
    let mut served = 0u64;
    while served < LEN {
        let (id, body) = conn.message(cipher, &mut dec);
        if id == 6 {
            let index = u32::from_be_bytes(body[0..4].try_into().unwrap());
            let begin = u32::from_be_bytes(body[4..8].try_into().unwrap());
            let len = u32::from_be_bytes(body[8..12].try_into().unwrap());
            assert!(u64::from(index) < pieces);
            let at = (u64::from(index) * u64::from(PIECE) + u64::from(begin)) as usize;
            let mut payload = body[..8].to_vec();
            payload.extend_from_slice(&t.data[at..at + len as usize]);
            conn.send(cipher, &msg(7, &payload));
            served += u64::from(len);
        }
    }
    lt.wait_until("finished", Duration::from_secs(20), |l| {
        l.stdout().contains("\"finished\"")
    });
    let got = std::fs::read(save.join("mse.bin")).unwrap();
    assert!(got == t.data, "libtorrent's copy differs");
}

#[test]
fn libtorrent_forced_rc4_downloads_from_our_incoming_handshake() {
    libtorrent_dials_us("rc4", Prefer::Plaintext, Negotiated::MseRc4);
}

#[test]
fn libtorrent_forced_both_gets_plaintext_selected() {
    libtorrent_dials_us("both", Prefer::Plaintext, Negotiated::MsePlaintext);
}

#[test]
fn libtorrent_forced_both_gets_rc4_when_we_prefer_it() {
    libtorrent_dials_us("both", Prefer::Rc4, Negotiated::MseRc4);
}

/// We dial a libtorrent seed (in_enc_policy forced, allowed_enc_level
/// `level`) and download the whole torrent through the negotiated cipher.
fn we_dial_libtorrent(level: &str, ours: Level, want: Result<Negotiated, ()>) {
    let t = torrent();
    let (lt, port) = lt_peer(&t, &t.dir.join("seed"), level, None);
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut conn = Conn::new(stream);
    let cfg = MseConfig {
        outgoing: Mode::Forced,
        level: ours,
        ..MseConfig::default()
    };
    let ia = bt_handshake(&t.hash);
    let keys = SkeyMap::new();
    let h = Handshake::outgoing(
        Instant::now(),
        cfg,
        t.hash,
        &ia,
        Entropy::from_bytes(OUR_ENTROPY),
    )
    .unwrap();
    let result = conn.handshake(h, &keys);
    let want = match want {
        Ok(w) => w,
        Err(()) => {
            // libtorrent hangs up once it sees nothing it allows.
            let err = result.err().unwrap_or_else(|| panic!("established\n{lt}"));
            assert!(err.contains("peer closed"), "{err}");
            return;
        }
    };
    let mut e = result.unwrap_or_else(|err| panic!("{err}\n{lt}"));
    assert_eq!(e.negotiated, want);
    capture(
        &format!("we-dial-{level}-{}", ours.name()),
        &OUR_ENTROPY,
        &cfg,
        &t.hash,
        &ia,
        &mut conn,
        &e,
    );
    let mut dec = 0;
    let cipher = &mut e.cipher;
    let hs = conn.read_exact(cipher, &mut dec, 68);
    check_peer_handshake(&hs, &t.hash);
    conn.send(cipher, &msg(2, &[])); // interested
    let pieces = LEN.div_ceil(u64::from(PIECE)) as u32;
    let mut got = vec![0u8; LEN as usize];
    let mut received = 0u64;
    let mut requested = false;
    while received < LEN {
        let (id, body) = conn.message(cipher, &mut dec);
        match id {
            1 if !requested => {
                requested = true;
                for index in 0..pieces {
                    let len =
                        (LEN - u64::from(index) * u64::from(PIECE)).min(u64::from(PIECE)) as u32;
                    let mut req = index.to_be_bytes().to_vec();
                    req.extend_from_slice(&0u32.to_be_bytes());
                    req.extend_from_slice(&len.to_be_bytes());
                    conn.send(cipher, &msg(6, &req));
                }
            }
            7 => {
                let index = u32::from_be_bytes(body[0..4].try_into().unwrap());
                let at = u64::from(index) * u64::from(PIECE);
                let block = &body[8..];
                got[at as usize..at as usize + block.len()].copy_from_slice(block);
                received += block.len() as u64;
            }
            _ => {}
        }
    }
    assert!(got == t.data, "the blocks differ from the file");
}

#[test]
fn we_dial_libtorrent_forced_rc4() {
    we_dial_libtorrent("rc4", Level::Both, Ok(Negotiated::MseRc4));
}

#[test]
fn we_dial_libtorrent_forced_plaintext() {
    we_dial_libtorrent("plaintext", Level::Both, Ok(Negotiated::MsePlaintext));
}

#[test]
fn we_dial_libtorrent_forced_both_offering_rc4_only() {
    we_dial_libtorrent("both", Level::Rc4, Ok(Negotiated::MseRc4));
}

#[test]
fn we_dial_libtorrent_that_allows_nothing_we_offer() {
    we_dial_libtorrent("plaintext", Level::Rc4, Err(()));
}
