//! When to announce what, for thousands of torrents on many trackers.
//!
//! A seed server restarts with 10,000 torrents and three trackers each. If
//! every torrent announced at start-up and then every `interval`, the
//! trackers would see 30,000 requests in the same second, every half hour,
//! forever, and a tracker outage would end in the same stampede. So:
//! - **First announces are spread** uniformly over a window the caller
//!   chooses when adding a torrent (a few minutes for a bulk load, zero for
//!   a torrent added by hand).
//! - **Re-announces follow the tracker's `interval`**, plus up to
//!   [`ScheduleConfig::interval_jitter`] of it at random so torrents never
//!   fall into step, never sooner than its `min interval`. Intervals are
//!   clamped to [`ScheduleConfig::min_interval`] ..
//!   [`ScheduleConfig::max_interval`] (60 s .. 1 day by default): a tracker
//!   saying 1 s or 10 years is wrong, not authoritative.
//! - **Errors back off exponentially with jitter**: 60 s, 120 s, ... capped
//!   at an hour, each delay drawn from 75-100 % of its nominal value, and
//!   never sooner than a BEP 31 `retry in`.
//! - **Events**: the first announce to each tracker is `started` (again
//!   after a failed attempt, so the tracker surely hears it); later ones
//!   have no event; `stopped` goes to every tracker that acknowledged
//!   `started` (or still has it in flight) when a torrent is removed or the
//!   engine shuts down. `completed` is never sent for a torrent added with
//!   `left == 0`: BEP 3 says a seed that started complete must not send it
//!   (and a seeding engine's torrents always start complete). If a torrent
//!   added incomplete reaches `left == 0` ([`Scheduler::set_left`]), its
//!   started trackers get `completed` at once (after their `min interval`).
//! - **Which trackers** follow BEP 12 through [`Tiers::select`].
//!
//! The scheduler holds no timers: [`Scheduler::poll_timeout`] says when
//! something is next due, [`Scheduler::next_due`] returns the announces to
//! make, and the caller reports each one's outcome with
//! [`Scheduler::on_response`] or [`Scheduler::on_error`]. Every announce
//! returned must be answered by one of them (the UDP client and the HTTP
//! client both end in a result or a timeout), or its tracker stays "in
//! flight" for that torrent. Cost: `O(log n)` per due torrent; nothing is
//! scanned on an idle tick.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::error::TrackerError;
use crate::rng::Rng;
use crate::tiers::{TierSettings, Tiers, TrackerKey, TrackerStatus};
use crate::types::{secs, AnnounceEvent, AnnounceRequest, AnnounceResponse};

#[cfg(test)]
mod tests;

/// Names a torrent for the scheduler (the runtime's own id for it; a hybrid
/// torrent announcing two hashes is added twice, under two keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentKey(pub u64);

/// Settings and identity for every announce.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleConfig {
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// Our listening port.
    pub port: u16,
    /// The per-session `key`.
    pub key: u32,
    /// `numwant` for regular announces (`stopped` sends 0).
    pub num_want: Option<u32>,
    /// BEP 12 multi-tracker behaviour.
    pub tiers: TierSettings,
    /// Interval used when a tracker gives none.
    pub default_interval: Duration,
    /// Shortest interval honoured; shorter ones are raised to it.
    pub min_interval: Duration,
    /// Longest interval honoured; longer ones are lowered to it.
    pub max_interval: Duration,
    /// Random extra added to each interval, as a fraction of it (0.05 = up
    /// to 5 %). Only ever added, so `min interval` still holds.
    pub interval_jitter: f64,
    /// First back-off after an error.
    pub backoff_base: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            peer_id: *b"-SC0001-000000000000",
            port: 6881,
            key: 0,
            num_want: Some(50),
            tiers: TierSettings::default(),
            default_interval: Duration::from_secs(1800),
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(86_400),
            interval_jitter: 0.05,
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(3600),
        }
    }
}

/// One announce to make now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The torrent.
    pub torrent: TorrentKey,
    /// Which of its trackers.
    pub tracker: TrackerKey,
    /// That tracker's URL (classify it with [`crate::TrackerUrl::parse`]).
    pub url: String,
    /// What to send.
    pub request: AnnounceRequest,
}

/// A tracker's state as seen by the scheduler, for status pages and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerInfo {
    /// The URL.
    pub url: String,
    /// Consecutive failures (0 when the last announce succeeded).
    pub fails: u32,
    /// Whether an announce is outstanding.
    pub in_flight: bool,
    /// When the next announce is allowed (due if in the past).
    pub next_at: Instant,
    /// The last error, if the last announce failed.
    pub last_error: Option<TrackerError>,
    /// Seeders and leechers from the last response.
    pub swarm: Option<(Option<u32>, Option<u32>)>,
}

