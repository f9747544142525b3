//! The report: one table per peer count, the idle-connection and
//! many-torrent figures, the machine and the exact commands.

use std::fmt::Write as _;

use super::results::{Measured, Results, StartTiming, Summary};

const MIB: f64 = 1024.0;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".to_string(), |x| format!("{x:.digits$}"))
}

/// Two decimals, more for small values so they do not read as zero.
pub(crate) fn num(v: f64) -> String {
    if v == 0.0 || v.abs() >= 0.095 {
        format!("{v:.2}")
    } else if v.abs() >= 0.0095 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

fn ratio(num_: f64, den: Option<f64>) -> String {
    match den {
        Some(d) if d > 0.0 => num(num_ / d),
        _ => "-".to_string(),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".to_string(), |k| format!("{:.0}", k as f64 / MIB))
}

/// Escapes `|` so a message cannot break a table row.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn row(
    s: &mut String,
    name: &str,
    peers: usize,
    sum: Result<Summary<'_>, &str>,
    ctx: (Option<f64>, Option<f64>),
) {
    let (raw, lt) = ctx;
    let sm = match sum {
        Ok(sm) => sm,
        Err(why) => {
            let _ = writeln!(
                s,
                "| {name} | not measured: {} | | | | | | | | | |",
                cell(why)
            );
            return;
        }
    };
    let Measured {
        gb_s,
        cpu_s_per_gib,
        peak_rss_kib,
        peers_with_data,
        peers_open_at_end,
        errors,
        error_detail,
        latency_p50_ms,
        latency_p99_ms,
        depth_used,
        seeder_reqq,
        ..
    } = sm.median;
    let depth = match (depth_used.as_str(), seeder_reqq) {
        ("", _) => "-".to_string(),
        (d, Some(q)) => format!("{d} (reqq {q})"),
        (d, None) => format!("{d} (no reqq)"),
    };
    let mut errs = if *errors == 0 {
        "0".to_string()
    } else {
        format!("{errors} ({})", cell(error_detail))
    };
    if let Some(e) = sm.first_error {
        let _ = write!(
            errs,
            "; {} of {} runs not measured: {}",
            sm.total - sm.ok,
            sm.total,
            cell(e)
        );
    }
    let spread = if sm.ok > 1 {
        format!(" [{}-{}]", num(sm.min_gb_s), num(sm.max_gb_s))
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "| {name} | {}{spread} | {} | {} | {} | {} | {peers_with_data}/{peers} | {peers_open_at_end} | {} / {} | {depth} | {errs} |",
        num(*gb_s),
        ratio(*gb_s, raw),
        ratio(*gb_s, lt),
        opt(*cpu_s_per_gib, 2),
        mib(*peak_rss_kib),
        opt(*latency_p50_ms, 1),
        opt(*latency_p99_ms, 1),
    );
}

fn timing(s: &mut String, label: &str, t: Option<&StartTiming>, n: usize) {
    match t {
        Some(t) => {
            let _ = writeln!(
                s,
                "| {label} | {:.2} | {}/{n} | {} | {} |",
                t.last_torrent_s,
                t.answered,
                opt(t.status_s, 1),
                mib(t.rss_kib)
            );
        }
        None => {
            let _ = writeln!(s, "| {label} | not measured | | | |");
        }
    }
}

/// How the intro describes the load's pipeline for `--depth`.
fn depth_phrase(depth: &str) -> String {
    match depth {
        "reqq" => "keeping as many requests of 16 KiB in flight as the seeder advertises \
                   in its BEP 10 `reqq` (250 when it advertises none)"
            .to_string(),
        "auto" => "sizing its pipeline of 16 KiB requests as libtorrent does (download \
                   rate x 3 s / 16 KiB, at most the seeder's `reqq`)"
            .to_string(),
        n => format!(
            "keeping {n} requests of 16 KiB in flight (fewer if the seeder's `reqq` is lower)"
        ),
    }
}

/// The Markdown report; `svg` is the chart's file name (same folder).
pub fn markdown(r: &Results, svg: &str) -> String {
    let mut s = String::new();
    let su = &r.setup;
    let m = &r.machine;
    let _ = writeln!(
        s,
        "# Seeding throughput: {} ({}, {})\n",
        su.seeders.join(", "),
        r.date,
        r.host
    );
    let _ = writeln!(
        s,
        "Written by `seedcore-bench compare` ({} UTC). The same load against each \
         seeder: `seedcore-bench load` with N simulated leechers, each from its own \
         127.x.y.z address, each {} in random \
         piece order, counting and discarding the data (column **depth**: the \
         depth used and the `reqq` the seeder advertised). Torrent: {:.0} MiB in one file, \
         {} pieces of {} KiB, page cache warm (read once before the runs; every seeder \
         also checks the data at start). Each run starts a fresh seeder process pinned \
         to CPU {} and the load generator ({} thread{}) pinned to CPU {}; a run is \
         {:.0} s of load not measured (warm-up; {:.0} s for transmission, whose choker \
         runs every 10 s), then {:.0} s measured. Runs of more than {} peers connect \
         over a {:.0} s ramp inside the warm-up. Loopback only.\n",
        r.started,
        depth_phrase(&su.depth),
        su.total_bytes as f64 / (1u64 << 20) as f64,
        su.pieces,
        su.piece_length / 1024,
        m.seeder_cores,
        su.loadgen_threads,
        if su.loadgen_threads == 1 { "" } else { "s" },
        m.loadgen_cores,
        su.warmup_s,
        su.transmission_warmup_s,
        su.duration_s,
        su.ramp_above,
        su.ramp_s,
    );
    if m.seeder_cores == m.loadgen_cores {
        let _ = writeln!(
            s,
            "**The seeder and the load generator share the same CPUs** (one CPU \
             available), so throughput is a lower bound; compare CPU s/GiB.\n"
        );
    }
    let _ = writeln!(s, "![throughput against peers]({svg})\n");
    let _ = writeln!(
        s,
        "Columns: **GB/s** block payload received per second (10^9 bytes); **x raw** \
         and **x lt** that figure over `raw-seed` (the raw loopback ceiling) and over \
         libtorrent in the same table; **CPU s/GiB** the seeder's CPU time (user + \
         system, all threads, from `/proc/PID/stat`) per GiB sent; **peak RSS** its \
         VmHWM in MiB, which counts resident pages of mapped files, so seeders that \
         serve from an mmap show the torrent's size; **with data / asked** peers that \
         received at least one block; **open** peers still connected at the end; \
         **p50 / p99 ms** request-to-block latency (mostly queueing: peers x depth x \
         16 KiB / throughput); **errors** connection and protocol errors the load \
         generator counted.\n"
    );
    if su.reps > 1 {
        let _ = writeln!(
            s,
            "Every run was made {} times (the seeders interleaved within each round). \
             Each row is the run with the median throughput, all its figures from that \
             run; [min-max] is the range of the {} throughputs.\n",
            su.reps, su.reps
        );
    }
    for &peers in &su.peers {
        let raw = r.gb_s("raw", peers);
        let lt = r.gb_s("libtorrent", peers);
        let _ = writeln!(s, "## {peers} peer{}\n", if peers == 1 { "" } else { "s" });
        let _ = writeln!(
            s,
            "| seeder | GB/s | x raw | x lt | CPU s/GiB | peak RSS MiB | with data / asked | open | p50 / p99 ms | depth | errors |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for name in &su.seeders {
            if let Some(sum) = r.summary(name, peers) {
                row(&mut s, name, peers, sum, (raw, lt));
            }
        }
        s.push('\n');
    }
    if let Some(i) = &r.idle {
        let _ = writeln!(s, "## Idle connections (seedcore)\n");
        match &i.failure {
            Some(f) => {
                let _ = writeln!(s, "Not measured: {}\n", cell(f));
            }
            None => {
                let _ = writeln!(
                    s,
                    "{} peers connect (handshake, `have none`, extended handshake), then \
                     stay silent; seedcore's resident memory before they connect and the \
                     highest sampled while they are held.\n",
                    i.asked
                );
                let _ = writeln!(
                    s,
                    "| asked | held (load generator) | seedcore's count | RSS before MiB | RSS held MiB | bytes per connection | errors |"
                );
                let _ = writeln!(s, "| ---: | ---: | ---: | ---: | ---: | ---: | --- |");
                let errs = if i.errors == 0 {
                    "0".to_string()
                } else {
                    format!("{} ({})", i.errors, cell(&i.error_detail))
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.1} | {:.1} | {} | {errs} |\n",
                    i.asked,
                    i.held,
                    i.seedcore_peers.map_or("-".into(), |p| p.to_string()),
                    i.rss_before_kib as f64 / MIB,
                    i.rss_held_kib as f64 / MIB,
                    opt(i.bytes_per_conn(), 0),
                );
            }
        }
    }
    if let Some(mt) = &r.many {
        let _ = writeln!(s, "## Starting {} torrents (seedcore)\n", mt.torrents);
        if let Some(f) = &mt.failure {
            let _ = writeln!(s, "Not measured: {}\n", cell(f));
        }
        let _ = writeln!(
            s,
            "{} single-file torrents of {} KiB each in one `seedcore seed` command. \
             Time from spawn until the last torrent answers a handshake (seedcore \
             listens only once every torrent is loaded and checked), how many of all \
             the torrents then answered one probe each, and when the first JSON status \
             line listed them all with every piece (status lines come once a \
             second).\n",
            mt.torrents,
            mt.bytes_each / 1024
        );
        let _ = writeln!(
            s,
            "| start | spawn to last torrent served, s | torrents answering | status lists all, s | RSS MiB |"
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
        timing(
            &mut s,
            "first (no resume files: verifies every piece)",
            mt.cold.as_ref(),
            mt.torrents,
        );
        timing(
            &mut s,
            "second (resume files)",
            mt.resumed.as_ref(),
            mt.torrents,
        );
        s.push('\n');
    }
    let _ = writeln!(s, "## Machine\n");
    let _ = writeln!(s, "- CPUs: {} x {}", m.nproc, m.cpu_model);
    let _ = writeln!(
        s,
        "- kernel {}, {:.1} GiB memory, `ulimit -n` {}",
        m.kernel,
        m.mem_gib,
        m.nofile.map_or("?".into(), |n| n.to_string())
    );
    let _ = writeln!(
        s,
        "- seeder on CPU {}, load generator on CPU {} (`taskset -c`)",
        m.seeder_cores, m.loadgen_cores
    );
    let _ = writeln!(s, "- load average before: {}", m.load_before);
    let _ = writeln!(s, "- load average after: {}", m.load_after);
    for v in &m.versions {
        let _ = writeln!(s, "- {}: {}", v.name, v.value);
    }
    let _ = writeln!(s, "\n## Commands\n");
    let _ = writeln!(s, "The whole benchmark:\n\n```\n{}\n```\n", r.command);
    let _ = writeln!(
        s,
        "Paths are relative to the folder the benchmark ran in (the repository root). \
         Each process runs as `timeout --kill-after=5 LIMIT taskset -c CPUS ...` and is \
         stopped with SIGTERM to its pid (SIGKILL 10 s later); `bench/work/compare/bin/` \
         holds copies of the binaries made at the start. Seeders (ports vary per \
         run):\n\n```"
    );
    for c in &r.seeder_commands {
        let _ = writeln!(s, "# {}\n{}", c.name, c.value);
    }
    let _ = writeln!(s, "```\n");
    for n in &r.setup_notes {
        let _ = writeln!(s, "- {}: {}", n.name, n.value);
    }
    if let Some(run) = r.runs.iter().find(|x| x.result.is_ok()) {
        if let Ok(mm) = &run.result {
            let _ = writeln!(
                s,
                "\nThe load (here for {} at {} peer{}; `--pid` is the seeder's pid):\n\n```\n{}\n```",
                run.seeder,
                run.peers,
                if run.peers == 1 { "" } else { "s" },
                mm.command
            );
        }
    }
    if let Some(i) = &r.idle {
        let _ = writeln!(s, "\nIdle connections:\n\n```\n{}\n```", i.command);
    }
    if let Some(mt) = &r.many {
        let _ = writeln!(s, "\nMany torrents:\n\n```\n{}\n```", mt.command);
    }
    s
}
