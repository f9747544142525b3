//! How many requests a simulated leecher keeps in flight, modelled on what
//! real clients do, because that number decides what a seeder sees:
//!
//! - [`DepthMode::Fixed`]: exactly N (clamped to the seeder's `reqq`
//!   unless told to ignore it, as rtorrent does). Good for comparing
//!   seeders at equal depth and for `--depth 1` service times.
//! - [`DepthMode::Reqq`] (the default): as many as the seeder advertises
//!   in its BEP 10 `reqq`, [`REQQ_ABSENT`] when it advertises none. A
//!   Transmission-like client that honours `reqq`: whatever the seeder
//!   asks for is what it gets, so a small `reqq` shows up as a small
//!   pipeline.
//! - [`DepthMode::Auto`]: libtorrent's sizing
//!   (`peer_connection::update_desired_queue_size` in libtorrent 2.0): the
//!   target is `download rate x request_queue_time / block size`, clamped
//!   to `[2, max]`, where `max` is the seeder's `reqq` when it sent one
//!   (libtorrent replaces its own `max_out_request_queue` with the peer's
//!   `reqq`) and `max_out_request_queue` (500) otherwise. Before that it
//!   is in slow start: the target starts at 4 and grows by one per block
//!   received, until a second's payload grew by less than 5,000 bytes
//!   over the previous second's. The rate is libtorrent's: a moving
//!   average updated once a second (`rate = rate * 4/5 + last second / 5`).
//!
//! A real client also spends time on each block before the slot it held
//! counts as free for its pipeline: the write to disk and the hash. A
//! write latency (`--write-latency`) models it: a received block keeps its
//! slot for that long. With a pipeline capped at `reqq`, that latency is
//! what makes a small `reqq` cost throughput even on loopback
//! (`depth x 16 KiB / (round trip + latency)`), which is what libtorrent
//! and Transmission leechers showed against seedcore's former `reqq` 250.
//!
//! Some clients do not top their pipeline up as blocks arrive but on a
//! timer: Transmission 3.00 sizes its pipeline at rate x 10 s capped by
//! the peer's `reqq` (`updateDesiredRequestCount`) and refills it about
//! once a second, so a seeder's `reqq` of 250 holds it near 250 blocks a
//! second (4 MB/s, what issue 14 measured). `--refill-interval 1000` with
//! `--depth reqq` models that: requests go out only when the interval has
//! passed since the last refill.
//!
//! This module is pure: [`Pipeline`] takes the time as an argument and is
//! unit-tested without sockets.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Block size every request asks for (the last block of a piece may be
/// shorter; sizing uses the full block, as libtorrent does).
pub const BLOCK: u64 = 16 * 1024;

/// The pipeline assumed when the seeder advertises no `reqq` (BEP 10:
/// "the default in libtorrent is 250").
pub const REQQ_ABSENT: u32 = 250;

/// The deepest pipeline the load generator keeps, whatever it is told or
/// the seeder advertises (libtorrent stores its queue sizes in 16 bits).
/// Bounds the generator's memory: about 40 bytes per request in flight.
pub const MAX_DEPTH: u32 = 65_535;

/// libtorrent's `request_queue_time` default: the pipeline holds this much
/// of the download rate.
pub const DEFAULT_QUEUE_TIME: Duration = Duration::from_secs(3);

/// libtorrent's `max_out_request_queue` default: the ceiling when the
/// seeder advertises no `reqq`.
pub const DEFAULT_AUTO_MAX: u32 = 500;

/// libtorrent's smallest target (`min_request_queue`).
const AUTO_MIN: u32 = 2;
/// libtorrent's first target, before slow start has grown it.
const AUTO_START: u32 = 4;
/// Slow start ends when a second's payload grew by less than this.
const SLOW_START_GROWTH: u64 = 5_000;

/// How the pipeline depth is chosen (`--depth N|reqq|auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthMode {
    /// This many requests (at least 1, at most [`MAX_DEPTH`]).
    Fixed(u32),
    /// The seeder's advertised `reqq`.
    Reqq,
    /// libtorrent's rate-based sizing.
    Auto,
}

