//! What a `leechers` run measured, as data (written as JSON, re-rendered
//! with `--render`) and as the Markdown report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::compare::results::{Machine, Named};

/// One download that completed and verified.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeechMeasured {
    /// Payload MB (10^6 bytes) per second from the first data on disk
    /// (1 MiB, above any control file a client writes) to completion.
    pub mb_s: f64,
    /// Seconds from the first byte to completion.
    pub transfer_s: f64,
    /// Seconds from the seeder serving to the first byte (the client's
    /// own start-up: Transmission's 10 s choke timer shows here).
    pub first_byte_s: f64,
    /// Seconds from the seeder serving to completion.
    pub total_s: f64,
    /// The seeder's CPU seconds (user + system, all threads) from serving
    /// to completion.
    pub seeder_cpu_s: f64,
    /// That per GiB of the torrent.
    pub seeder_cpu_s_per_gib: f64,
    /// The leecher's CPU seconds per GiB over the same time.
    pub leecher_cpu_s_per_gib: Option<f64>,
    /// The seeder's peak RSS (VmHWM), KiB.
    pub seeder_peak_rss_kib: Option<u64>,
}

/// One leecher downloading from one seeder once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeechRun {
    /// The client.
    pub leecher: String,
    /// The seeder column.
    pub seeder: String,
    /// Round (0-based).
    pub rep: usize,
    /// The figures, or why there are none (stalled, timed out, bad data).
    pub result: Result<LeechMeasured, String>,
}

/// How the runs were set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeechSetup {
    /// The torrent.
    pub torrent: String,
    /// Its info-hash, hex.
    pub info_hash: String,
    /// Payload bytes.
    pub total_bytes: u64,
    /// Piece length.
    pub piece_length: u32,
    /// Rounds.
    pub reps: usize,
    /// Per-download limit, s.
    pub timeout_s: f64,
    /// No-progress limit, s.
    pub stall_s: f64,
    /// Seeder columns, in order.
    pub seeders: Vec<String>,
    /// Leechers, in order.
    pub leechers: Vec<String>,
}

/// Everything a `leechers` run wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeechResults {
    /// UTC date.
    pub date: String,
    /// Host label.
    pub host: String,
    /// UTC start time.
    pub started: String,
    /// The command line.
    pub command: String,
    /// The machine (`seeder_cores` / `loadgen_cores`: seeder / leecher).
    pub machine: Machine,
    /// The setup.
    pub setup: LeechSetup,
    /// Each seeder's command (one example run).
    pub seeder_commands: Vec<Named>,
    /// Each leecher's command (one example run).
    pub leecher_commands: Vec<Named>,
    /// Every run, in the order made.
    pub runs: Vec<LeechRun>,
}

/// The repetitions of one leecher x seeder pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell<'a> {
    /// The run with the median MB/s (lower middle for even counts).
    pub median: &'a LeechMeasured,
    /// Slowest measured run.
    pub min_mb_s: f64,
    /// Fastest.
    pub max_mb_s: f64,
    /// Runs measured / made.
    pub ok: usize,
    /// Runs made.
    pub total: usize,
    /// The first failure, if any.
    pub failure: Option<&'a str>,
}

impl LeechResults {
    /// The runs of one pair, summed up; `Err` with the first failure when
    /// none was measured, `None` when none was made.
    pub fn cell(&self, leecher: &str, seeder: &str) -> Option<Result<Cell<'_>, &str>> {
        let runs: Vec<&LeechRun> = self
            .runs
            .iter()
            .filter(|r| r.leecher == leecher && r.seeder == seeder)
            .collect();
        if runs.is_empty() {
            return None;
        }
        let failure = runs
            .iter()
            .find_map(|r| r.result.as_ref().err().map(String::as_str));
        let mut ok: Vec<&LeechMeasured> =
            runs.iter().filter_map(|r| r.result.as_ref().ok()).collect();
        if ok.is_empty() {
            return Some(Err(failure.unwrap_or("no run measured")));
        }
        ok.sort_by(|a, b| a.mb_s.total_cmp(&b.mb_s));
        let median = ok.get((ok.len() - 1) / 2).copied()?;
        Some(Ok(Cell {
            median,
            min_mb_s: ok.first().map_or(0.0, |m| m.mb_s),
            max_mb_s: ok.last().map_or(0.0, |m| m.mb_s),
            ok: ok.len(),
            total: runs.len(),
            failure,
        }))
    }

    /// The report's file stem: `leechers-<date>-<host>`.
    pub fn stem(&self) -> String {
        format!(
            "leechers-{}-{}",
            self.date,
            crate::compare::file_label(&self.host)
        )
    }
}

