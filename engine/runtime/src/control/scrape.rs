//! Tracker scrapes (BEP 48, BEP 15's scrape): which tracker to ask about
//! which torrents, and when; the counts they answered. No I/O here:
//! [`super::trackers`] sends the requests (HTTP on the helper pool, UDP
//! through the tracker's `UdpTrackerClient`) and hands back the answers.
//!
//! - **Who is scraped**: a tracker once it answered an announce, about the
//!   torrents (hashes) it answered for. A private torrent announces only to
//!   its own trackers, so it is scraped only there too.
//! - **When**: a few seconds after a tracker first answers for a torrent
//!   not scraped yet (announces arriving together share one scrape), then
//!   every `scrape_interval` (or the tracker's `min_request_interval`, if
//!   longer).
//! - **Batches**: HTTP at most [`HTTP_BATCH`] hashes a request (the URL
//!   stays a few KiB long), UDP at most `MAX_SCRAPE_HASHES` (one datagram).
//! - **Back-off**: a tracker with no scrape URL (its announce path does not
//!   end in `announce`) or whose scrape failed is left alone for
//!   [`BACKOFF`]: scrapes are informative, never worth retrying hard.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use seedcore_tracker::udp::MAX_SCRAPE_HASHES;
use seedcore_tracker::{ScrapeResponse, TorrentKey};

/// Most info-hashes in one HTTP scrape URL (about 3.6 KiB of query).
pub(crate) const HTTP_BATCH: usize = 50;
/// How long a tracker that failed a scrape, or has no scrape URL, is not
/// scraped again.
pub(crate) const BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// Delay of a first scrape after an announce answer, so that torrents
/// announced together are scraped together.
const FIRST_DELAY: Duration = Duration::from_secs(5);
/// When a scrape could not be sent yet (a UDP tracker's name not resolved).
const RETRY: Duration = Duration::from_secs(60);

/// The counts a tracker last reported for one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) complete: u32,
    pub(crate) incomplete: u32,
    pub(crate) downloaded: u32,
    /// Seconds since the Unix epoch.
    pub(crate) at: u64,
}

/// One request to send: a tracker (its announce URL) and up to a batch of
/// hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) url: String,
    pub(crate) hashes: Vec<[u8; 20]>,
}

#[derive(Debug, Default)]
struct Site {
    torrents: BTreeSet<TorrentKey>,
    next_at: Option<Instant>,
    in_flight: usize,
    backed_off: bool,
    records: HashMap<TorrentKey, Record>,
}

/// Every tracker's scrape state.
#[derive(Debug)]
pub(crate) struct Scrapes {
    interval: Duration,
    hashes: HashMap<TorrentKey, [u8; 20]>,
    sites: HashMap<String, Site>,
}

impl Scrapes {
    /// `interval` zero: never scrape.
    pub(crate) fn new(interval: Duration) -> Scrapes {
        Scrapes {
            interval,
            hashes: HashMap::new(),
            sites: HashMap::new(),
        }
    }

    /// The hash a torrent entry announces (and is scraped) under.
    pub(crate) fn add_torrent(&mut self, key: TorrentKey, hash: [u8; 20]) {
        self.hashes.insert(key, hash);
    }

    /// A torrent entry is gone: no more scrapes for it.
    pub(crate) fn remove_torrent(&mut self, key: TorrentKey) {
        if self.hashes.remove(&key).is_some() {
            for s in self.sites.values_mut() {
                s.torrents.remove(&key);
                s.records.remove(&key);
            }
        }
    }

    /// Scraping stops (shutdown).
    pub(crate) fn stop(&mut self) {
        self.interval = Duration::ZERO;
        for s in self.sites.values_mut() {
            s.next_at = None;
        }
    }

    /// The tracker at `url` answered an announce for `key`.
    pub(crate) fn announced(&mut self, now: Instant, url: &str, key: TorrentKey) {
        if self.interval.is_zero() {
            return;
        }
        let site = self.sites.entry(url.to_owned()).or_default();
        site.torrents.insert(key);
        if !site.records.contains_key(&key) && !site.backed_off && site.in_flight == 0 {
            let first = now + FIRST_DELAY.min(self.interval);
            site.next_at = Some(site.next_at.map_or(first, |t| t.min(first)));
        }
    }

