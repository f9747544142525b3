//! The scheduler in virtual time: an `Instant` taken once, moved by hand.
#![allow(clippy::cast_possible_truncation)] // seconds to buckets

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::*;

const MIN: Duration = Duration::from_secs(60);

fn tiers(list: &[&[&str]]) -> Tiers {
    let list: Vec<Vec<String>> = list
        .iter()
        .map(|t| t.iter().map(|h| format!("udp://{h}:80")).collect())
        .collect();
    Tiers::new(&list, &mut Rng::new(0))
}

fn sched(settings: TierSettings) -> Scheduler {
    let config = ScheduleConfig {
        tiers: settings,
        ..ScheduleConfig::default()
    };
    Scheduler::new(config, Rng::new(99))
}

fn ok(interval: Option<u32>) -> AnnounceResponse {
    AnnounceResponse {
        interval,
        ..AnnounceResponse::default()
    }
}

fn secs_since(t0: Instant, t: Instant) -> f64 {
    t.duration_since(t0).as_secs_f64()
}

/// Runs due announces until `until`, answering each with `answer`;
/// returns (time, announce) for every announce made.
fn run(
    s: &mut Scheduler,
    until: Instant,
    mut answer: impl FnMut(&Announce) -> Result<AnnounceResponse, TrackerError>,
) -> Vec<(Instant, Announce)> {
    let mut log = Vec::new();
    while let Some(now) = s.poll_timeout().filter(|&t| t <= until) {
        for a in s.next_due(now) {
            match answer(&a) {
                Ok(r) => s.on_response(now, a.torrent, a.tracker, &r),
                Err(e) => s.on_error(now, a.torrent, a.tracker, &e),
            }
            log.push((now, a));
        }
    }
    log
}

#[test]
fn ten_thousand_torrents_do_not_announce_in_lock_step() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    let window = Duration::from_secs(600);
    for i in 0..10_000u64 {
        let tr = tiers(&[&["a", "b"], &["c"]]);
        assert!(s.add_torrent(t0, TorrentKey(i), [0; 20], tr, 0, window));
    }
    assert!(!s.add_torrent(t0, TorrentKey(0), [0; 20], tiers(&[&["a"]]), 0, window));
    let log = run(&mut s, t0 + Duration::from_secs(1800 + 600 + 200), |_| {
        Ok(ok(Some(1800)))
    });
    let mut first: HashMap<TorrentKey, f64> = HashMap::new();
    let mut second: HashMap<TorrentKey, f64> = HashMap::new();
    for (t, a) in &log {
        assert_eq!(
            a.url,
            "udp://a:80".replace('a', if a.tracker.0 == 0 { "a" } else { "b" })
        );
        let slot = if first.contains_key(&a.torrent) {
            &mut second
        } else {
            &mut first
        };
        slot.insert(a.torrent, secs_since(t0, *t));
    }
    assert_eq!(
        first.len(),
        10_000,
        "every torrent announced once in the window"
    );
    assert_eq!(second.len(), 10_000, "and again after its interval");
    assert_eq!(
        log.len(),
        20_000,
        "one tracker per torrent (BEP 12), nothing else"
    );
    // Uniform over 600 s: 166.7 per 10 s bucket (sd 12.8); none may be
    // far off, and no single second may carry a crowd.
    let mut buckets = [0u32; 60];
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for &t in first.values() {
        assert!((0.0..600.0).contains(&t), "{t}");
        buckets[(t / 10.0) as usize] += 1;
        *per_second.entry(t as u64).or_default() += 1;
    }
    assert!(
        buckets.iter().all(|&n| (100..=240).contains(&n)),
        "{buckets:?}"
    );
    assert!(
        per_second.values().all(|&n| n <= 45),
        "a crowd in one second"
    );
    // Re-announces: interval respected, jitter within 5 %, still spread.
    let mut per_second: HashMap<u64, u32> = HashMap::new();
    for (k, &t2) in &second {
        let gap = t2 - first[k];
        assert!((1800.0..=1890.0 + 1e-6).contains(&gap), "gap {gap}");
        *per_second.entry(t2 as u64).or_default() += 1;
    }
    assert!(per_second.values().all(|&n| n <= 45));
}

