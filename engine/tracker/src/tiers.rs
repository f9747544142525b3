//! Multi-tracker torrents (BEP 12): tiers, shuffling, promotion, and which
//! trackers to announce to at a given moment.
//!
//! BEP 12 says: shuffle each tier once, try a tier's trackers in order,
//! move the tracker that answered to the front of its tier, go to the next
//! tier only when every tracker of a tier has failed. [`Tiers::select`]
//! applies that rule to each tracker's current state, the way libtorrent
//! does, instead of keeping a cursor: walking the trackers in order, the
//! first one that is working (its last announce succeeded, or it has not
//! been tried), has an announce in flight, or is due now "covers" its tier,
//! and those after it are not announced to; a tracker that failed and is
//! backing off covers nothing, so the walk goes on to the next one. So a
//! failure moves on at once, a tracker that recovers takes over again when
//! its back-off expires and it answers, and nothing needs resetting.
//!
//! The libtorrent settings widen the walk:
//! [`TierSettings::announce_to_all_trackers`] announces to every tracker of
//! the tier reached, [`TierSettings::announce_to_all_tiers`] goes on to
//! every tier; both together announce everywhere.

use seedcore_protocol::metainfo::Metainfo;

use crate::kind::TrackerUrl;
use crate::rng::Rng;

/// Most trackers kept per torrent; the rest of a longer list is dropped.
pub const MAX_TRACKERS: usize = 256;

/// libtorrent's two multi-tracker settings (both off by default, as there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierSettings {
    /// Announce to one working tracker in every tier, not only the first
    /// tier that has one.
    pub announce_to_all_tiers: bool,
    /// Announce to every tracker of a tier, not only the first working one.
    pub announce_to_all_trackers: bool,
}

/// One tracker of a torrent: its index in the torrent's list (the order
/// the trackers were given in, before shuffling; stable for its lifetime).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerKey(pub u16);

/// What [`Tiers::select`] needs to know about one tracker right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerStatus {
    /// An announce is due (its time has come and none is in flight).
    pub due: bool,
    /// Its last announce succeeded, or it has not been tried yet.
    pub working: bool,
    /// An announce to it is outstanding.
    pub in_flight: bool,
}

/// A torrent's trackers in BEP 12 tiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiers {
    urls: Vec<String>,
    tiers: Vec<Vec<TrackerKey>>,
}

impl Tiers {
    /// Tiers from an `announce-list`, each tier shuffled with `rng`. URLs
    /// that are not http, https or udp trackers (`wss://`, typos) and
    /// repeats of an earlier URL are dropped, then empty tiers; at most
    /// [`MAX_TRACKERS`] are kept.
    pub fn new(announce_list: &[Vec<String>], rng: &mut Rng) -> Tiers {
        let mut urls: Vec<String> = Vec::new();
        let mut tiers = Vec::new();
        for tier in announce_list {
            let mut keys = Vec::new();
            for url in tier {
                let url = url.trim();
                if urls.len() >= MAX_TRACKERS
                    || TrackerUrl::parse(url).is_err()
                    || urls.iter().any(|u| u == url)
                {
                    continue;
                }
                // Fits: urls.len() < MAX_TRACKERS <= u16::MAX.
                keys.push(TrackerKey(u16::try_from(urls.len()).unwrap_or(u16::MAX)));
                urls.push(url.to_owned());
            }
            if !keys.is_empty() {
                rng.shuffle(&mut keys);
                tiers.push(keys);
            }
        }
        Tiers { urls, tiers }
    }

    /// A torrent's trackers: its `announce-list` when it has one (BEP 12
    /// says `announce` is then ignored), else `announce` as a single tier.
    pub fn from_metainfo(meta: &Metainfo, rng: &mut Rng) -> Tiers {
        if meta.announce_list.iter().any(|t| !t.is_empty()) {
            Tiers::new(&meta.announce_list, rng)
        } else {
            let single: Vec<Vec<String>> = meta.announce.iter().map(|a| vec![a.clone()]).collect();
            Tiers::new(&single, rng)
        }
    }

    /// Number of trackers.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Whether there is no usable tracker.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The URL of a tracker.
    pub fn url(&self, key: TrackerKey) -> Option<&str> {
        self.urls.get(usize::from(key.0)).map(String::as_str)
    }

    /// The tiers, in order, each in its current order.
    pub fn tiers(&self) -> &[Vec<TrackerKey>] {
        &self.tiers
    }