fn f1(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell_text(c: &Option<Result<Cell<'_>, &str>>) -> (String, String) {
    match c {
        None => ("-".into(), "-".into()),
        Some(Err(e)) => (format!("**failed**: {}", esc(e)), "-".into()),
        Some(Ok(c)) => {
            let mut speed = f1(c.median.mb_s);
            if c.ok > 1 {
                let _ = write!(speed, " ({}-{})", f1(c.min_mb_s), f1(c.max_mb_s));
            }
            if let Some(f) = c.failure {
                let _ = write!(
                    speed,
                    "; {} of {} failed: {}",
                    c.total - c.ok,
                    c.total,
                    esc(f)
                );
            }
            (speed, format!("{:.2}", c.median.seeder_cpu_s_per_gib))
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Whether `seedcore`'s cell meets the issue's target against
/// libtorrent's: faster, at no more than half the CPU per GiB.
pub fn target_met(seedcore: &Cell<'_>, libtorrent: &Cell<'_>) -> bool {
    seedcore.median.mb_s > libtorrent.median.mb_s
        && seedcore.median.seeder_cpu_s_per_gib <= 0.5 * libtorrent.median.seeder_cpu_s_per_gib
}

/// The Markdown report.
pub fn markdown(r: &LeechResults) -> String {
    let mut s = String::new();
    let su = &r.setup;
    let m = &r.machine;
    let _ = writeln!(
        s,
        "# Real leechers: {} from {} ({}, {})\n",
        su.leechers.join(", "),
        su.seeders.join(" / "),
        r.date,
        r.host
    );
    let _ = writeln!(
        s,
        "Written by `seedcore-bench leechers` ({} UTC). Each real client downloads the \
         whole torrent ({:.0} MiB in one file, {} KiB pieces, page cache warm) from each \
         seeder, one pair at a time, {} round{} with the pairs interleaved. Each client \
         listens on its own 127.0.0.x with DHT, local discovery, PEX and uTP off and no \
         limits; the seeder (a fresh process pinned to CPU {}) dials it; the client is \
         pinned to CPU {}. Downloads go to disk (ext4, page cache) and every finished copy \
         is checked with `seedcore verify`. A run gives up after {:.0} s, or after {:.0} s \
         without a byte of progress.\n",
        r.started,
        su.total_bytes as f64 / f64::from(1u32 << 20),
        su.piece_length / 1024,
        su.reps,
        if su.reps == 1 { "" } else { "s" },
        m.seeder_cores,
        m.loadgen_cores,
        su.timeout_s,
        su.stall_s,
    );
    let _ = writeln!(
        s,
        "**MB/s**: payload (10^6 bytes) per second from the first MiB on disk to \
         completion, median of the rounds (range in brackets). **CPU s/GiB**: the \
         seeder's CPU time (user + system, all threads, `/proc/PID/stat`) from serving \
         to completion per GiB, from the median run. **x lt**: seedcore's figure over \
         libtorrent seeding the same client in the same run. **target**: ahead of \
         libtorrent at no more than half its CPU s/GiB (issue 14).\n"
    );
    let mut head = String::from("| leecher |");
    let mut rule = String::from("| --- |");
    for sd in &su.seeders {
        let _ = write!(head, " {sd} MB/s | CPU s/GiB |");
        rule.push_str(" ---: | ---: |");
    }
    let seedcores: Vec<&String> = su
        .seeders
        .iter()
        .filter(|x| x.starts_with("seedcore"))
        .collect();
    let has_lt = su.seeders.iter().any(|x| x == "libtorrent");
    if has_lt {
        for sc in &seedcores {
            let _ = write!(head, " {sc}: x lt MB/s | x lt CPU | target |");
            rule.push_str(" ---: | ---: | --- |");
        }
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for l in &su.leechers {
        let mut row = format!("| {l} |");
        for sd in &su.seeders {
            let (speed, cpu) = cell_text(&r.cell(l, sd));
            let _ = write!(row, " {speed} | {cpu} |");
        }
        if has_lt {
            let lt = r.cell(l, "libtorrent");
            for sc in &seedcores {
                match (r.cell(l, sc), &lt) {
                    (Some(Ok(a)), Some(Ok(b))) => {
                        let _ = write!(
                            row,
                            " {:.2} | {:.2} | {} |",
                            a.median.mb_s / b.median.mb_s.max(1e-9),
                            a.median.seeder_cpu_s_per_gib / b.median.seeder_cpu_s_per_gib.max(1e-9),
                            if target_met(&a, b) {
                                "met"
                            } else {
                                "**not met**"
                            }
                        );
                    }
                    (Some(Err(_)), _) => row.push_str(" - | - | **not met** (failed) |"),
                    _ => row.push_str(" - | - | - |"),
                }
            }
        }
        let _ = writeln!(s, "{row}");
    }
    s.push('\n');
    let _ = writeln!(s, "## Every run\n");
    let _ = writeln!(
        s,
        "| round | leecher | seeder | MB/s | first byte s | transfer s | seeder CPU s/GiB | leecher CPU s/GiB | seeder peak RSS MiB |"
    );
    let _ = writeln!(
        s,
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for run in &r.runs {
        match &run.result {
            Ok(x) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} |",
                    run.rep + 1,
                    run.leecher,
                    run.seeder,
                    f1(x.mb_s),
                    x.first_byte_s,
                    x.transfer_s,
                    x.seeder_cpu_s_per_gib,
                    x.leecher_cpu_s_per_gib
                        .map_or("-".into(), |c| format!("{c:.2}")),
                    x.seeder_peak_rss_kib
                        .map_or("-".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
                );
            }
            Err(e) => {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | failed: {} | | | | | |",
                    run.rep + 1,
                    run.leecher,
                    run.seeder,
                    esc(e)
                );
            }
        }
    }
    s.push('\n');
    let _ = writeln!(s, "## Machine and commands\n");
    let _ = writeln!(
        s,
        "- {} CPUs ({}), kernel {}, {:.1} GiB memory; load average before {}, after {}",
        m.nproc, m.cpu_model, m.kernel, m.mem_gib, m.load_before, m.load_after
    );
    for v in &m.versions {
        let _ = writeln!(s, "- {}: {}", v.name, v.value);
    }
    let _ = writeln!(s, "\n```\n{}\n```\n", r.command);
    for c in r.seeder_commands.iter().chain(&r.leecher_commands) {
        let _ = writeln!(s, "- {}: `{}`", c.name, c.value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mb_s: f64, cpu: f64) -> LeechMeasured {
        LeechMeasured {
            mb_s,
            transfer_s: 1.0,
            seeder_cpu_s_per_gib: cpu,
            ..LeechMeasured::default()
        }
    }

    fn sample() -> LeechResults {
        let run = |leecher: &str, seeder: &str, rep, result| LeechRun {
            leecher: leecher.into(),
            seeder: seeder.into(),
            rep,
            result,
        };
        LeechResults {
            date: "2026-12-07".into(),
            host: "vm".into(),
            setup: LeechSetup {
                total_bytes: 1 << 30,
                piece_length: 1 << 20,
                reps: 3,
                seeders: vec!["seedcore".into(), "libtorrent".into()],
                leechers: vec!["libtorrent".into(), "rtorrent".into()],
                ..LeechSetup::default()
            },
            runs: vec![
                run("libtorrent", "seedcore", 0, Ok(m(800.0, 0.3))),
                run("libtorrent", "seedcore", 1, Ok(m(700.0, 0.4))),
                run("libtorrent", "seedcore", 2, Ok(m(900.0, 0.2))),
                run("libtorrent", "libtorrent", 0, Ok(m(570.0, 1.3))),
                run("rtorrent", "seedcore", 0, Err("stalled at 84.3 %".into())),
                run("rtorrent", "libtorrent", 0, Ok(m(300.0, 1.0))),
            ],
            ..LeechResults::default()
        }
    }

    #[test]
    fn cells_take_the_median_run() {
        let r = sample();
        let c = r.cell("libtorrent", "seedcore").unwrap().unwrap();
        assert_eq!(
            (c.median.mb_s, c.min_mb_s, c.max_mb_s),
            (800.0, 700.0, 900.0)
        );
        assert_eq!(
            c.median.seeder_cpu_s_per_gib, 0.3,
            "figures of the median run"
        );
        assert_eq!(
            r.cell("rtorrent", "seedcore").unwrap(),
            Err("stalled at 84.3 %")
        );
        assert!(r.cell("aria2", "seedcore").is_none());
        let lt = r.cell("libtorrent", "libtorrent").unwrap().unwrap();
        assert!(target_met(&c, &lt));
        let slow = m(500.0, 0.1);
        let c2 = Cell {
            median: &slow,
            ..c.clone()
        };
        assert!(!target_met(&c2, &lt), "slower is not met");
        let costly = m(900.0, 0.7);
        let c3 = Cell {
            median: &costly,
            ..c
        };
        assert!(!target_met(&c3, &lt), "more than half the CPU is not met");
    }

    #[test]
    fn report_says_met_or_not_per_leecher() {
        let md = markdown(&sample());
        assert!(
            md.contains("| libtorrent | 800 (700-900) | 0.30 | 570 | 1.30 | 1.40 | 0.23 | met |"),
            "{md}"
        );
        assert!(md.contains("| rtorrent | **failed**: stalled at 84.3 % | - | 300 | 1.00 | - | - | **not met** (failed) |"), "{md}");
        assert!(
            md.contains("| 1 | rtorrent | seedcore | failed: stalled at 84.3 % |"),
            "{md}"
        );
        let json = serde_json::to_string(&sample()).unwrap();
        let back: LeechResults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sample());
    }
}