#[derive(Clone, Debug)]
struct TrackerState {
    next_at: Instant,
    fails: u32,
    in_flight: Option<AnnounceEvent>,
    started_acked: bool,
    completed_pending: bool,
    tracker_id: Option<Vec<u8>>,
    last_success: Option<Instant>,
    min_interval: Duration,
    last_error: Option<TrackerError>,
    swarm: Option<(Option<u32>, Option<u32>)>,
}

impl TrackerState {
    fn status(&self, now: Instant) -> TrackerStatus {
        TrackerStatus {
            due: self.in_flight.is_none() && self.next_at <= now,
            working: self.fails == 0,
            in_flight: self.in_flight.is_some(),
        }
    }

    /// Whether the tracker may have us in its peer list.
    fn knows_us(&self) -> bool {
        self.started_acked || self.in_flight == Some(AnnounceEvent::Started)
    }
}

#[derive(Clone, Debug)]
struct TorrentState {
    info_hash: [u8; 20],
    tiers: Tiers,
    trackers: Vec<TrackerState>,
    left: u64,
    uploaded: u64,
    downloaded: u64,
    wake: Option<Instant>,
}

/// The announce scheduler; see the module docs.
#[derive(Debug)]
pub struct Scheduler {
    config: ScheduleConfig,
    rng: Rng,
    torrents: HashMap<TorrentKey, TorrentState>,
    wakes: BTreeSet<(Instant, TorrentKey)>,
}

