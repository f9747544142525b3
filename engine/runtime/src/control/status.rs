//! The status line: peers and upload rate, in all and per shard, every few
//! seconds on stderr; with `--json`, the same as one JSON object per line on
//! stdout for machines (monitoring, benchmarks).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::msg::ShardStats;

/// One shard in a status report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ShardStatus {
    /// Shard index.
    pub shard: usize,
    /// Open connections.
    pub peers: u32,
    /// Bytes written per second since the last report.
    pub upload_rate: f64,
    /// Share of one core used since the last report (0..1).
    pub cpu: f64,
    /// What the shard did against misbehaving peers, since it started.
    pub guard: crate::guard::GuardCounters,
    /// All bytes written since the start.
    pub bytes_sent: u64,
    /// Connection and request counters.
    pub counters: PeerCounters,
}

/// What happened to connections and requests on a shard (summed over
/// shards in [`StatusReport::counters`]); the counts since the start,
/// except the peer states, which are the connections now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeerCounters {
    /// Incoming connections accepted.
    pub accepted: u64,
    /// Incoming connections refused because of `max_peers`.
    pub refused_peer_limit: u64,
    /// Incoming connections refused because the address is blocklisted.
    pub refused_blocked: u64,
    /// Incoming connections refused by the per-IP connection limit.
    pub refused_per_ip: u64,
    /// Connections that ended before their handshake completed (timeouts,
    /// unknown torrents, garbage, our own dials), the stop excepted.
    pub handshakes_failed: u64,
    /// Blocks handed to the send path.
    pub blocks_served: u64,
    /// Block requests received.
    pub requests: u64,
    /// Block requests refused (rejected, or dropped for non-Fast peers).
    pub requests_refused: u64,
    /// BEP 52 hash requests answered (hashes or a reject).
    pub hash_requests: u64,
    /// Connections now still in their handshake.
    pub handshaking: u32,
    /// Peers now connected and not interested.
    pub idle: u32,
    /// Peers now interested and choked.
    pub choked: u32,
    /// Peers now interested and unchoked (being served).
    pub unchoked: u32,
}

impl PeerCounters {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &PeerCounters) {
        self.accepted += o.accepted;
        self.refused_peer_limit += o.refused_peer_limit;
        self.refused_blocked += o.refused_blocked;
        self.refused_per_ip += o.refused_per_ip;
        self.handshakes_failed += o.handshakes_failed;
        self.blocks_served += o.blocks_served;
        self.requests += o.requests;
        self.requests_refused += o.requests_refused;
        self.hash_requests += o.hash_requests;
        self.handshaking += o.handshaking;
        self.idle += o.idle;
        self.choked += o.choked;
        self.unchoked += o.unchoked;
    }
}

/// Tracker announces since the start, all torrents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnnounceCounters {
    /// Announces answered with a peer list.
    pub ok: u64,
    /// Announces that failed (no answer, an error, a failure reason).
    pub failed: u64,
}

/// What the watcher of seeded files saw since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileCheckCounters {
    /// Times a served file was found changed (its pieces withdrawn).
    pub files_changed: u64,
    /// Pieces withdrawn because their file changed.
    pub pieces_lost: u64,
    /// Re-checks of changed files finished.
    pub rechecks: u64,
    /// Pieces served again after a re-check.
    pub pieces_restored: u64,
}

/// One tracker of a torrent in a status report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerReport {
    /// The announce URL.
    pub url: String,
    /// Its last announce succeeded.
    pub ok: bool,
    /// Failures in a row (0 after a success).
    pub fails: u32,
    /// The last error, while failing.
    pub error: Option<String>,
    /// Seeders it reported.
    pub seeders: Option<u32>,
    /// Leechers it reported.
    pub leechers: Option<u32>,
    /// Its last scrape's counts for this torrent, once it answered one.
    pub scrape: Option<ScrapeReport>,
}

/// What a tracker's scrape (BEP 48) said about one torrent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrapeReport {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads, ever.
    pub downloaded: u32,
    /// When it answered, in seconds since the Unix epoch.
    pub scraped_at: u64,
}