impl DepthMode {
    /// How the mode is written on the command line and in reports.
    pub fn name(self) -> String {
        match self {
            DepthMode::Fixed(n) => n.to_string(),
            DepthMode::Reqq => "reqq".into(),
            DepthMode::Auto => "auto".into(),
        }
    }
}

impl fmt::Display for DepthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for DepthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<DepthMode, String> {
        match s.trim() {
            "reqq" => Ok(DepthMode::Reqq),
            "auto" => Ok(DepthMode::Auto),
            n => match n.parse::<u32>() {
                Ok(d) if (1..=MAX_DEPTH).contains(&d) => Ok(DepthMode::Fixed(d)),
                _ => Err(format!(
                    "--depth {s:?}: give a number from 1 to {MAX_DEPTH}, `reqq` (follow the \
                     seeder's advertised reqq) or `auto` (libtorrent's rate-based sizing)"
                )),
            },
        }
    }
}

/// Everything that sizes one leecher's pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthConfig {
    /// The mode.
    pub mode: DepthMode,
    /// Auto: seconds of download the pipeline holds.
    pub queue_time: Duration,
    /// Auto: the ceiling when the seeder advertises no `reqq`.
    pub auto_max: u32,
    /// Keep sending past the seeder's `reqq` (fixed and auto modes), as
    /// rtorrent does; the seeder must reject or serve the excess.
    pub ignore_reqq: bool,
    /// Time a received block keeps its pipeline slot (simulated write and
    /// hash).
    pub write_latency: Duration,
    /// Top the pipeline up only this often (0: whenever a slot frees).
    pub refill_interval: Duration,
}

impl Default for DepthConfig {
    fn default() -> DepthConfig {
        DepthConfig {
            mode: DepthMode::Reqq,
            queue_time: DEFAULT_QUEUE_TIME,
            auto_max: DEFAULT_AUTO_MAX,
            ignore_reqq: false,
            write_latency: Duration::ZERO,
            refill_interval: Duration::ZERO,
        }
    }
}

impl DepthConfig {
    /// Checks combinations that cannot mean anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.ignore_reqq && self.mode == DepthMode::Reqq {
            return Err(
                "--ignore-reqq with --depth reqq: the depth *is* the seeder's reqq; give a \
                 number or `auto` with --ignore-reqq"
                    .into(),
            );
        }
        if self.mode == DepthMode::Auto {
            if self.queue_time.is_zero() {
                return Err("--request-queue-time must be more than 0 seconds".into());
            }
            if !(AUTO_MIN..=MAX_DEPTH).contains(&self.auto_max) {
                return Err(format!(
                    "--max-depth must be from {AUTO_MIN} to {MAX_DEPTH}"
                ));
            }
        }
        if self.write_latency > Duration::from_secs(10) {
            return Err("--write-latency above 10 s is not a client".into());
        }
        if self.refill_interval > Duration::from_secs(60) {
            return Err("--refill-interval above 60 s is not a client".into());
        }
        Ok(())
    }

    /// A short description for reports, e.g. `auto (3 s, max 500)`.
    pub fn describe(&self) -> String {
        let mut s = match self.mode {
            DepthMode::Fixed(n) => format!("fixed {n}"),
            DepthMode::Reqq => format!("seeder's reqq ({REQQ_ABSENT} if none)"),
            DepthMode::Auto => format!(
                "auto (rate x {} s, max reqq or {})",
                self.queue_time.as_secs_f64(),
                self.auto_max
            ),
        };
        if self.ignore_reqq {
            s.push_str(", reqq ignored");
        }
        if !self.write_latency.is_zero() {
            s.push_str(&format!(
                ", write latency {} ms",
                self.write_latency.as_secs_f64() * 1000.0
            ));
        }
        if !self.refill_interval.is_zero() {
            s.push_str(&format!(
                ", refilled every {} ms",
                self.refill_interval.as_secs_f64() * 1000.0
            ));
        }
        s
    }
}