    /// Moves `key` to the front of its tier (it just answered; BEP 12).
    pub fn promote(&mut self, key: TrackerKey) {
        for tier in &mut self.tiers {
            if let Some(pos) = tier.iter().position(|&k| k == key) {
                if let Some(head) = tier.get_mut(..=pos) {
                    head.rotate_right(1);
                }
                return;
            }
        }
    }

    /// The trackers to announce to now, given each one's status; see the
    /// module docs for the rule.
    pub fn select(
        &self,
        settings: TierSettings,
        status: impl Fn(TrackerKey) -> TrackerStatus,
    ) -> Vec<TrackerKey> {
        let mut out = Vec::new();
        for tier in &self.tiers {
            let mut covered = false;
            for &key in tier {
                let s = status(key);
                if s.due {
                    out.push(key);
                    covered = true;
                } else if s.in_flight || s.working {
                    covered = true;
                }
                if covered && !settings.announce_to_all_trackers {
                    break;
                }
            }
            if covered && !settings.announce_to_all_tiers {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)] // test lists are short
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn list(tiers: &[&[&str]]) -> Vec<Vec<String>> {
        tiers
            .iter()
            .map(|t| t.iter().map(|u| format!("udp://{u}:80")).collect())
            .collect()
    }

    fn key_of(t: &Tiers, host: &str) -> TrackerKey {
        let url = format!("udp://{host}:80");
        (0..t.len())
            .map(|i| TrackerKey(i as u16))
            .find(|&k| t.url(k) == Some(url.as_str()))
            .unwrap()
    }

    #[test]
    fn shuffle_is_seeded_and_per_tier() {
        let hosts: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let tier: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let input = list(&[&tier, &["last"]]);
        let a = Tiers::new(&input, &mut Rng::new(1));
        let b = Tiers::new(&input, &mut Rng::new(1));
        let c = Tiers::new(&input, &mut Rng::new(2));
        assert_eq!(a, b, "same seed, same order");
        assert_ne!(a.tiers()[0], c.tiers()[0], "another seed, another order");
        let mut sorted = a.tiers()[0].clone();
        sorted.sort();
        assert_eq!(sorted, (0..20).map(TrackerKey).collect::<Vec<_>>());
        assert_ne!(a.tiers()[0], sorted, "tier 0 was not shuffled");
        assert_eq!(a.tiers()[1], vec![TrackerKey(20)], "tiers stay apart");
    }

    #[test]
    fn bad_duplicate_and_empty_entries_are_dropped() {
        let input = vec![
            vec!["wss://w.example/".to_string(), "udp://a:80".into()],
            vec![],
            vec!["udp://a:80".into(), "nonsense".into()],
            vec!["http://b/announce".into()],
        ];
        let t = Tiers::new(&input, &mut Rng::new(0));
        assert_eq!(t.len(), 2);
        assert_eq!(t.tiers().len(), 2);
        assert_eq!(t.url(TrackerKey(1)), Some("http://b/announce"));
        assert_eq!(t.url(TrackerKey(2)), None);
    }

    #[test]
    fn promote_moves_to_front_of_its_tier_only() {
        let mut t = Tiers::new(&list(&[&["a", "b", "c"], &["d", "e"]]), &mut Rng::new(3));
        let before = t.tiers().to_vec();
        let third = before[0][2];
        t.promote(third);
        assert_eq!(t.tiers()[0], vec![third, before[0][0], before[0][1]]);
        assert_eq!(t.tiers()[1], before[1]);
        let e = before[1][1];
        t.promote(e);
        assert_eq!(t.tiers()[1][0], e);
    }

    /// A little model: every tracker's state, and select() over it.
    struct Model {
        tiers: Tiers,
        st: HashMap<TrackerKey, TrackerStatus>,
    }

    impl Model {
        fn new(tiers: Tiers) -> Model {
            let st = (0..tiers.len())
                .map(|i| {
                    let s = TrackerStatus {
                        due: true,
                        working: true,
                        in_flight: false,
                    };
                    (TrackerKey(i as u16), s)
                })
                .collect();
            Model { tiers, st }
        }
        fn select(&self, s: TierSettings) -> Vec<TrackerKey> {
            self.tiers.select(s, |k| self.st[&k])
        }
        fn fail(&mut self, k: TrackerKey) {
            self.st.insert(
                k,
                TrackerStatus {
                    due: false,
                    working: false,
                    in_flight: false,
                },
            );
        }
        fn succeed(&mut self, k: TrackerKey) {
            self.st.insert(
                k,
                TrackerStatus {
                    due: false,
                    working: true,
                    in_flight: false,
                },
            );
            self.tiers.promote(k);
        }
    }

    #[test]
    fn fail_over_within_then_across_tiers_and_promote() {
        let tiers = Tiers::new(&list(&[&["a", "b"], &["c"]]), &mut Rng::new(9));
        let order = tiers.tiers().to_vec();
        let (first, second, c) = (order[0][0], order[0][1], order[1][0]);
        let mut m = Model::new(tiers);
        let one = TierSettings::default();
        assert_eq!(
            m.select(one),
            vec![first],
            "only the first tracker of tier 0"
        );
        m.fail(first);
        assert_eq!(m.select(one), vec![second], "then the next in the tier");
        m.fail(second);
        assert_eq!(m.select(one), vec![c], "then the next tier");
        m.succeed(c);
        assert_eq!(m.select(one), vec![], "c covers; nothing due");
        // The first tracker's back-off expires: it is retried first.
        m.st.insert(
            first,
            TrackerStatus {
                due: true,
                working: false,
                in_flight: false,
            },
        );
        assert_eq!(m.select(one), vec![first]);
        m.succeed(first);
        assert_eq!(m.tiers.tiers()[0][0], first);
        // Its second failure leaves tier 0 to `second` again (after back-off).
        m.fail(first);
        m.st.insert(
            second,
            TrackerStatus {
                due: true,
                working: false,
                in_flight: false,
            },
        );
        assert_eq!(m.select(one), vec![second]);
        m.succeed(second);
        assert_eq!(
            m.tiers.tiers()[0][0],
            second,
            "the one that answered leads its tier"
        );
    }

    #[test]
    fn in_flight_covers_its_tier() {
        let tiers = Tiers::new(&list(&[&["a", "b"]]), &mut Rng::new(4));
        let first = tiers.tiers()[0][0];
        let mut m = Model::new(tiers);
        m.st.insert(
            first,
            TrackerStatus {
                due: false,
                working: false,
                in_flight: true,
            },
        );
        assert_eq!(m.select(TierSettings::default()), vec![]);
    }

    #[test]
    fn announce_to_all_settings() {
        let tiers = Tiers::new(&list(&[&["a", "b"], &["c", "d"]]), &mut Rng::new(5));
        let order = tiers.tiers().to_vec();
        let mut m = Model::new(tiers);
        let all_trackers = TierSettings {
            announce_to_all_trackers: true,
            announce_to_all_tiers: false,
        };
        let all_tiers = TierSettings {
            announce_to_all_trackers: false,
            announce_to_all_tiers: true,
        };
        let both = TierSettings {
            announce_to_all_trackers: true,
            announce_to_all_tiers: true,
        };
        assert_eq!(m.select(all_trackers), order[0]);
        assert_eq!(m.select(all_tiers), vec![order[0][0], order[1][0]]);
        assert_eq!(m.select(both).len(), 4);
        // Tier 0 entirely failing: all_trackers moves on to tier 1.
        m.fail(order[0][0]);
        m.fail(order[0][1]);
        assert_eq!(m.select(all_trackers), order[1]);
        assert_eq!(m.select(all_tiers), vec![order[1][0]]);
    }

    #[test]
    fn metainfo_announce_list_wins_over_announce() {
        fn torrent(extra: &str) -> Metainfo {
            let bytes = format!(
                "d8:announce14:udp://solo:80/{extra}4:infod6:lengthi1e4:name1:a\
                 12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"
            );
            Metainfo::from_bytes(bytes.as_bytes()).unwrap()
        }
        let solo = Tiers::from_metainfo(&torrent(""), &mut Rng::new(0));
        assert_eq!(solo.len(), 1);
        assert_eq!(solo.url(TrackerKey(0)), Some("udp://solo:80/"));
        let listed = torrent("13:announce-listll10:udp://x:80el10:udp://y:80ee");
        let t = Tiers::from_metainfo(&listed, &mut Rng::new(0));
        assert_eq!(t.tiers().len(), 2);
        assert_eq!((key_of(&t, "x").0, key_of(&t, "y").0), (0, 1));
        assert_eq!(t.url(TrackerKey(2)), None, "announce is ignored");
    }
}