/// The DHT node in a status report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DhtStatus {
    /// Its UDP port.
    pub port: u16,
    /// Running (false while its bootstrap names are being resolved).
    pub running: bool,
    /// Its node id (hex).
    pub node_id: String,
    /// Nodes in its routing table.
    pub nodes: usize,
    /// Queries from other nodes answered.
    pub queries_answered: u64,
    /// Queries dropped by the per-IP rate limit.
    pub rate_limited: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Announce lookups of our torrents completed.
    pub announces: u64,
    /// Peers of our torrents it found.
    pub peers_found: u64,
    /// Peers' nodes pinged after their `port` message.
    pub pings: u64,
    /// Info-hashes it stores peers for (for other nodes).
    pub stored_hashes: usize,
    /// Peers it stores (for other nodes).
    pub stored_peers: usize,
}

/// Outgoing connections to found peers (trackers, DHT, PEX).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutgoingStatus {
    /// Peers waiting to be dialled.
    pub candidates: usize,
    /// Dials in flight.
    pub dialing: usize,
    /// Connections made by those dials, open now.
    pub connected: usize,
    /// Peers learned from trackers (queued for a dial), ever.
    pub from_trackers: u64,
    /// ... from the DHT.
    pub from_dht: u64,
    /// ... from PEX.
    pub from_pex: u64,
    /// Dials started, ever (paced by `dial_rate` and
    /// `dial_rate_per_torrent`).
    pub dials: u64,
}

/// What the control core adds to a report besides the shards' counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub(crate) dht: Option<DhtStatus>,
    pub(crate) outgoing: OutgoingStatus,
    pub(crate) announces: AnnounceCounters,
    pub(crate) file_checks: FileCheckCounters,
    pub(crate) live: LiveStatus,
}

/// The live node's side of a report: how many torrents in which state,
/// limits, blocklist.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveStatus {
    /// Torrents on the node, in any state.
    pub torrents: usize,
    /// Torrents being served.
    pub seeding: usize,
    /// Torrents being loaded or verified.
    pub checking: usize,
    /// Paused torrents.
    pub paused: usize,
    /// Torrents that could not be loaded.
    pub errors: usize,
    /// The node's upload limit (bytes per second; 0: none).
    pub upload_limit: u64,
    /// Upload slots in all (0: unlimited).
    pub upload_slots: u32,
    /// Connections refused because their address is blocklisted, ever.
    pub refused_blocked: u64,
    /// Ranges in the blocklist (IPv4 and IPv6).
    pub blocklist_ranges: usize,
    /// Run-time changes are kept in a state folder.
    pub persistent: bool,
}

/// One torrent in a status report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TorrentStatus {
    /// The torrent's name.
    pub name: String,
    /// Its info-hash (hex).
    pub info_hash: String,
    /// Peers connected (all shards).
    pub peers: u32,
    /// Payload bytes uploaded since the start.
    pub uploaded: u64,
    /// Payload bytes uploaded per second, over the last second or so.
    pub upload_rate: f64,
    /// Pieces being served.
    pub pieces: usize,
    /// Pieces in the torrent.
    pub piece_count: usize,
    /// Its trackers (both hashes' for a hybrid).
    pub trackers: Vec<TrackerReport>,
    /// Peers its trackers returned, ever.
    pub tracker_peers: u64,
}

/// What the status line says, as data.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusReport {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// Seconds since the seed started.
    pub uptime: f64,
    /// Open connections, all shards.
    pub peers: u32,
    /// Bytes written per second since the last report, all shards.
    pub upload_rate: f64,
    /// All bytes written since the start.
    pub bytes_sent: u64,
    /// All bytes read since the start.
    pub bytes_received: u64,
    /// Per shard.
    pub shards: Vec<ShardStatus>,
    /// Per torrent.
    pub torrents: Vec<TorrentStatus>,
    /// The DHT node, when it runs.
    pub dht: Option<DhtStatus>,
    /// Outgoing connections to found peers.
    pub outgoing: OutgoingStatus,
    /// Connection and request counters, all shards.
    pub counters: PeerCounters,
    /// Tracker announces.
    pub announces: AnnounceCounters,
    /// Changes of seeded files seen.
    pub file_checks: FileCheckCounters,
    /// The live node: torrents by state, limits, blocklist.
    pub live: LiveStatus,
}

