//! The control core's side of the live node: [`crate::Node`] commands,
//! load results, activation and detachment of torrents, slot shares.
//! The registry itself is [`super::live`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_protocol::session::TorrentId;
use seedcore_tracker::announce_hashes;

use super::live::{Command, LoadDone, Phase, Prepared};
use super::status::{LiveStatus, TorrentStatus};
use super::{Control, Core};
use crate::msg::ToShard;
use crate::node::{NodeError, ReloadReport, TorrentInfo, TorrentKey, TorrentSource};

/// Commands handled per loop turn before other work gets a turn.
const COMMAND_BUDGET: usize = 256;

/// How soon a torrent activated at run time first announces.
const FIRST_ANNOUNCE: Duration = Duration::from_millis(500);

impl Control {
    /// The torrents of the state folder: registered, then loaded on the
    /// loader threads like any add (so a node of many torrents serves the
    /// first ones while the others load).
    pub(super) fn restore(&self, core: &mut Core, now: Instant) {
        let _ = now;
        let Some(state) = core.live.state.clone() else {
            return;
        };
        let saved = state.load();
        if !saved.is_empty() {
            tracing::info!(
                "state folder {}: {} torrents",
                state.root().display(),
                saved.len()
            );
        }
        for s in saved {
            if core.live.entries.contains_key(&s.key) {
                tracing::warn!(
                    "{}: in the state folder and given at start; the start's entry wins",
                    s.meta.info.name
                );
                continue;
            }
            let paused = s.record.paused;
            let key = s.key;
            core.live.insert(
                Prepared {
                    key,
                    meta: Arc::new(s.meta),
                    bytes: None,
                    root: s.record.data,
                    torrent_path: Some(s.torrent_path),
                    source: s.record.source,
                    paused,
                    upload_limit: s.record.upload_limit,
                    watch_file: s.record.watch_file,
                    made_stamps: None,
                },
                if paused {
                    Phase::Paused
                } else {
                    Phase::Loading
                },
            );
            if !paused {
                core.live.load(key, false);
            }
        }
    }

    /// Commands, load results, rollbacks.
    pub(super) fn live_turn(&self, core: &mut Core, now: Instant) {
        while let Ok(d) = core.live.loaded.try_recv() {
            self.loaded(core, now, d);
        }
        while let Ok(key) = core.live.rollback.try_recv() {
            tracing::warn!("{key}: the state folder could not be written; add undone");
            self.deactivate(core, now, key);
            core.live.forget(key);
        }
        for _ in 0..COMMAND_BUDGET {
            let Ok(cmd) = self.commands.try_recv() else {
                break;
            };
            self.command(core, now, cmd);
        }
    }

    fn info(&self, core: &Core, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        let e = core
            .live
            .entries
            .get(&key)
            .ok_or(NodeError::NotFound { key })?;
        let (have, trackers) = match e.phase {
            Phase::Active(id) => (core.watcher.have.get(&id), core.trackers.report(id)),
            _ => (None, Vec::new()),
        };
        Ok(core.live.info(e, have, trackers))
    }

