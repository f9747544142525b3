//! The status line: peers and upload rate, in all and per shard, every few
//! seconds on stderr; with `--json`, the same as one JSON object per line on
//! stdout for machines (monitoring, benchmarks).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::msg::ShardStats;

/// One shard in a status report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardStatus {
    /// Shard index.
    pub shard: usize,
    /// Open connections.
    pub peers: u32,
    /// Bytes written per second since the last report.
    pub upload_rate: f64,
    /// Share of one core used since the last report (0..1).
    pub cpu: f64,
}

/// One tracker of a torrent in a status report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
    pub(crate) trackers: Vec<Vec<TrackerReport>>,
    pub(crate) tracker_peers: Vec<u64>,
    pub(crate) outgoing: OutgoingStatus,
}

/// One torrent in a status report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TorrentStatus {
    /// The torrent's name.
    pub name: String,
    /// Its info-hash (hex).
    pub info_hash: String,
    /// Peers connected (all shards).
    pub peers: u32,
    /// Payload bytes uploaded since the start.
    pub uploaded: u64,
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
}

/// Names and sizes of the torrents, for the report.
#[derive(Clone, Debug)]
pub(crate) struct TorrentLabel {
    pub(crate) name: String,
    pub(crate) info_hash: String,
    pub(crate) piece_count: usize,
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
        labels: &[TorrentLabel],
        have: &[Vec<bool>],
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
                }
            })
            .collect();
        let torrents = labels
            .iter()
            .enumerate()
            .map(|(t, l)| TorrentStatus {
                name: l.name.clone(),
                info_hash: l.info_hash.clone(),
                peers: stats
                    .iter()
                    .filter_map(|s| s.torrents.get(t))
                    .map(|c| c.peers)
                    .sum(),
                uploaded: stats
                    .iter()
                    .filter_map(|s| s.torrents.get(t))
                    .map(|c| c.uploaded)
                    .sum(),
                pieces: have.get(t).map_or(0, |h| h.iter().filter(|x| **x).count()),
                piece_count: l.piece_count,
                trackers: extra.trackers.get(t).cloned().unwrap_or_default(),
                tracker_peers: extra.tracker_peers.get(t).copied().unwrap_or(0),
            })
            .collect();
        self.last_at = now;
        self.last = stats.to_vec();
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
    use crate::msg::TorrentCounters;

    #[test]
    fn rates_come_from_differences() {
        let t0 = Instant::now();
        let mut st = Status::new(t0, 2);
        let mk = |sent: u64, peers: u32, cpu_ms: u64| ShardStats {
            connections: peers,
            bytes_sent: sent,
            bytes_received: 10,
            torrents: vec![TorrentCounters {
                peers,
                uploaded: sent,
            }],
            cpu: Duration::from_millis(cpu_ms),
        };
        let labels = vec![TorrentLabel {
            name: "t".into(),
            info_hash: "00".into(),
            piece_count: 4,
        }];
        let have = vec![vec![true, true, false, true]];
        let r = st.report(
            t0 + Duration::from_secs(2),
            &[mk(2048, 1, 500), mk(0, 2, 0)],
            &labels,
            &have,
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
            &labels,
            &have,
            &Extra {
                dht: Some(DhtStatus {
                    nodes: 7,
                    ..DhtStatus::default()
                }),
                trackers: vec![vec![TrackerReport {
                    url: "udp://t:1".into(),
                    ok: true,
                    scrape: Some(ScrapeReport {
                        complete: 4,
                        incomplete: 5,
                        downloaded: 6,
                        scraped_at: 1,
                    }),
                    ..TrackerReport::default()
                }]],
                ..Extra::default()
            },
        );
        assert!((r.upload_rate - 2048.0).abs() < 1e-6);
        assert_eq!(r.bytes_sent, 6144);
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