    /// When [`Self::due`] next has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.sites.values().filter_map(|s| s.next_at).min()
    }

    /// The scrapes to send now. Each batch must be answered with
    /// [`Self::scraped`], [`Self::failed`] or [`Self::deferred`].
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Batch> {
        let mut out = Vec::new();
        for (url, site) in &mut self.sites {
            if site.in_flight > 0 || site.next_at.is_none_or(|t| t > now) {
                continue;
            }
            site.backed_off = false;
            site.next_at = Some(now + self.interval);
            let per = if url.starts_with("udp://") {
                MAX_SCRAPE_HASHES
            } else {
                HTTP_BATCH
            };
            let mut hashes: Vec<[u8; 20]> = site
                .torrents
                .iter()
                .filter_map(|k| self.hashes.get(k).copied())
                .collect();
            hashes.dedup();
            for chunk in hashes.chunks(per) {
                site.in_flight += 1;
                out.push(Batch {
                    url: url.clone(),
                    hashes: chunk.to_vec(),
                });
            }
        }
        out
    }

    /// A scrape of the tracker at `url` was answered.
    pub(crate) fn scraped(&mut self, now: Instant, url: &str, r: &ScrapeResponse) {
        let Some(site) = self.sites.get_mut(url) else {
            return;
        };
        site.in_flight = site.in_flight.saturating_sub(1);
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut n = 0;
        for (hash, stats) in &r.files {
            for key in &site.torrents {
                if self.hashes.get(key) == Some(hash) {
                    n += 1;
                    site.records.insert(
                        *key,
                        Record {
                            complete: stats.complete,
                            incomplete: stats.incomplete,
                            downloaded: stats.downloaded,
                            at,
                        },
                    );
                }
            }
        }
        if let Some(min) = r.min_request_interval {
            let min = now + Duration::from_secs(u64::from(min));
            site.next_at = site.next_at.map(|t| t.max(min));
        }
        tracing::debug!("tracker {url}: scraped, counts for {n} torrents");
    }

    /// A scrape of the tracker at `url` failed, or it has no scrape URL.
    pub(crate) fn failed(&mut self, now: Instant, url: &str, why: &str) {
        let Some(site) = self.sites.get_mut(url) else {
            return;
        };
        site.in_flight = site.in_flight.saturating_sub(1);
        if !site.backed_off {
            tracing::info!("tracker {url}: no scrape ({why}); not scraping it for 6 h");
        }
        site.backed_off = true;
        if !self.interval.is_zero() {
            site.next_at = Some(now + BACKOFF);
        }
    }

    /// A scrape could not be sent yet; it is tried again in a minute.
    pub(crate) fn deferred(&mut self, now: Instant, url: &str) {
        let Some(site) = self.sites.get_mut(url) else {
            return;
        };
        site.in_flight = site.in_flight.saturating_sub(1);
        if !self.interval.is_zero() {
            site.next_at = Some(now + RETRY.min(self.interval));
        }
    }

    /// What the tracker at `url` last said about `key`.
    pub(crate) fn record(&self, url: &str, key: TorrentKey) -> Option<Record> {
        self.sites.get(url)?.records.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedcore_tracker::ScrapeStats;

    fn resp(files: &[([u8; 20], u32)]) -> ScrapeResponse {
        ScrapeResponse {
            files: files
                .iter()
                .map(|&(h, c)| {
                    (
                        h,
                        ScrapeStats {
                            complete: c,
                            downloaded: 7,
                            incomplete: 2,
                        },
                    )
                })
                .collect(),
            min_request_interval: None,
        }
    }

    #[test]
    fn batches_after_announces_then_every_interval() {
        let t0 = Instant::now();
        let mut s = Scrapes::new(Duration::from_secs(60));
        for i in 0..120u8 {
            let k = TorrentKey(u64::from(i));
            s.add_torrent(k, [i; 20]);
            s.announced(t0, "http://t/announce", k);
            s.announced(t0, "udp://u:1", k);
        }
        assert!(s.due(t0).is_empty());
        assert_eq!(s.next_timeout(), Some(t0 + FIRST_DELAY));
        let b = s.due(t0 + FIRST_DELAY);
        let http: Vec<usize> = b
            .iter()
            .filter(|b| b.url.starts_with("http"))
            .map(|b| b.hashes.len())
            .collect();
        let udp: Vec<usize> = b
            .iter()
            .filter(|b| b.url.starts_with("udp"))
            .map(|b| b.hashes.len())
            .collect();
        assert_eq!(http, vec![50, 50, 20]);
        assert_eq!(udp, vec![MAX_SCRAPE_HASHES, 120 - MAX_SCRAPE_HASHES]);
        // Nothing more while answers are awaited.
        assert!(s.due(t0 + Duration::from_secs(600)).is_empty());
        let now = t0 + FIRST_DELAY;
        for _ in 0..3 {
            s.scraped(now, "http://t/announce", &resp(&[([3; 20], 9)]));
        }
        let r = s.record("http://t/announce", TorrentKey(3)).unwrap();
        assert_eq!((r.complete, r.incomplete, r.downloaded), (9, 2, 7));
        assert!(s.record("http://t/announce", TorrentKey(4)).is_none());
        assert!(s.record("udp://u:1", TorrentKey(3)).is_none());
        assert!(s.due(now + Duration::from_secs(59)).is_empty());
        s.deferred(now, "udp://u:1");
        s.deferred(now, "udp://u:1");
        assert_eq!(s.due(now + Duration::from_secs(60)).len(), 5);
    }

    #[test]
    fn failures_back_off_and_zero_is_off() {
        let t0 = Instant::now();
        let mut s = Scrapes::new(Duration::from_secs(60));
        s.add_torrent(TorrentKey(1), [1; 20]);
        s.announced(t0, "http://t/a", TorrentKey(1));
        assert_eq!(s.due(t0 + FIRST_DELAY).len(), 1);
        s.failed(t0, "http://t/a", "no scrape URL");
        // A new announce answer does not cut the back-off short.
        s.announced(t0, "http://t/a", TorrentKey(1));
        assert!(s.due(t0 + BACKOFF - Duration::from_secs(1)).is_empty());
        assert_eq!(s.due(t0 + BACKOFF).len(), 1);

        let mut off = Scrapes::new(Duration::ZERO);
        off.add_torrent(TorrentKey(1), [1; 20]);
        off.announced(t0, "http://t/announce", TorrentKey(1));
        assert_eq!(off.next_timeout(), None);
        assert!(off.due(t0 + BACKOFF).is_empty());
    }
}