#[test]
fn back_off_grows_with_jitter_and_is_capped() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    s.add_torrent(
        t0,
        TorrentKey(1),
        [1; 20],
        tiers(&[&["a"]]),
        0,
        Duration::ZERO,
    );
    let mut now = t0;
    let mut delays = Vec::new();
    for _ in 0..12 {
        let due = s.next_due(now);
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].request.event,
            AnnounceEvent::Started,
            "started until acknowledged"
        );
        s.on_error(
            now,
            TorrentKey(1),
            TrackerKey(0),
            &TrackerError::Transport("refused".into()),
        );
        assert!(
            s.next_due(now).is_empty(),
            "the only tracker is backing off"
        );
        let next = s.poll_timeout().unwrap();
        delays.push(next.duration_since(now).as_secs_f64());
        now = next;
    }
    let nominal = [
        60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0, 3600.0,
    ];
    for (d, n) in delays
        .iter()
        .zip(nominal.iter().chain(std::iter::repeat(&3600.0)))
    {
        assert!(*d >= 0.75 * n && *d <= *n, "delay {d} for nominal {n}");
    }
    assert!(
        delays[..6].windows(2).all(|w| w[1] > w[0]),
        "grows: {delays:?}"
    );
    assert!(delays.iter().all(|&d| d <= 3600.0), "capped");
    let jittered = delays[6..].windows(2).any(|w| w[0] != w[1]);
    assert!(jittered, "capped delays still carry jitter: {delays:?}");
    let info = &s.trackers(TorrentKey(1))[0];
    assert_eq!(info.fails, 12);
    assert_eq!(
        info.last_error,
        Some(TrackerError::Transport("refused".into()))
    );
    // Success resets the back-off.
    s.next_due(now);
    s.on_response(now, TorrentKey(1), TrackerKey(0), &ok(Some(600)));
    assert_eq!(s.trackers(TorrentKey(1))[0].fails, 0);
}

#[test]
fn retry_in_is_respected() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    s.add_torrent(
        t0,
        TorrentKey(1),
        [1; 20],
        tiers(&[&["a"]]),
        0,
        Duration::ZERO,
    );
    s.next_due(t0);
    let e = TrackerError::Failure {
        reason: "later".into(),
        retry_in: Some(Duration::from_secs(1200)),
    };
    s.on_error(t0, TorrentKey(1), TrackerKey(0), &e);
    s.next_due(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(1200)));
}

#[test]
fn intervals_are_clamped_and_min_interval_respected() {
    let cases: [(AnnounceResponse, f64, f64); 4] = [
        (ok(Some(10)), 60.0, 63.0),
        (ok(Some(u32::MAX)), 86_400.0, 86_400.0 * 1.05),
        (ok(None), 1800.0, 1890.0),
        (
            AnnounceResponse {
                interval: Some(1800),
                min_interval: Some(3000),
                ..AnnounceResponse::default()
            },
            3000.0,
            3000.0,
        ),
    ];
    for (resp, lo, hi) in cases {
        let t0 = Instant::now();
        let mut s = sched(TierSettings::default());
        s.add_torrent(
            t0,
            TorrentKey(1),
            [1; 20],
            tiers(&[&["a"]]),
            0,
            Duration::ZERO,
        );
        s.next_due(t0);
        s.on_response(t0, TorrentKey(1), TrackerKey(0), &resp);
        assert!(s.next_due(t0).is_empty());
        let next = secs_since(t0, s.poll_timeout().unwrap());
        assert!(next >= lo - 1e-6 && next <= hi + 1e-6, "{resp:?}: {next}");
    }
}