impl Scheduler {
    /// An empty scheduler; `rng` draws start offsets and jitter.
    pub fn new(config: ScheduleConfig, rng: Rng) -> Scheduler {
        Scheduler {
            config,
            rng,
            torrents: HashMap::new(),
            wakes: BTreeSet::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ScheduleConfig {
        &self.config
    }

    /// Number of torrents.
    pub fn len(&self) -> usize {
        self.torrents.len()
    }

    /// Whether no torrent is scheduled.
    pub fn is_empty(&self) -> bool {
        self.torrents.is_empty()
    }

    /// Adds a torrent whose first announce falls at a uniformly random
    /// moment in `now .. now + spread` (all its trackers at that moment).
    /// `left` is 0 for a seed. Returns false (and changes nothing) if `key`
    /// is already scheduled.
    pub fn add_torrent(
        &mut self,
        now: Instant,
        key: TorrentKey,
        info_hash: [u8; 20],
        tiers: Tiers,
        left: u64,
        spread: Duration,
    ) -> bool {
        if self.torrents.contains_key(&key) {
            return false;
        }
        let offset = spread.mul_f64(self.rng.unit());
        let first = at(now, offset);
        let trackers = (0..tiers.len())
            .map(|_| TrackerState {
                next_at: first,
                fails: 0,
                in_flight: None,
                started_acked: false,
                completed_pending: false,
                tracker_id: None,
                last_success: None,
                min_interval: Duration::ZERO,
                last_error: None,
                swarm: None,
            })
            .collect();
        let torrent = TorrentState {
            info_hash,
            tiers,
            trackers,
            left,
            uploaded: 0,
            downloaded: 0,
            wake: None,
        };
        self.torrents.insert(key, torrent);
        self.set_wake(key, Some(first));
        true
    }

    /// Sets the byte counters sent with the torrent's next announces
    /// (totals since it was added).
    pub fn set_stats(&mut self, key: TorrentKey, uploaded: u64, downloaded: u64) {
        if let Some(t) = self.torrents.get_mut(&key) {
            t.uploaded = uploaded;
            t.downloaded = downloaded;
        }
    }

    /// Sets how many bytes the torrent still misses. Going from more than 0
    /// to 0 queues `completed` for every tracker that acknowledged
    /// `started`, due at once (after its `min interval`). A torrent added
    /// with `left == 0` never sends `completed`.
    pub fn set_left(&mut self, now: Instant, key: TorrentKey, left: u64) {
        let Some(t) = self.torrents.get_mut(&key) else {
            return;
        };
        let finished = t.left > 0 && left == 0;
        t.left = left;
        if !finished {
            return;
        }
        for tr in &mut t.trackers {
            if tr.started_acked {
                tr.completed_pending = true;
                let earliest = tr.last_success.map_or(now, |s| at(s, tr.min_interval));
                tr.next_at = tr.next_at.min(earliest.max(now));
            }
        }
        self.set_wake(key, Some(now));
    }

    /// When [`Self::next_due`] next has something to return.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wakes.first().map(|&(t, _)| t)
    }

    /// The announces due at `now`; each is marked in flight until its
    /// outcome is reported.
    pub fn next_due(&mut self, now: Instant) -> Vec<Announce> {
        let mut out = Vec::new();
        while let Some(&(when, key)) = self.wakes.first() {
            if when > now {
                break;
            }
            self.wakes.pop_first();
            if let Some(t) = self.torrents.get_mut(&key) {
                t.wake = None;
            }
            self.evaluate(now, key, &mut out);
        }
        out
    }

    /// Reports a successful announce. Unknown torrents or trackers, and
    /// trackers with nothing in flight (a `stopped` answer), are ignored.
    pub fn on_response(
        &mut self,
        now: Instant,
        torrent: TorrentKey,
        tracker: TrackerKey,
        response: &AnnounceResponse,
    ) {
        let interval = self.clamp(response.interval.map_or(self.config.default_interval, secs));
        let jitter =
            interval.mul_f64(self.config.interval_jitter.clamp(0.0, 1.0) * self.rng.unit());
        let max = self.config.max_interval;
        let Some(t) = self.torrents.get_mut(&torrent) else {
            return;
        };
        let Some(tr) = t.trackers.get_mut(usize::from(tracker.0)) else {
            return;
        };
        let Some(event) = tr.in_flight.take() else {
            return;
        };
        tr.fails = 0;
        tr.started_acked = true;
        if event == AnnounceEvent::Completed {
            tr.completed_pending = false;
        }
        if let Some(id) = &response.tracker_id {
            tr.tracker_id = Some(id.clone());
        }
        tr.min_interval = response.min_interval.map_or(Duration::ZERO, secs).min(max);
        tr.next_at = if tr.completed_pending {
            // The torrent completed while this announce was in flight.
            at(now, tr.min_interval)
        } else {
            at(now, (interval + jitter).max(tr.min_interval))
        };
        tr.last_success = Some(now);
        tr.last_error = None;
        tr.swarm = Some((response.complete, response.incomplete));
        t.tiers.promote(tracker);
        self.set_wake(torrent, Some(now));
    }

    /// Reports a failed announce: the tracker backs off (see the module
    /// docs) and the next tracker in BEP 12 order becomes due.
    pub fn on_error(
        &mut self,
        now: Instant,
        torrent: TorrentKey,
        tracker: TrackerKey,
        error: &TrackerError,
    ) {
        let Some(fails) = self
            .torrents
            .get(&torrent)
            .and_then(|t| t.trackers.get(usize::from(tracker.0)))
            .filter(|tr| tr.in_flight.is_some())
            .map(|tr| tr.fails + 1)
        else {
            return;
        };
        let mut delay = self.backoff(fails);
        if let TrackerError::Failure {
            retry_in: Some(r), ..
        } = error
        {
            delay = delay.max((*r).min(self.config.max_interval));
        }
        let Some(tr) = self
            .torrents
            .get_mut(&torrent)
            .and_then(|t| t.trackers.get_mut(usize::from(tracker.0)))
        else {
            return;
        };
        tr.in_flight = None;
        tr.fails = fails;
        tr.next_at = at(now, delay);
        tr.last_error = Some(error.clone());
        self.set_wake(torrent, Some(now));
    }

    /// The back-off after `fails` consecutive failures: the nominal delay
    /// `base * 2^(fails-1)`, capped, times a random factor in 0.75..1.
    fn backoff(&mut self, fails: u32) -> Duration {
        let doublings = fails.saturating_sub(1).min(30);
        let nominal = self
            .config
            .backoff_base
            .saturating_mul(1 << doublings)
            .min(self.config.backoff_max);
        nominal.mul_f64(0.75 + 0.25 * self.rng.unit())
    }

    fn clamp(&self, interval: Duration) -> Duration {
        let lo = self.config.min_interval;
        interval.max(lo).min(self.config.max_interval.max(lo))
    }

    /// Removes a torrent; returns the `stopped` announces to send (to every
    /// tracker that may have us listed).
    pub fn remove_torrent(&mut self, key: TorrentKey) -> Vec<Announce> {
        let Some(t) = self.torrents.remove(&key) else {
            return Vec::new();
        };
        if let Some(w) = t.wake {
            self.wakes.remove(&(w, key));
        }
        self.stopped(key, &t)
    }

    /// Removes every torrent (engine shutdown); returns the `stopped`
    /// announces, as [`Self::remove_torrent`] does for each.
    pub fn shutdown(&mut self) -> Vec<Announce> {
        let mut keys: Vec<TorrentKey> = self.torrents.keys().copied().collect();
        keys.sort_unstable();
        keys.into_iter()
            .flat_map(|k| self.remove_torrent(k))
            .collect()
    }

    /// The state of each of a torrent's trackers, by [`TrackerKey`] order.
    pub fn trackers(&self, key: TorrentKey) -> Vec<TrackerInfo> {
        let Some(t) = self.torrents.get(&key) else {
            return Vec::new();
        };
        t.trackers
            .iter()
            .enumerate()
            .map(|(i, tr)| TrackerInfo {
                url: tracker_key(i)
                    .and_then(|k| t.tiers.url(k))
                    .unwrap_or_default()
                    .to_owned(),
                fails: tr.fails,
                in_flight: tr.in_flight.is_some(),
                next_at: tr.next_at,
                last_error: tr.last_error.clone(),
                swarm: tr.swarm,
            })
            .collect()
    }

    fn stopped(&self, key: TorrentKey, t: &TorrentState) -> Vec<Announce> {
        t.trackers
            .iter()
            .enumerate()
            .filter(|(_, tr)| tr.knows_us())
            .filter_map(|(i, tr)| {
                let k = tracker_key(i)?;
                let mut request = self.request(t, tr, AnnounceEvent::Stopped);
                request.num_want = Some(0);
                Some(Announce {
                    torrent: key,
                    tracker: k,
                    url: t.tiers.url(k)?.to_owned(),
                    request,
                })
            })
            .collect()
    }

    fn request(
        &self,
        t: &TorrentState,
        tr: &TrackerState,
        event: AnnounceEvent,
    ) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: t.info_hash,
            peer_id: self.config.peer_id,
            port: self.config.port,
            uploaded: t.uploaded,
            downloaded: t.downloaded,
            left: t.left,
            event,
            num_want: self.config.num_want,
            key: self.config.key,
            tracker_id: tr.tracker_id.clone(),
        }
    }

    /// Announces whatever BEP 12 selects for torrent `key` at `now`, then
    /// sets its next wake-up: the earliest moment a tracker not in flight
    /// becomes due. (Trackers already due but not selected are covered by
    /// another; only an outcome, which re-evaluates, can change that.)
    fn evaluate(&mut self, now: Instant, key: TorrentKey, out: &mut Vec<Announce>) {
        let settings = self.config.tiers;
        let Some(t) = self.torrents.get(&key) else {
            return;
        };
        let selected = t.tiers.select(settings, |k| {
            t.trackers
                .get(usize::from(k.0))
                .map(|tr| tr.status(now))
                .unwrap_or_default()
        });
        let mut made = Vec::with_capacity(selected.len());
        for k in selected {
            let Some(tr) = t.trackers.get(usize::from(k.0)) else {
                continue;
            };
            let event = if !tr.started_acked {
                AnnounceEvent::Started
            } else if tr.completed_pending {
                AnnounceEvent::Completed
            } else {
                AnnounceEvent::None
            };
            let Some(url) = t.tiers.url(k) else {
                continue;
            };
            made.push(Announce {
                torrent: key,
                tracker: k,
                url: url.to_owned(),
                request: self.request(t, tr, event),
            });
        }
        let Some(t) = self.torrents.get_mut(&key) else {
            return;
        };
        for a in &made {
            if let Some(tr) = t.trackers.get_mut(usize::from(a.tracker.0)) {
                tr.in_flight = Some(a.request.event);
            }
        }
        let wake = t
            .trackers
            .iter()
            .filter(|tr| tr.in_flight.is_none() && tr.next_at > now)
            .map(|tr| tr.next_at)
            .min();
        out.extend(made);
        self.set_wake(key, wake);
    }

    /// Moves the torrent's wake-up to `wake` if that is sooner than the one
    /// it has (`next_due` clears it before `evaluate` sets the next one).
    fn set_wake(&mut self, key: TorrentKey, wake: Option<Instant>) {
        let Some(t) = self.torrents.get_mut(&key) else {
            return;
        };
        let new = match (t.wake, wake) {
            (Some(old), Some(w)) => Some(old.min(w)),
            (old, w) => w.or(old),
        };
        if new == t.wake {
            return;
        }
        if let Some(old) = t.wake {
            self.wakes.remove(&(old, key));
        }
        if let Some(w) = new {
            self.wakes.insert((w, key));
        }
        t.wake = new;
    }
}

fn tracker_key(i: usize) -> Option<TrackerKey> {
    u16::try_from(i).ok().map(TrackerKey)
}

/// `base + d`, without overflow panics (saturates to `base` plus a day).
fn at(base: Instant, d: Duration) -> Instant {
    base.checked_add(d)
        .or_else(|| base.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(base)
}
