//! `GET /metrics`: the node in Prometheus' text exposition format
//! (version 0.0.4).
//!
//! Everything comes from the status snapshot the control core publishes
//! every second, so a scrape costs the shards nothing and sees one
//! consistent second. Cardinality stays low: no per-peer label ever; per
//! shard series (a handful: one per core) so an uneven shard shows; per
//! torrent series only for the `top` torrents by upload rate (then bytes
//! uploaded), `metrics_top_torrents` (default 10, 0 = none).
//!
//! The format is written here rather than through a client library: the
//! values are a snapshot, not live instruments, and the format is a few
//! lines of text per family. Label values are escaped as the format
//! requires (`\\`, `\"`, `\n`); `promtool check metrics` checks the
//! output in the end-to-end tests.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use seedcore_runtime::{StatusReport, TorrentInfo, TorrentState, TorrentStatus};

/// The API server's own counters (the hostile-client tests read these).
#[derive(Debug, Default)]
pub struct ApiStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections refused: too many open.
    pub refused_busy: AtomicU64,
    /// Connections closed for making no progress (slow clients).
    pub idle_closed: AtomicU64,
    /// Answers by class.
    pub answered_2xx: AtomicU64,
    /// 4xx answers.
    pub answered_4xx: AtomicU64,
    /// 5xx answers.
    pub answered_5xx: AtomicU64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: AtomicU64,
    /// Request bodies over the size limit.
    pub too_large: AtomicU64,
    /// Request bodies that did not arrive in time.
    pub body_timeouts: AtomicU64,
}

impl ApiStats {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn answered(&self, status: u16) {
        match status {
            200..=299 => Self::bump(&self.answered_2xx),
            400..=499 => Self::bump(&self.answered_4xx),
            _ if status >= 500 => Self::bump(&self.answered_5xx),
            _ => {}
        }
    }
}