#[test]
fn events_tracker_id_and_stats() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    s.add_torrent(
        t0,
        TorrentKey(1),
        [1; 20],
        tiers(&[&["a"]]),
        0,
        Duration::ZERO,
    );
    s.set_stats(TorrentKey(1), 1000, 0);
    let a = s.next_due(t0).remove(0);
    assert_eq!(a.request.event, AnnounceEvent::Started);
    assert_eq!((a.request.uploaded, a.request.left), (1000, 0));
    assert_eq!(a.request.num_want, Some(50));
    assert!(
        s.next_due(t0 + MIN * 100).is_empty(),
        "nothing while in flight"
    );
    let resp = AnnounceResponse {
        interval: Some(60),
        tracker_id: Some(b"tid".to_vec()),
        ..AnnounceResponse::default()
    };
    s.on_response(t0, TorrentKey(1), TrackerKey(0), &resp);
    s.set_stats(TorrentKey(1), 5000, 0);
    let log = run(&mut s, t0 + MIN * 30, |_| Ok(ok(Some(60))));
    assert!(log.len() >= 20);
    for (_, a) in &log {
        assert_eq!(
            a.request.event,
            AnnounceEvent::None,
            "a seed never sends completed"
        );
        assert_eq!(a.request.tracker_id.as_deref(), Some(&b"tid"[..]));
        assert_eq!(a.request.uploaded, 5000);
    }
    let stops = s.shutdown();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].request.event, AnnounceEvent::Stopped);
    assert_eq!(stops[0].request.num_want, Some(0));
    assert!(s.is_empty());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn completed_only_for_a_torrent_that_was_incomplete() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    s.add_torrent(
        t0,
        TorrentKey(1),
        [1; 20],
        tiers(&[&["a"]]),
        500,
        Duration::ZERO,
    );
    let a = s.next_due(t0).remove(0);
    assert_eq!(
        (a.request.event, a.request.left),
        (AnnounceEvent::Started, 500)
    );
    let resp = AnnounceResponse {
        interval: Some(1800),
        min_interval: Some(120),
        ..AnnounceResponse::default()
    };
    s.on_response(t0, TorrentKey(1), TrackerKey(0), &resp);
    let t1 = t0 + Duration::from_secs(30);
    s.set_left(t1, TorrentKey(1), 0);
    assert!(
        s.next_due(t1).is_empty(),
        "min interval holds for completed too"
    );
    let t2 = s.poll_timeout().unwrap();
    assert_eq!(t2, t0 + Duration::from_secs(120));
    let a = s.next_due(t2).remove(0);
    assert_eq!(
        (a.request.event, a.request.left),
        (AnnounceEvent::Completed, 0)
    );
    s.on_response(t2, TorrentKey(1), TrackerKey(0), &ok(Some(1800)));
    s.set_left(t2, TorrentKey(1), 0); // no transition: nothing queued
    let log = run(&mut s, t2 + Duration::from_secs(7200), |_| {
        Ok(ok(Some(1800)))
    });
    assert!(log
        .iter()
        .all(|(_, a)| a.request.event == AnnounceEvent::None));
}