    fn command(&self, core: &mut Core, now: Instant, cmd: Command) {
        match cmd {
            Command::List(reply) => {
                let list = core
                    .live
                    .ordered()
                    .map(|e| e.key)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .filter_map(|k| self.info(core, k).ok())
                    .collect();
                let _ = reply.send(Ok(list));
            }
            Command::Get(key, reply) => {
                let _ = reply.send(self.info(core, key));
            }
            Command::Add(p, reply) => self.add(core, *p, reply),
            Command::Remove(key, reply) => {
                if !core.live.entries.contains_key(&key) {
                    let _ = reply.send(Err(NodeError::NotFound { key }));
                    return;
                }
                self.deactivate(core, now, key);
                let Some(e) = core.live.forget(key) else {
                    return;
                };
                tracing::info!("{}: removed", e.meta.info.name);
                if e.source == TorrentSource::Config {
                    let _ = reply.send(Ok(()));
                } else {
                    core.live
                        .persist_forget(key, Box::new(move |r| drop(reply.send(r))));
                }
            }
            Command::Pause(key, reply) => {
                let Some(e) = core.live.entries.get_mut(&key) else {
                    let _ = reply.send(Err(NodeError::NotFound { key }));
                    return;
                };
                if !e.paused {
                    e.paused = true;
                    tracing::info!("{}: paused", e.meta.info.name);
                }
                self.deactivate(core, now, key);
                if let Some(e) = core.live.entries.get_mut(&key) {
                    e.phase = Phase::Paused;
                }
                self.persist_then_reply(core, key, reply);
            }
            Command::Resume(key, reply) => {
                let Some(e) = core.live.entries.get_mut(&key) else {
                    let _ = reply.send(Err(NodeError::NotFound { key }));
                    return;
                };
                let was = e.phase;
                e.paused = false;
                if matches!(was, Phase::Paused | Phase::Error) {
                    tracing::info!("{}: resumed", e.meta.info.name);
                    core.live.load(key, false);
                }
                self.persist_then_reply(core, key, reply);
            }
            Command::Recheck(key, reply) => {
                let Some(e) = core.live.entries.get_mut(&key) else {
                    let _ = reply.send(Err(NodeError::NotFound { key }));
                    return;
                };
                tracing::info!("{}: re-checking", e.meta.info.name);
                e.paused = false;
                self.deactivate(core, now, key);
                core.live.load(key, true);
                self.persist_then_reply(core, key, reply);
            }
            Command::TorrentLimit(key, rate, reply) => {
                let Some(e) = core.live.entries.get_mut(&key) else {
                    let _ = reply.send(Err(NodeError::NotFound { key }));
                    return;
                };
                e.upload_limit = rate;
                let changed = match (&e.limit, rate) {
                    (None, 0) => false,
                    (Some(_), 0) => {
                        e.limit = None;
                        true
                    }
                    (Some(l), r) => {
                        l.set_rate(r);
                        false
                    }
                    (None, r) => {
                        e.limit = Some(Arc::new(crate::limits::SharedBucket::new(r)));
                        true
                    }
                };
                let limit = e.limit.clone();
                let phase = e.phase;
                if let (true, Phase::Active(id)) = (changed, phase) {
                    for s in &self.shards {
                        s.send(ToShard::TorrentLimit {
                            id,
                            limit: limit.clone(),
                        });
                    }
                }
                self.persist_then_reply(core, key, reply);
            }
            Command::Peers(key, to, reply) => {
                let Some(e) = core.live.entries.get(&key) else {
                    let _ = reply.send(Err(NodeError::NotFound { key }));
                    return;
                };
                let n = match e.phase {
                    Phase::Active(id) => {
                        for s in &self.shards {
                            s.send(ToShard::Peers {
                                id,
                                reply: to.clone(),
                            });
                        }
                        self.shards.len()
                    }
                    _ => 0,
                };
                let _ = reply.send(Ok(n));
            }
            Command::Limits(reply) => {
                let _ = reply.send(Ok(core.live.limits()));
            }
            Command::SetLimits(u, reply) => {
                if let Some(r) = u.upload_rate {
                    core.live.global.set_rate(r);
                    tracing::info!(
                        "upload limit: {}",
                        if r == 0 {
                            "none".to_string()
                        } else {
                            format!("{}/s", super::status::human(r as f64))
                        }
                    );
                }
                if let Some(s) = u.upload_slots {
                    core.live.slots = s;
                    self.rebalance_slots(core);
                }
                if let Some(m) = u.max_peers {
                    if m != core.live.max_peers {
                        let _ = reply.send(Err(NodeError::NotYet {
                            what: "changing max_peers at run time",
                        }));
                        return;
                    }
                }
                let _ = reply.send(Ok(core.live.limits()));
            }
            Command::Blocklist(reply) => {
                let path = self.config.blocklist.clone();
                let _ = reply.send(Ok((core.live.blocklist_info(), path)));
            }
            Command::SetBlocklist(list, applied, reply) => {
                core.live.blocklist = Arc::clone(&list);
                core.live.blocklist_at = super::live::unix_now();
                tracing::info!(
                    "blocklist {}: {} IPv4 and {} IPv6 ranges ({} lines skipped)",
                    list.path()
                        .map_or_else(String::new, |p| p.display().to_string()),
                    list.ranges_v4(),
                    list.ranges_v6(),
                    list.skipped()
                );
                for s in &self.shards {
                    s.send(ToShard::Blocklist(Arc::clone(&list), applied.clone()));
                }
                let _ = reply.send(Ok((core.live.blocklist_info(), self.shards.len())));
            }
            Command::Watched(reply) => {
                let list = core
                    .live
                    .ordered()
                    .filter(|e| e.source == TorrentSource::Watch)
                    .filter_map(|e| e.watch_file.clone().map(|f| (f, e.key)))
                    .collect();
                let _ = reply.send(Ok(list));
            }
            Command::Reload(new, reply) => {
                let _ = reply.send(Ok(self.reload(core, &new)));
            }
        }
    }