/// The text of one scrape.
pub fn render(
    r: &StatusReport,
    torrents: Option<&[TorrentInfo]>,
    top: usize,
    api: &ApiStats,
) -> String {
    let mut o = Out::default();
    let c = &r.counters;

    o.family("seedcore_up", "gauge", "1 while the node runs.");
    o.sample("seedcore_up", &[], 1.0);
    o.family(
        "seedcore_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    o.sample("seedcore_uptime_seconds", &[], r.uptime);

    o.family(
        "seedcore_bytes_sent_total",
        "counter",
        "Bytes written to peer sockets (payload and protocol).",
    );
    o.int("seedcore_bytes_sent_total", &[], r.bytes_sent);
    o.family(
        "seedcore_bytes_received_total",
        "counter",
        "Bytes read from peer sockets.",
    );
    o.int("seedcore_bytes_received_total", &[], r.bytes_received);
    o.family(
        "seedcore_payload_bytes_sent_total",
        "counter",
        "Block payload bytes handed to the send path, all torrents.",
    );
    o.int(
        "seedcore_payload_bytes_sent_total",
        &[],
        r.torrents.iter().map(|t| t.uploaded).sum(),
    );
    o.family(
        "seedcore_upload_rate_bytes_per_second",
        "gauge",
        "Bytes written per second over the last second.",
    );
    o.sample("seedcore_upload_rate_bytes_per_second", &[], r.upload_rate);

    o.family(
        "seedcore_blocks_served_total",
        "counter",
        "Blocks handed to the send path.",
    );
    o.int("seedcore_blocks_served_total", &[], c.blocks_served);
    o.family(
        "seedcore_requests_total",
        "counter",
        "Block requests received from peers.",
    );
    o.int("seedcore_requests_total", &[], c.requests);
    o.family(
        "seedcore_requests_refused_total",
        "counter",
        "Block requests refused (rejected, or dropped for peers without the Fast extension).",
    );
    o.int("seedcore_requests_refused_total", &[], c.requests_refused);
    o.family(
        "seedcore_hash_requests_total",
        "counter",
        "BEP 52 hash requests answered.",
    );
    o.int("seedcore_hash_requests_total", &[], c.hash_requests);

    o.family(
        "seedcore_peers",
        "gauge",
        "Peer connections by state (handshaking, idle: not interested, choked, unchoked).",
    );
    for (state, n) in [
        ("handshaking", c.handshaking),
        ("idle", c.idle),
        ("choked", c.choked),
        ("unchoked", c.unchoked),
    ] {
        o.int("seedcore_peers", &[("state", state)], u64::from(n));
    }
    o.family(
        "seedcore_connections_accepted_total",
        "counter",
        "Incoming connections accepted.",
    );
    o.int("seedcore_connections_accepted_total", &[], c.accepted);
    o.family(
        "seedcore_connections_refused_total",
        "counter",
        "Incoming connections refused, by reason.",
    );
    for (why, n) in [
        ("peer_limit", c.refused_peer_limit),
        ("blocklist", c.refused_blocked),
        ("per_ip_limit", c.refused_per_ip),
    ] {
        o.int("seedcore_connections_refused_total", &[("reason", why)], n);
    }
    o.family(
        "seedcore_handshakes_failed_total",
        "counter",
        "Connections that ended before their handshake completed.",
    );
    o.int("seedcore_handshakes_failed_total", &[], c.handshakes_failed);

    shards(&mut o, r);
    control(&mut o, r);
    per_torrent(&mut o, r, torrents, top);
    api_series(&mut o, api);
    o.text
}

fn shards(o: &mut Out, r: &StatusReport) {
    o.family(
        "seedcore_shard_peers",
        "gauge",
        "Open connections per shard.",
    );
    for s in &r.shards {
        o.int(
            "seedcore_shard_peers",
            &[("shard", &s.shard.to_string())],
            u64::from(s.peers),
        );
    }
    o.family(
        "seedcore_shard_upload_rate_bytes_per_second",
        "gauge",
        "Bytes written per second per shard over the last second.",
    );
    for s in &r.shards {
        o.sample(
            "seedcore_shard_upload_rate_bytes_per_second",
            &[("shard", &s.shard.to_string())],
            s.upload_rate,
        );
    }
    o.family(
        "seedcore_shard_bytes_sent_total",
        "counter",
        "Bytes written per shard.",
    );
    for s in &r.shards {
        o.int(
            "seedcore_shard_bytes_sent_total",
            &[("shard", &s.shard.to_string())],
            s.bytes_sent,
        );
    }
    o.family(
        "seedcore_shard_blocks_served_total",
        "counter",
        "Blocks handed to the send path per shard.",
    );
    for s in &r.shards {
        o.int(
            "seedcore_shard_blocks_served_total",
            &[("shard", &s.shard.to_string())],
            s.counters.blocks_served,
        );
    }
    o.family(
        "seedcore_shard_cpu_ratio",
        "gauge",
        "Share of one core the shard's thread used over the last second.",
    );
    for s in &r.shards {
        o.sample(
            "seedcore_shard_cpu_ratio",
            &[("shard", &s.shard.to_string())],
            s.cpu,
        );
    }
}

fn control(o: &mut Out, r: &StatusReport) {
    o.family(
        "seedcore_tracker_announces_total",
        "counter",
        "Tracker announces by result.",
    );
    o.int(
        "seedcore_tracker_announces_total",
        &[("result", "ok")],
        r.announces.ok,
    );
    o.int(
        "seedcore_tracker_announces_total",
        &[("result", "failed")],
        r.announces.failed,
    );
    let trackers: Vec<_> = r.torrents.iter().flat_map(|t| &t.trackers).collect();
    o.family(
        "seedcore_trackers",
        "gauge",
        "Trackers of all torrents whose last announce worked (ok) or not (failing).",
    );
    let ok = trackers.iter().filter(|t| t.ok).count() as u64;
    o.int("seedcore_trackers", &[("state", "ok")], ok);
    o.int(
        "seedcore_trackers",
        &[("state", "failing")],
        trackers.len() as u64 - ok,
    );

    let d = r.dht.clone().unwrap_or_default();
    o.family("seedcore_dht_running", "gauge", "1 when the DHT node runs.");
    o.int("seedcore_dht_running", &[], u64::from(d.running));
    o.family(
        "seedcore_dht_nodes",
        "gauge",
        "Nodes in the DHT routing table.",
    );
    o.int("seedcore_dht_nodes", &[], d.nodes as u64);
    o.family(
        "seedcore_dht_queries_total",
        "counter",
        "DHT queries from other nodes, by outcome.",
    );
    o.int(
        "seedcore_dht_queries_total",
        &[("result", "answered")],
        d.queries_answered,
    );
    o.int(
        "seedcore_dht_queries_total",
        &[("result", "rate_limited")],
        d.rate_limited,
    );
    o.int(
        "seedcore_dht_queries_total",
        &[("result", "malformed")],
        d.malformed,
    );
    o.family(
        "seedcore_dht_announces_total",
        "counter",
        "DHT announce lookups of our torrents completed.",
    );
    o.int("seedcore_dht_announces_total", &[], d.announces);
    o.family(
        "seedcore_peers_found_total",
        "counter",
        "Peers learned for dialling, by source.",
    );
    for (src, n) in [
        ("tracker", r.outgoing.from_trackers),
        ("dht", r.outgoing.from_dht),
        ("pex", r.outgoing.from_pex),
    ] {
        o.int("seedcore_peers_found_total", &[("source", src)], n);
    }
    o.family(
        "seedcore_outgoing_connections",
        "gauge",
        "Outgoing connections to found peers: dialling or connected.",
    );
    o.int(
        "seedcore_outgoing_connections",
        &[("state", "dialing")],
        r.outgoing.dialing as u64,
    );
    o.int(
        "seedcore_outgoing_connections",
        &[("state", "connected")],
        r.outgoing.connected as u64,
    );

    let f = &r.file_checks;
    o.family(
        "seedcore_file_changes_total",
        "counter",
        "Seeded files found changed on disk (their pieces withdrawn).",
    );
    o.int("seedcore_file_changes_total", &[], f.files_changed);
    o.family(
        "seedcore_file_rechecks_total",
        "counter",
        "Re-checks of changed files finished.",
    );
    o.int("seedcore_file_rechecks_total", &[], f.rechecks);
    o.family(
        "seedcore_file_pieces_total",
        "counter",
        "Pieces withdrawn because a file changed (lost), or served again after a re-check (restored).",
    );
    o.int(
        "seedcore_file_pieces_total",
        &[("event", "lost")],
        f.pieces_lost,
    );
    o.int(
        "seedcore_file_pieces_total",
        &[("event", "restored")],
        f.pieces_restored,
    );
}

fn per_torrent(o: &mut Out, r: &StatusReport, list: Option<&[TorrentInfo]>, top: usize) {
    if let Some(list) = list {
        o.family("seedcore_torrents", "gauge", "Torrents by state.");
        for state in [
            TorrentState::Loading,
            TorrentState::Checking,
            TorrentState::Seeding,
            TorrentState::Paused,
            TorrentState::Error,
        ] {
            let n = list.iter().filter(|t| t.state == state).count() as u64;
            o.int("seedcore_torrents", &[("state", state_name(state))], n);
        }
        let (done, total) = list
            .iter()
            .filter(|t| t.state == TorrentState::Checking)
            .filter_map(|t| t.verify)
            .fold((0u64, 0u64), |(d, n), v| {
                (d + v.pieces_checked, n + v.pieces_total)
            });
        o.family(
            "seedcore_verify_pieces",
            "gauge",
            "Pieces of the torrents being checked: verified so far (done) and in all (total).",
        );
        o.int("seedcore_verify_pieces", &[("state", "done")], done);
        o.int("seedcore_verify_pieces", &[("state", "total")], total);
    }

    let mut ranked: Vec<&TorrentStatus> = r.torrents.iter().collect();
    ranked.sort_by(|a, b| {
        b.upload_rate
            .total_cmp(&a.upload_rate)
            .then(b.uploaded.cmp(&a.uploaded))
            .then(a.info_hash.cmp(&b.info_hash))
    });
    ranked.truncate(top);
    let labels = |t: &TorrentStatus| [("info_hash", t.info_hash.clone()), ("name", t.name.clone())];
    o.family(
        "seedcore_torrent_uploaded_bytes_total",
        "counter",
        "Payload bytes uploaded, for the top torrents by upload rate (metrics_top_torrents).",
    );
    for t in &ranked {
        o.int_owned(
            "seedcore_torrent_uploaded_bytes_total",
            &labels(t),
            t.uploaded,
        );
    }
    o.family(
        "seedcore_torrent_upload_rate_bytes_per_second",
        "gauge",
        "Payload bytes per second over the last second, top torrents.",
    );
    for t in &ranked {
        o.sample_owned(
            "seedcore_torrent_upload_rate_bytes_per_second",
            &labels(t),
            t.upload_rate,
        );
    }
    o.family(
        "seedcore_torrent_peers",
        "gauge",
        "Peers connected, top torrents.",
    );
    for t in &ranked {
        o.int_owned("seedcore_torrent_peers", &labels(t), u64::from(t.peers));
    }
    o.family(
        "seedcore_torrent_pieces",
        "gauge",
        "Pieces served (state=served) and in the torrent (state=total), top torrents.",
    );
    for t in &ranked {
        let [h, n] = labels(t);
        for (state, v) in [("served", t.pieces), ("total", t.piece_count)] {
            o.int_owned(
                "seedcore_torrent_pieces",
                &[h.clone(), n.clone(), ("state", state.to_string())],
                v as u64,
            );
        }
    }
}

fn state_name(s: TorrentState) -> &'static str {
    match s {
        TorrentState::Loading => "loading",
        TorrentState::Checking => "checking",
        TorrentState::Seeding => "seeding",
        TorrentState::Paused => "paused",
        TorrentState::Error => "error",
    }
}