/// Turns successive shard counters into rates.
#[derive(Debug)]
pub(crate) struct Status {
    started: Instant,
    last_at: Instant,
    last: Vec<ShardStats>,
}

impl Status {
    pub(crate) fn new(now: Instant, shards: usize) -> Status {
        Status {
            started: now,
            last_at: now,
            last: vec![ShardStats::default(); shards],
        }
    }

    /// A report from the latest counters; rates are over the time since the
    /// previous call.
    pub(crate) fn report(
        &mut self,
        now: Instant,
        stats: &[ShardStats],
        torrents: Vec<TorrentStatus>,
        extra: &Extra,
    ) -> StatusReport {
        let dt = now
            .saturating_duration_since(self.last_at)
            .max(Duration::from_millis(1));
        let secs = dt.as_secs_f64();
        let shards: Vec<ShardStatus> = stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let prev = self.last.get(i);
                let sent = s
                    .bytes_sent
                    .saturating_sub(prev.map_or(0, |p| p.bytes_sent));
                let cpu = s.cpu.saturating_sub(prev.map_or(Duration::ZERO, |p| p.cpu));
                ShardStatus {
                    shard: i,
                    peers: s.connections,
                    upload_rate: sent as f64 / secs,
                    cpu: cpu.as_secs_f64() / secs,
                    guard: s.guard,
                    bytes_sent: s.bytes_sent,
                    counters: PeerCounters {
                        refused_blocked: s.refused_blocked,
                        ..s.counters
                    },
                }
            })
            .collect();
        let counters = shards.iter().fold(PeerCounters::default(), |mut c, s| {
            c.add(&s.counters);
            c
        });
        self.last_at = now;
        self.last = stats.to_vec();
        for l in &mut self.last {
            l.torrents = Vec::new();
        }
        StatusReport {
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            uptime: now.saturating_duration_since(self.started).as_secs_f64(),
            peers: shards.iter().map(|s| s.peers).sum(),
            upload_rate: shards.iter().map(|s| s.upload_rate).sum(),
            bytes_sent: stats.iter().map(|s| s.bytes_sent).sum(),
            bytes_received: stats.iter().map(|s| s.bytes_received).sum(),
            shards,
            torrents,
            dht: extra.dht.clone(),
            outgoing: extra.outgoing.clone(),
            counters,
            announces: extra.announces,
            file_checks: extra.file_checks,
            live: extra.live.clone(),
        }
    }
}

/// Bytes as a short human figure (binary units).
pub(crate) fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{v:.0} {name}")
    } else {
        format!("{v:.1} {name}")
    }
}