    fn add(&self, core: &mut Core, p: Prepared, reply: super::live::Reply<TorrentInfo>) {
        let key = p.key;
        if let Some(e) = core.live.entries.get(&key) {
            let _ = reply.send(Err(NodeError::Duplicate {
                key,
                name: e.meta.info.name.clone(),
            }));
            return;
        }
        let paused = p.paused;
        let bytes = p.bytes.clone();
        let name = p.meta.info.name.clone();
        core.live.insert(
            p,
            if paused {
                Phase::Paused
            } else {
                Phase::Loading
            },
        );
        tracing::info!("{name}: added ({key})");
        if !paused {
            core.live.load(key, false);
        }
        let info = self.info(core, key);
        let rollback = core.live.rollback_tx.clone();
        let waker = Arc::clone(&self.net.waker);
        core.live.persist_save(
            key,
            bytes,
            Box::new(move |r| match r {
                Ok(()) => drop(reply.send(info)),
                Err(e) => {
                    let _ = rollback.send(key);
                    let _ = waker.wake();
                    let _ = reply.send(Err(e));
                }
            }),
        );
    }

    /// Writes an entry's record, then answers with its info.
    fn persist_then_reply(
        &self,
        core: &Core,
        key: TorrentKey,
        reply: super::live::Reply<TorrentInfo>,
    ) {
        let info = self.info(core, key);
        core.live
            .persist_save(key, None, Box::new(move |r| drop(reply.send(r.and(info)))));
    }

    fn loaded(&self, core: &mut Core, now: Instant, d: LoadDone) {
        if !core.live.is_current(&d) {
            return;
        }
        let key = d.key;
        let (ctx, data, have) = match d.result {
            Ok(x) => x,
            Err(why) => return core.live.failed(key, why),
        };
        let pieces = u32::try_from(have.iter().filter(|h| **h).count()).unwrap_or(u32::MAX);
        core.live.set_pieces(key, pieces);
        let Some(id) = core.live.ids.allocate() else {
            return core.live.failed(
                key,
                "the node serves as many torrents as it can hold; remove some first".into(),
            );
        };
        let Some(e) = core.live.entries.get_mut(&key) else {
            return;
        };
        let ctx = Arc::new(ctx);
        let data = Arc::new(data);
        let shared: Arc<[bool]> = have.clone().into();
        for s in &self.shards {
            s.send(ToShard::Attach {
                id,
                ctx: Arc::clone(&ctx),
                data: Arc::clone(&data),
                have: Arc::clone(&shared),
                limit: e.limit.clone(),
            });
        }
        let meta = Arc::clone(&e.meta);
        core.trackers.add_torrent(now, id, &meta, FIRST_ANNOUNCE);
        if let (Some(d), false) = (core.dht.as_mut(), meta.info.private) {
            d.add(now, id, &announce_hashes(&meta.info_hashes));
        }
        core.pex.add(id, meta.info.private);
        core.outgoing.add_torrent(id);
        core.dialer.add_torrent(id, now);
        core.watcher
            .add(id, Arc::clone(&meta), e.root.clone(), &data, have);
        e.ctx = Some(ctx);
        e.data = Some(data);
        e.phase = Phase::Active(id);
        core.live.by_id.insert(id, key);
        tracing::info!(
            "{}: seeding ({pieces} of {} pieces)",
            meta.info.name,
            meta.info.piece_count
        );
    }

    /// Stops serving a torrent if it is served: shards close its peers,
    /// trackers get `stopped`, the DHT, PEX, dialers and file watcher
    /// forget it. Its registry entry stays (the caller decides).
    pub(super) fn deactivate(&self, core: &mut Core, now: Instant, key: TorrentKey) {
        let Some(e) = core.live.entries.get_mut(&key) else {
            return;
        };
        let Phase::Active(id) = e.phase else {
            // A load in flight: its result will not be current any more.
            if e.phase == Phase::Loading {
                e.phase = Phase::Paused;
            }
            return;
        };
        e.phase = Phase::Paused;
        e.ctx = None;
        e.data = None;
        e.peers = 0;
        let meta = Arc::clone(&e.meta);
        detach(self, core, now, id, &meta);
    }