fn api_series(o: &mut Out, api: &ApiStats) {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    o.family(
        "seedcore_api_connections_total",
        "counter",
        "API connections accepted (result=ok) or refused and closed (busy, idle).",
    );
    o.int(
        "seedcore_api_connections_total",
        &[("result", "ok")],
        get(&api.connections),
    );
    o.int(
        "seedcore_api_connections_total",
        &[("result", "busy")],
        get(&api.refused_busy),
    );
    o.int(
        "seedcore_api_connections_total",
        &[("result", "idle")],
        get(&api.idle_closed),
    );
    o.family(
        "seedcore_api_responses_total",
        "counter",
        "API answers by status class.",
    );
    for (class, c) in [
        ("2xx", &api.answered_2xx),
        ("4xx", &api.answered_4xx),
        ("5xx", &api.answered_5xx),
    ] {
        o.int("seedcore_api_responses_total", &[("code", class)], get(c));
    }
    o.family(
        "seedcore_api_rejected_total",
        "counter",
        "API requests rejected, by reason.",
    );
    for (why, c) in [
        ("unauthorized", &api.unauthorized),
        ("body_too_large", &api.too_large),
        ("body_timeout", &api.body_timeouts),
    ] {
        o.int("seedcore_api_rejected_total", &[("reason", why)], get(c));
    }
}