/// One leecher's pipeline target, and the blocks still "being written".
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    cfg: DepthConfig,
    /// The `reqq` the seeder advertised, if any.
    seeder_reqq: Option<u32>,
    /// Auto: the current target before clamping.
    desired: u32,
    slow_start: bool,
    /// Auto: libtorrent's moving average of the payload rate, bytes/s.
    rate: f64,
    /// Payload bytes this second, and the whole previous second's.
    this_second: u64,
    last_second: u64,
    second_start: Instant,
    /// When each block still holding its slot may let it go (FIFO: the
    /// latency is constant).
    writing: VecDeque<Instant>,
    /// With a refill interval: when the pipeline may be topped up next.
    next_refill: Instant,
}

impl Pipeline {
    pub(crate) fn new(cfg: DepthConfig, now: Instant) -> Pipeline {
        Pipeline {
            cfg,
            seeder_reqq: None,
            desired: AUTO_START,
            slow_start: true,
            rate: 0.0,
            this_second: 0,
            last_second: 0,
            second_start: now,
            writing: VecDeque::new(),
            next_refill: now,
        }
    }

    /// Whether the pipeline may be topped up at `now`.
    pub(crate) fn refill_due(&self, now: Instant) -> bool {
        self.cfg.refill_interval.is_zero() || now >= self.next_refill
    }

    /// The pipeline was topped up at `now` (however many requests that
    /// took, none included): the next refill waits an interval.
    pub(crate) fn refilled(&mut self, now: Instant) {
        if !self.cfg.refill_interval.is_zero() {
            self.next_refill = now + self.cfg.refill_interval;
        }
    }

    /// The seeder's extended handshake said `reqq` (`None`: it did not).
    pub(crate) fn on_seeder_reqq(&mut self, reqq: Option<u32>) {
        self.seeder_reqq = reqq.filter(|&q| q > 0);
    }

    /// The `reqq` the seeder advertised.
    pub(crate) fn seeder_reqq(&self) -> Option<u32> {
        self.seeder_reqq
    }

    /// The depth to keep in flight now.
    pub(crate) fn target(&self) -> u32 {
        let reqq = self.seeder_reqq;
        let t = match self.cfg.mode {
            DepthMode::Fixed(n) => match reqq {
                Some(q) if !self.cfg.ignore_reqq => n.min(q),
                _ => n,
            },
            DepthMode::Reqq => reqq.unwrap_or(REQQ_ABSENT),
            DepthMode::Auto => {
                let max = match reqq {
                    Some(q) if !self.cfg.ignore_reqq => q,
                    _ => self.cfg.auto_max,
                };
                self.desired.min(max).max(AUTO_MIN)
            }
        };
        t.clamp(1, MAX_DEPTH)
    }

    /// Slots held by blocks received but not yet "written".
    pub(crate) fn writing(&self) -> usize {
        self.writing.len()
    }

    /// A block of `len` payload bytes arrived at `now`.
    pub(crate) fn on_block(&mut self, len: u64, now: Instant) {
        self.this_second += len;
        if !self.cfg.write_latency.is_zero() {
            self.writing.push_back(now + self.cfg.write_latency);
        }
        if self.cfg.mode == DepthMode::Auto && self.slow_start {
            self.desired = self.desired.saturating_add(1);
        }
        self.update();
    }

    /// Releases the slots whose write finished by `now`, and makes the
    /// once-a-second rate update when a second has passed (the caller
    /// calls this at least every quarter second).
    pub(crate) fn on_time(&mut self, now: Instant, unchoked: bool) {
        while self.writing.front().is_some_and(|&due| due <= now) {
            self.writing.pop_front();
        }
        if self.roll_second(now, unchoked) {
            self.update();
        }
    }