#[test]
fn fail_over_within_a_tier_and_promote() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    let tr = tiers(&[&["a", "b"]]);
    let order = tr.tiers()[0].clone();
    let (first, second) = (order[0], order[1]);
    s.add_torrent(t0, TorrentKey(1), [1; 20], tr, 0, Duration::ZERO);
    let due = s.next_due(t0);
    assert_eq!(
        due.iter().map(|a| a.tracker).collect::<Vec<_>>(),
        vec![first]
    );
    s.on_error(
        t0,
        TorrentKey(1),
        first,
        &TrackerError::Transport("down".into()),
    );
    let due = s.next_due(t0);
    assert_eq!(
        due.iter().map(|a| a.tracker).collect::<Vec<_>>(),
        vec![second],
        "next at once"
    );
    assert_eq!(due[0].request.event, AnnounceEvent::Started);
    s.on_response(t0, TorrentKey(1), second, &ok(Some(1800)));
    // `second` now leads the tier (BEP 12): only it announces while it works,
    // though `first`'s back-off has long expired.
    let t1 = t0 + Duration::from_secs(3 * 3600);
    let log = run(&mut s, t1, |_| Ok(ok(Some(1800))));
    assert!(
        (5..=6).contains(&log.len()),
        "one per 1800..1890 s: {}",
        log.len()
    );
    assert!(log.iter().all(|(_, a)| a.tracker == second));
    // When `second` fails, `first` is tried at once, with `started`.
    let t2 = s.poll_timeout().unwrap();
    let due = s.next_due(t2);
    assert_eq!(due[0].tracker, second);
    s.on_error(
        t2,
        TorrentKey(1),
        second,
        &TrackerError::Transport("down".into()),
    );
    let due = s.next_due(t2);
    assert_eq!(
        due.iter().map(|a| a.tracker).collect::<Vec<_>>(),
        vec![first]
    );
    assert_eq!(due[0].request.event, AnnounceEvent::Started);
    s.on_response(t2, TorrentKey(1), first, &ok(Some(1800)));
    // Both may list us: both get `stopped`.
    let mut stopped: Vec<TrackerKey> = s
        .remove_torrent(TorrentKey(1))
        .iter()
        .map(|a| a.tracker)
        .collect();
    stopped.sort();
    assert_eq!(stopped, vec![TrackerKey(0), TrackerKey(1)]);
    assert!(s.remove_torrent(TorrentKey(1)).is_empty());
    // Late answers for a removed torrent are ignored.
    s.on_response(t2, TorrentKey(1), first, &ok(Some(1)));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_recovered_first_tier_takes_over_again() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    s.add_torrent(
        t0,
        TorrentKey(1),
        [1; 20],
        tiers(&[&["a"], &["c"]]),
        0,
        Duration::ZERO,
    );
    let (a, c) = (TrackerKey(0), TrackerKey(1));
    assert_eq!(s.next_due(t0)[0].tracker, a);
    s.on_error(
        t0,
        TorrentKey(1),
        a,
        &TrackerError::Transport("down".into()),
    );
    assert_eq!(s.next_due(t0)[0].tracker, c);
    s.on_response(t0, TorrentKey(1), c, &ok(Some(1800)));
    assert!(s.next_due(t0).is_empty());
    // a's back-off (45..60 s) ends before c's interval: a is retried.
    let t1 = s.poll_timeout().unwrap();
    assert!(t1 <= t0 + MIN);
    let due = s.next_due(t1);
    assert_eq!(due.iter().map(|x| x.tracker).collect::<Vec<_>>(), vec![a]);
    s.on_response(t1, TorrentKey(1), a, &ok(Some(1800)));
    let log = run(&mut s, t1 + Duration::from_secs(3 * 3600), |_| {
        Ok(ok(Some(1800)))
    });
    assert!(log.len() >= 5);
    assert!(
        log.iter().all(|(_, x)| x.tracker == a),
        "tier 0 leads again"
    );
}

#[test]
fn stopped_goes_only_to_trackers_that_may_know_us() {
    let t0 = Instant::now();
    let all = TierSettings {
        announce_to_all_tiers: true,
        announce_to_all_trackers: true,
    };
    let mut s = sched(all);
    s.add_torrent(
        t0,
        TorrentKey(1),
        [1; 20],
        tiers(&[&["a", "b"], &["c"]]),
        0,
        Duration::ZERO,
    );
    let due = s.next_due(t0);
    assert_eq!(due.len(), 3, "announce to all trackers of all tiers");
    // a answers, b refuses, c is still in flight.
    let key = |host: &str| due.iter().find(|a| a.url.contains(host)).unwrap().tracker;
    s.on_response(t0, TorrentKey(1), key("a"), &ok(Some(1800)));
    s.on_error(
        t0,
        TorrentKey(1),
        key("b"),
        &TrackerError::Transport("x".into()),
    );
    let mut stopped: Vec<TrackerKey> = s.shutdown().iter().map(|a| a.tracker).collect();
    stopped.sort();
    let mut want = vec![key("a"), key("c")];
    want.sort();
    assert_eq!(stopped, want);
}

#[test]
fn announce_to_all_tiers_announces_one_per_tier() {
    let t0 = Instant::now();
    let settings = TierSettings {
        announce_to_all_tiers: true,
        announce_to_all_trackers: false,
    };
    let mut s = sched(settings);
    let tr = tiers(&[&["a", "b"], &["c", "d"]]);
    let want = vec![tr.tiers()[0][0], tr.tiers()[1][0]];
    s.add_torrent(t0, TorrentKey(1), [1; 20], tr, 0, Duration::ZERO);
    let due: Vec<TrackerKey> = s.next_due(t0).iter().map(|a| a.tracker).collect();
    assert_eq!(due, want);
}

#[test]
fn torrent_without_trackers_never_wakes_the_loop() {
    let t0 = Instant::now();
    let mut s = sched(TierSettings::default());
    s.add_torrent(t0, TorrentKey(1), [1; 20], tiers(&[]), 0, Duration::ZERO);
    assert!(s.next_due(t0).is_empty());
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.len(), 1);
}