impl StatusReport {
    /// The one-line human form.
    pub fn line(&self) -> String {
        let mut s = format!(
            "peers {} | up {}/s | sent {}",
            self.peers,
            human(self.upload_rate),
            human(self.bytes_sent as f64)
        );
        if self.shards.len() > 1 {
            for sh in &self.shards {
                s.push_str(&format!(
                    " | shard {}: {} peers {}/s cpu {:.0}%",
                    sh.shard,
                    sh.peers,
                    human(sh.upload_rate),
                    sh.cpu * 100.0
                ));
            }
        } else if let Some(sh) = self.shards.first() {
            s.push_str(&format!(" | cpu {:.0}%", sh.cpu * 100.0));
        }
        let trackers: Vec<&TrackerReport> =
            self.torrents.iter().flat_map(|t| &t.trackers).collect();
        if !trackers.is_empty() {
            let ok = trackers.iter().filter(|t| t.ok).count();
            s.push_str(&format!(" | trackers {ok}/{} ok", trackers.len()));
            // Per torrent, the largest counts any tracker scraped.
            let scraped: Vec<(u32, u32)> = self
                .torrents
                .iter()
                .filter_map(|t| {
                    let mut it = t.trackers.iter().filter_map(|r| r.scrape).peekable();
                    it.peek()?;
                    Some(it.fold((0, 0), |(s, l), r| (s.max(r.complete), l.max(r.incomplete))))
                })
                .collect();
            if !scraped.is_empty() {
                let (s_, l) = scraped.iter().fold((0u64, 0u64), |(a, b), &(s, l)| {
                    (a + u64::from(s), b + u64::from(l))
                });
                s.push_str(&format!(" | swarm {s_} seeds {l} leechers"));
            }
        }
        if let Some(d) = &self.dht {
            s.push_str(&format!(" | dht {} nodes", d.nodes));
        }
        let o = &self.outgoing;
        if o.connected + o.dialing > 0 {
            s.push_str(&format!(" | dialled {} (+{})", o.connected, o.dialing));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_differences() {
        let t0 = Instant::now();
        let mut st = Status::new(t0, 2);
        let mk = |sent: u64, peers: u32, cpu_ms: u64| ShardStats {
            connections: peers,
            bytes_sent: sent,
            bytes_received: 10,
            cpu: Duration::from_millis(cpu_ms),
            counters: PeerCounters {
                blocks_served: sent / 1024,
                unchoked: peers,
                ..PeerCounters::default()
            },
            refused_blocked: u64::from(peers),
            ..ShardStats::default()
        };
        let row = |uploaded: u64, trackers: Vec<TrackerReport>| TorrentStatus {
            name: "t".into(),
            info_hash: "00".into(),
            peers: 3,
            uploaded,
            upload_rate: 0.0,
            pieces: 3,
            piece_count: 4,
            trackers,
            tracker_peers: 0,
        };
        let r = st.report(
            t0 + Duration::from_secs(2),
            &[mk(2048, 1, 500), mk(0, 2, 0)],
            vec![row(2048, Vec::new())],
            &Extra::default(),
        );
        assert_eq!(r.peers, 3);
        assert!((r.upload_rate - 1024.0).abs() < 1e-6);
        assert!((r.shards[0].cpu - 0.25).abs() < 1e-6);
        assert_eq!(r.torrents[0].peers, 3);
        assert_eq!(r.torrents[0].pieces, 3);
        let r = st.report(
            t0 + Duration::from_secs(4),
            &[mk(4096, 1, 500), mk(2048, 2, 0)],
            vec![row(
                6144,
                vec![TrackerReport {
                    url: "udp://t:1".into(),
                    ok: true,
                    scrape: Some(ScrapeReport {
                        complete: 4,
                        incomplete: 5,
                        downloaded: 6,
                        scraped_at: 1,
                    }),
                    ..TrackerReport::default()
                }],
            )],
            &Extra {
                dht: Some(DhtStatus {
                    nodes: 7,
                    ..DhtStatus::default()
                }),
                ..Extra::default()
            },
        );
        assert!((r.upload_rate - 2048.0).abs() < 1e-6);
        assert_eq!(r.bytes_sent, 6144);
        assert_eq!(r.counters.blocks_served, 6);
        assert_eq!(r.counters.unchoked, 3);
        assert_eq!(r.shards[1].counters.blocks_served, 2);
        assert_eq!(r.shards[1].bytes_sent, 2048);
        assert_eq!(r.counters.refused_blocked, 3, "from the shards' own count");
        assert!(r.line().contains("peers 3"), "{}", r.line());
        assert!(r.line().contains("trackers 1/1 ok"), "{}", r.line());
        assert!(r.line().contains("dht 7 nodes"), "{}", r.line());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["torrents"][0]["uploaded"], 6144);
        assert_eq!(json["torrents"][0]["trackers"][0]["ok"], true);
        assert_eq!(json["dht"]["nodes"], 7);
        assert_eq!(
            json["torrents"][0]["trackers"][0]["scrape"]["downloaded"],
            6
        );
        assert!(
            r.line().contains("swarm 4 seeds 5 leechers"),
            "{}",
            r.line()
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(human(10.0), "10 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
    }
}