    /// When the session needs its clock again: the next slot released,
    /// or (when it may request at all: `refilling`) the next refill.
    pub(crate) fn next_release(&self, refilling: bool) -> Option<Instant> {
        let refill = (refilling && !self.cfg.refill_interval.is_zero()).then_some(self.next_refill);
        match (self.writing.front().copied(), refill) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Once a second: libtorrent's rate average and slow-start exit.
    /// Returns whether a second passed.
    fn roll_second(&mut self, now: Instant, unchoked: bool) -> bool {
        let elapsed = now.saturating_duration_since(self.second_start);
        if elapsed < Duration::from_secs(1) {
            return false;
        }
        let sample = self.this_second as f64 / elapsed.as_secs_f64();
        self.rate = self.rate * 4.0 / 5.0 + sample / 5.0;
        if self.slow_start
            && unchoked
            && self.last_second > 0
            && self.last_second + SLOW_START_GROWTH >= self.this_second
        {
            self.slow_start = false;
        }
        self.last_second = self.this_second;
        self.this_second = 0;
        self.second_start = now;
        true
    }

    fn update(&mut self) {
        if self.cfg.mode != DepthMode::Auto || self.slow_start {
            return;
        }
        let want = self.rate * self.cfg.queue_time.as_secs_f64() / BLOCK as f64;
        // Clamped to MAX_DEPTH before the (saturating) conversion.
        #[allow(clippy::cast_possible_truncation)]
        let want = want.clamp(0.0, f64::from(MAX_DEPTH)) as u32;
        self.desired = want;
    }

    /// Auto: still in slow start.
    #[cfg(test)]
    pub(crate) fn in_slow_start(&self) -> bool {
        self.slow_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mode: DepthMode) -> DepthConfig {
        DepthConfig {
            mode,
            ..DepthConfig::default()
        }
    }

    #[test]
    fn modes_parse_and_print() {
        assert_eq!("64".parse(), Ok(DepthMode::Fixed(64)));
        assert_eq!("reqq".parse(), Ok(DepthMode::Reqq));
        assert_eq!("auto".parse(), Ok(DepthMode::Auto));
        for bad in ["0", "65536", "lots", ""] {
            assert!(bad.parse::<DepthMode>().is_err(), "{bad}");
        }
        for m in [DepthMode::Fixed(7), DepthMode::Reqq, DepthMode::Auto] {
            assert_eq!(m.name().parse(), Ok(m));
        }
    }

    #[test]
    fn contradictions_are_refused() {
        let mut c = cfg(DepthMode::Reqq);
        c.ignore_reqq = true;
        assert!(c.validate().unwrap_err().contains("--ignore-reqq"));
        c.mode = DepthMode::Fixed(10);
        c.validate().unwrap();
        let mut c = cfg(DepthMode::Auto);
        c.queue_time = Duration::ZERO;
        assert!(c.validate().is_err());
        let mut c = cfg(DepthMode::Auto);
        c.auto_max = 1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn fixed_and_reqq_follow_the_seeder() {
        let t0 = Instant::now();
        let mut p = Pipeline::new(cfg(DepthMode::Fixed(64)), t0);
        assert_eq!(p.target(), 64);
        p.on_seeder_reqq(Some(16));
        assert_eq!(p.target(), 16, "clamped to the seeder's reqq");
        let mut c = cfg(DepthMode::Fixed(64));
        c.ignore_reqq = true;
        let mut p = Pipeline::new(c, t0);
        p.on_seeder_reqq(Some(16));
        assert_eq!(p.target(), 64, "rtorrent-like: reqq ignored");

        let mut p = Pipeline::new(cfg(DepthMode::Reqq), t0);
        assert_eq!(p.target(), REQQ_ABSENT, "nothing advertised yet");
        p.on_seeder_reqq(Some(2000));
        assert_eq!(p.target(), 2000);
        p.on_seeder_reqq(Some(0));
        assert_eq!(p.target(), REQQ_ABSENT, "reqq 0 means none");
        p.on_seeder_reqq(Some(u32::MAX));
        assert_eq!(p.target(), MAX_DEPTH, "bounded");
    }

    /// Feeds `per_second` bytes in 16 KiB blocks spread over one second.
    fn second(p: &mut Pipeline, t: &mut Instant, per_second: u64) {
        let blocks = per_second / BLOCK;
        let step = Duration::from_secs(1) / u32::try_from(blocks.max(1)).unwrap();
        for _ in 0..blocks {
            *t += step;
            p.on_block(BLOCK, *t);
        }
        p.on_time(*t, true);
    }

    #[test]
    fn auto_slow_start_then_rate_times_queue_time() {
        let t0 = Instant::now();
        let mut t = t0;
        let mut p = Pipeline::new(cfg(DepthMode::Auto), t0);
        assert_eq!(p.target(), AUTO_START);
        // Slow start: one more per block.
        for _ in 0..10 {
            t += Duration::from_millis(1);
            p.on_block(BLOCK, t);
        }
        assert_eq!(p.target(), AUTO_START + 10);
        assert!(p.in_slow_start());
        // Growing seconds keep it in slow start; a flat one ends it.
        second(&mut p, &mut t, 10 * BLOCK);
        second(&mut p, &mut t, 40 * BLOCK);
        assert!(p.in_slow_start());
        second(&mut p, &mut t, 40 * BLOCK);
        assert!(!p.in_slow_start(), "flat second: slow start over");
        // Then the target follows rate x 3 s / 16 KiB, as the average
        // converges: 100 blocks/s -> 300 (below the 500 ceiling).
        for _ in 0..40 {
            second(&mut p, &mut t, 100 * BLOCK);
        }
        let tgt = p.target();
        assert!((295..=300).contains(&tgt), "{tgt}");
        // The seeder's reqq replaces the ceiling.
        p.on_seeder_reqq(Some(250));
        assert_eq!(p.target(), 250);
        p.on_seeder_reqq(Some(2000));
        assert!((295..=300).contains(&p.target()));
        // No data: the target decays to libtorrent's minimum.
        for _ in 0..60 {
            t += Duration::from_secs(1);
            p.on_time(t, true);
        }
        assert_eq!(p.target(), AUTO_MIN);
    }

    #[test]
    fn auto_ceiling_without_reqq_is_max_out_request_queue() {
        let t0 = Instant::now();
        let mut t = t0;
        let mut p = Pipeline::new(cfg(DepthMode::Auto), t0);
        second(&mut p, &mut t, 100 * BLOCK);
        second(&mut p, &mut t, 100 * BLOCK);
        for _ in 0..30 {
            second(&mut p, &mut t, 1000 * BLOCK);
        }
        assert_eq!(p.target(), DEFAULT_AUTO_MAX);
    }

    #[test]
    fn refills_wait_for_their_interval() {
        let t0 = Instant::now();
        let mut c = cfg(DepthMode::Reqq);
        c.refill_interval = Duration::from_secs(1);
        let mut p = Pipeline::new(c, t0);
        assert!(p.refill_due(t0));
        p.refilled(t0);
        assert!(!p.refill_due(t0 + Duration::from_millis(999)));
        assert!(p.refill_due(t0 + Duration::from_secs(1)));
        assert_eq!(p.next_release(true), Some(t0 + Duration::from_secs(1)));
        assert_eq!(p.next_release(false), None, "choked: no refill wake-up");
        c.refill_interval = Duration::from_secs(61);
        assert!(c.validate().is_err());
    }

    #[test]
    fn write_latency_holds_slots() {
        let t0 = Instant::now();
        let mut c = cfg(DepthMode::Fixed(8));
        c.write_latency = Duration::from_millis(5);
        let mut p = Pipeline::new(c, t0);
        p.on_block(BLOCK, t0);
        p.on_block(BLOCK, t0 + Duration::from_millis(1));
        assert_eq!(p.writing(), 2);
        assert_eq!(p.next_release(true), Some(t0 + Duration::from_millis(5)));
        p.on_time(t0 + Duration::from_millis(5), true);
        assert_eq!(p.writing(), 1);
        p.on_time(t0 + Duration::from_millis(9), true);
        assert_eq!((p.writing(), p.next_release(true)), (0, None));
        // No latency: nothing held.
        let mut p = Pipeline::new(cfg(DepthMode::Fixed(8)), t0);
        p.on_block(BLOCK, t0);
        assert_eq!(p.writing(), 0);
    }
}