    /// Shares the upload slots between shards by their interested peers.
    pub(super) fn rebalance_slots(&self, core: &mut Core) {
        let interested: Vec<u32> = core.stats.iter().map(|s| s.interested).collect();
        for (i, share) in core.live.rebalance(&interested) {
            if let Some(s) = self.shards.get(i) {
                s.send(ToShard::Slots(share));
            }
        }
    }

    /// Applies what can change live from a reloaded configuration; names
    /// the rest.
    fn reload(&self, core: &mut Core, new: &crate::Config) -> ReloadReport {
        let old = &self.config;
        let mut r = ReloadReport::default();
        if new.upload_limit != old.upload_limit || new.upload_limit.0 != core.live.global.rate() {
            core.live.global.set_rate(new.upload_limit.0);
            r.applied.push("upload_limit".into());
        }
        if new.upload_slots != core.live.slots {
            core.live.slots = new.upload_slots;
            self.rebalance_slots(core);
            r.applied.push("upload_slots".into());
        }
        // Everything else: compare the TOML form, key by key.
        let a = toml::Table::try_from(old).unwrap_or_default();
        let b = toml::Table::try_from(new).unwrap_or_default();
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            if matches!(
                k.as_str(),
                "upload_limit" | "upload_slots" | "blocklist" | "torrent"
            ) {
                continue;
            }
            if a.get(k) != b.get(k) {
                r.needs_restart.push(k.clone());
            }
        }
        if new.torrents != old.torrents {
            r.needs_restart.push("torrent".into());
        }
        if new.blocklist != old.blocklist {
            r.needs_restart
                .push("blocklist (the file is re-read; a new path needs a restart)".into());
        }
        for k in &r.applied {
            tracing::info!("configuration reloaded: {k} applied");
        }
        for k in &r.needs_restart {
            tracing::warn!(
                "configuration reloaded: {k} changed, but takes effect only after a restart"
            );
        }
        r
    }
}

/// Detaches `id` from every shard and from the control core's parts.
fn detach(
    ctl: &Control,
    core: &mut Core,
    now: Instant,
    id: TorrentId,
    meta: &seedcore_protocol::metainfo::Metainfo,
) {
    for s in &ctl.shards {
        s.send(ToShard::Detach { id });
    }
    core.trackers.remove_torrent(now, id, &core.pool);
    if let Some(d) = core.dht.as_mut() {
        d.remove(id, &announce_hashes(&meta.info_hashes));
    }
    core.pex.remove(id);
    core.outgoing.remove_torrent(id);
    core.dialer.remove_torrent(id);
    core.watcher.remove(id);
    core.live.detaching(id, ctl.shards.len());
}

impl Core {
    /// One status row per torrent.
    pub(super) fn rows(&self) -> Vec<TorrentStatus> {
        self.live
            .ordered()
            .map(|e| {
                let (pieces, trackers, tracker_peers) = match e.phase {
                    Phase::Active(id) => (
                        self.watcher
                            .have
                            .get(&id)
                            .map_or(0, |h| h.iter().filter(|x| **x).count()),
                        self.trackers.report(id),
                        self.trackers.received(id),
                    ),
                    _ => (0, Vec::new(), 0),
                };
                TorrentStatus {
                    name: e.meta.info.name.clone(),
                    info_hash: crate::torrents::hash_hex(&e.meta),
                    peers: u32::try_from(e.peers.max(0)).unwrap_or(u32::MAX),
                    uploaded: e.uploaded,
                    upload_rate: e.rate,
                    pieces,
                    piece_count: e.meta.info.piece_count as usize,
                    trackers,
                    tracker_peers,
                }
            })
            .collect()
    }

    pub(super) fn live_status(&self) -> LiveStatus {
        let mut s = LiveStatus {
            torrents: self.live.entries.len(),
            upload_limit: self.live.global.rate(),
            upload_slots: self.live.slots,
            refused_blocked: self.stats.iter().map(|s| s.refused_blocked).sum(),
            blocklist_ranges: self.live.blocklist.ranges_v4() + self.live.blocklist.ranges_v6(),
            persistent: self.live.state.is_some(),
            ..LiveStatus::default()
        };
        for e in self.live.entries.values() {
            match e.phase {
                Phase::Active(_) => s.seeding += 1,
                Phase::Loading => s.checking += 1,
                Phase::Paused => s.paused += 1,
                Phase::Error => s.errors += 1,
            }
        }
        s
    }
}