/// The exposition being written.
#[derive(Default)]
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn labels(&mut self, labels: &[(&str, &str)]) {
        if labels.is_empty() {
            return;
        }
        self.text.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
        }
        self.text.push('}');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.text.push_str(name);
        self.labels(labels);
        let _ = writeln!(self.text, " {}", float(v));
    }

    fn int(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.text.push_str(name);
        self.labels(labels);
        let _ = writeln!(self.text, " {v}");
    }

    fn int_owned(&mut self, name: &str, labels: &[(&str, String)], v: u64) {
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.int(name, &l, v);
    }

    fn sample_owned(&mut self, name: &str, labels: &[(&str, String)], v: f64) {
        let l: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.sample(name, &l, v);
    }
}

/// A sample value as the format spells it.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedcore_runtime::ShardStatus;

    fn torrent(name: &str, hash: &str, rate: f64, uploaded: u64) -> TorrentStatus {
        TorrentStatus {
            name: name.into(),
            info_hash: hash.into(),
            upload_rate: rate,
            uploaded,
            pieces: 4,
            piece_count: 4,
            ..TorrentStatus::default()
        }
    }

    #[test]
    fn top_torrents_only_and_labels_escaped() {
        let r = StatusReport {
            upload_rate: 1.5,
            shards: vec![
                ShardStatus {
                    shard: 0,
                    peers: 3,
                    ..ShardStatus::default()
                },
                ShardStatus {
                    shard: 1,
                    ..ShardStatus::default()
                },
            ],
            torrents: vec![
                torrent("slow", "aa", 1.0, 10),
                torrent("fa\"st\\\nname", "bb", 9.0, 5),
                torrent("idle", "cc", 0.0, 100),
            ],
            ..StatusReport::default()
        };
        let text = render(&r, None, 2, &ApiStats::default());
        assert!(text.contains(
            "seedcore_torrent_upload_rate_bytes_per_second{info_hash=\"bb\",name=\"fa\\\"st\\\\\\nname\"} 9\n"
        ), "{text}");
        assert!(text.contains("seedcore_torrent_peers{info_hash=\"aa\""));
        assert!(!text.contains("info_hash=\"cc\""), "only the top 2");
        assert!(text.contains("seedcore_shard_peers{shard=\"0\"} 3\n"));
        assert!(text.contains("seedcore_upload_rate_bytes_per_second 1.5\n"));
        assert!(text.contains("seedcore_payload_bytes_sent_total 115\n"));
        assert!(!text.contains("seedcore_torrents{"), "no list, no states");
        let none = render(&r, None, 0, &ApiStats::default());
        assert!(!none.contains("info_hash="), "top 0: no per-torrent series");
        // Every sample line belongs to the family declared before it.
        let mut family = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, family, "{line}");
            }
        }
    }

    #[test]
    fn special_values() {
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(0.25), "0.25");
        assert_eq!(float(3.0), "3");
    }
}
