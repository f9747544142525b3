//! Report and chart generation from made-up results: no process, no socket.

use super::results::*;
use super::*;

fn measured(gb_s: f64, cpu: f64, with_data: usize) -> Measured {
    Measured {
        gb_s,
        cpu_s_per_gib: Some(cpu),
        peak_rss_kib: Some(300 * 1024),
        peers_with_data: with_data,
        peers_open_at_end: with_data,
        latency_p50_ms: Some(1.5),
        latency_p99_ms: Some(9.25),
        depth_used: "250".into(),
        seeder_reqq: Some(250),
        command: "taskset -c 1 seedcore-bench load --peers 16".into(),
        ..Measured::default()
    }
}

fn sample() -> Results {
    let run = |seeder: &str, peers, result| Run {
        seeder: seeder.into(),
        peers,
        rep: 0,
        result,
    };
    Results {
        date: "2026-11-21".into(),
        host: "vm".into(),
        started: "2026-11-21 21:30".into(),
        command: "seedcore-bench compare --data bench/work/x".into(),
        machine: Machine {
            nproc: 2,
            cpu_model: "Test CPU".into(),
            kernel: "6.18".into(),
            seeder_cores: "0".into(),
            loadgen_cores: "1".into(),
            load_before: "0.1 0.2 0.3".into(),
            load_after: "1.0 0.5 0.4".into(),
            versions: vec![Named {
                name: "aria2".into(),
                value: "aria2 version 1.36.0".into(),
            }],
            ..Machine::default()
        },
        setup: Setup {
            total_bytes: 256 << 20,
            piece_length: 262_144,
            pieces: 1024,
            duration_s: 10.0,
            warmup_s: 3.0,
            transmission_warmup_s: 15.0,
            ramp_s: 2.0,
            ramp_above: 256,
            depth: "64".into(),
            loadgen_threads: 1,
            seeder_threads: 1,
            seeders: vec![
                "seedcore".into(),
                "libtorrent".into(),
                "transmission".into(),
                "raw".into(),
            ],
            peers: vec![1, 16],
            ..Setup::default()
        },
        runs: vec![
            run("seedcore", 1, Ok(measured(3.0, 0.3, 1))),
            run("libtorrent", 1, Ok(measured(1.0, 1.0, 1))),
            run(
                "transmission",
                1,
                Err("transmission-daemon | not found".into()),
            ),
            run("raw", 1, Ok(measured(4.0, 0.25, 1))),
            run("seedcore", 16, Ok(measured(2.5, 0.4, 16))),
            run(
                "libtorrent",
                16,
                Ok(Measured {
                    errors: 2,
                    error_detail: "closed_by_peer 2".into(),
                    ..measured(1.25, 1.1, 14)
                }),
            ),
            run("transmission", 16, Err("not seeding".into())),
            run("raw", 16, Ok(measured(5.0, 0.2, 16))),
        ],
        idle: Some(IdleResult {
            asked: 5000,
            held: 5000,
            seedcore_peers: Some(5000),
            rss_before_kib: 10_000,
            rss_held_kib: 23_672,
            command: "load --idle".into(),
            ..IdleResult::default()
        }),
        many: Some(ManyResult {
            torrents: 1000,
            bytes_each: 65536,
            cold: Some(StartTiming {
                last_torrent_s: 0.8,
                answered: 1000,
                status_s: Some(1.9),
                rss_kib: Some(90_000),
            }),
            resumed: None,
            command: "seedcore seed ...".into(),
            failure: Some("second start: boom".into()),
        }),
        seeder_commands: vec![Named {
            name: "seedcore".into(),
            value: "taskset -c 0 seedcore seed t --port 1".into(),
        }],
        setup_notes: vec![],
    }
}

#[test]
fn tables_have_ratios_failures_and_extras() {
    let r = sample();
    let md = markdown(&r, "2026-11-21-vm.svg");
    assert!(md.starts_with(
        "# Seeding throughput: seedcore, libtorrent, transmission, raw (2026-11-21, vm)"
    ));
    assert!(md.contains("![throughput against peers](2026-11-21-vm.svg)"));
    assert!(md.contains("## 1 peer\n"));
    assert!(md.contains("## 16 peers\n"));
    // 3.0 GB/s: 0.75 of the 4.0 ceiling, 3.00x libtorrent.
    assert!(
        md.contains(
            "| seedcore | 3.00 | 0.75 | 3.00 | 0.30 | 300 | 1/1 | 1 | 1.5 / 9.2 | 250 (reqq 250) | 0 |"
        ),
        "{md}"
    );
    // 2.5 GB/s at 16: 0.50 of 5.0, 2.00x 1.25.
    assert!(md.contains("| seedcore | 2.50 | 0.50 | 2.00 |"), "{md}");
    assert!(md.contains("| libtorrent | 1.25 | 0.25 | 1.00 | 1.10 | 300 | 14/16 | 14 |"));
    assert!(md.contains("| 2 (closed_by_peer 2) |"));
    // A failed run says why, with the table's `|` escaped.
    assert!(md.contains("| transmission | not measured: transmission-daemon \\| not found |"));
    assert!(md.contains("| raw | 4.00 | 1.00 | 4.00 |"));
    // Idle: (23672 - 10000) KiB * 1024 / 5000 = 2800 bytes.
    assert!(
        md.contains("| 5000 | 5000 | 5000 | 9.8 | 23.1 | 2800 | 0 |"),
        "{md}"
    );
    assert!(md.contains("## Starting 1000 torrents (seedcore)"));
    assert!(md.contains(
        "| first (no resume files: verifies every piece) | 0.80 | 1000/1000 | 1.9 | 88 |"
    ));
    assert!(md.contains("| second (resume files) | not measured |"));
    assert!(md.contains("Not measured: second start: boom"));
    assert!(md.contains("- CPUs: 2 x Test CPU"));
    assert!(md.contains("- load average before: 0.1 0.2 0.3"));
    assert!(md.contains("seeder on CPU 0, load generator on CPU 1"));
    assert!(md.contains("seedcore-bench compare --data bench/work/x"));
    assert!(md.contains("taskset -c 0 seedcore seed t --port 1"));
    assert!(md.contains("taskset -c 1 seedcore-bench load --peers 16"));
    assert!(!md.contains("share the same CPUs"));
}

#[test]
fn shared_cpus_are_called_out() {
    let mut r = sample();
    r.machine.loadgen_cores = "0".into();
    assert!(markdown(&r, "x.svg").contains("share the same CPUs"));
}

#[test]
fn chart_has_a_line_per_measured_seeder() {
    let r = sample();
    let svg = chart(&r);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    // seedcore, libtorrent and raw have two points each: three lines;
    // transmission has none.
    assert_eq!(svg.matches("<polyline").count(), 3);
    assert_eq!(svg.matches("<circle").count(), 6);
    assert!(svg.contains("transmission (no data)"));
    assert!(svg.contains("raw-seed (ceiling)"));
    assert!(svg.contains("stroke-dasharray"), "the ceiling is dashed");
    assert!(svg.contains("seeder on CPU 0, load generator on CPU 1; 256 MiB torrent"));
    // Axis: max 5 GB/s with a step of 1 -> ticks 0..5.
    for t in 0..=5 {
        assert!(svg.contains(&format!(">{t}</text>")), "tick {t}");
    }
    // Opening and closing tags balance.
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    // Same input, same bytes.
    assert_eq!(svg, chart(&r));
}

#[test]
fn small_numbers_do_not_read_as_zero() {
    assert_eq!(markdown::num(2.345), "2.35");
    assert_eq!(markdown::num(0.0217), "0.022");
    assert_eq!(markdown::num(0.00214), "0.0021");
    assert_eq!(markdown::num(0.0), "0.00");
}

#[test]
fn commands_are_shown_relative_to_the_checkout() {
    let mut r = sample();
    r.seeder_commands[0].value =
        "taskset -c 0 /repo/bin/seedcore seed /repo/t --data /repo/d".into();
    relative_paths(&mut r, "/repo/");
    assert_eq!(
        r.seeder_commands[0].value,
        "taskset -c 0 bin/seedcore seed t --data d"
    );
}

#[test]
fn nice_steps() {
    assert_eq!(nice_step(5.0, 5.0), 1.0);
    assert_eq!(nice_step(7.3, 5.0), 2.0);
    assert_eq!(nice_step(0.06, 5.0), 0.02);
    assert_eq!(nice_step(0.0, 5.0), 1.0);
    assert_eq!(nice_step(f64::NAN, 5.0), 1.0);
}

#[test]
fn results_round_trip_and_render() {
    let r = sample();
    let dir = tempfile::tempdir().unwrap();
    let w = write(&r, dir.path(), true).unwrap();
    assert!(w.markdown.ends_with("2026-11-21-vm.md"));
    let back: Results = serde_json::from_str(&fs::read_to_string(&w.json).unwrap()).unwrap();
    assert_eq!(back, r);
    fs::remove_file(&w.markdown).unwrap();
    let again = render(&w.json).unwrap();
    assert_eq!(
        fs::read_to_string(&again.markdown).unwrap(),
        markdown(&r, "2026-11-21-vm.svg")
    );
    assert!(render(&dir.path().join("missing.json")).is_err());
}

#[test]
fn repetitions_report_the_median_run_and_the_range() {
    let mut r = sample();
    r.setup.reps = 3;
    let extra = |gb, rep| Run {
        seeder: "seedcore".into(),
        peers: 16,
        rep,
        result: Ok(measured(gb, 0.5, 16)),
    };
    r.runs.push(extra(2.0, 1));
    r.runs.push(extra(3.0, 2));
    r.runs.push(Run {
        seeder: "seedcore".into(),
        peers: 16,
        rep: 3,
        result: Err("seedcore exited".into()),
    });
    let sm = r.summary("seedcore", 16).unwrap().unwrap();
    assert_eq!((sm.median.gb_s, sm.min_gb_s, sm.max_gb_s), (2.5, 2.0, 3.0));
    assert_eq!((sm.ok, sm.total), (3, 4));
    assert_eq!(
        sm.median.cpu_s_per_gib,
        Some(0.4),
        "figures of the median run"
    );
    let md = markdown(&r, "x.svg");
    assert!(md.contains("Every run was made 3 times"));
    assert!(
        md.contains("| seedcore | 2.50 [2.00-3.00] | 0.50 | 2.00 | 0.40 |"),
        "{md}"
    );
    assert!(md.contains("; 1 of 4 runs not measured: seedcore exited |"));
    assert_eq!(r.summary("transmission", 16), Some(Err("not seeding")));
    assert_eq!(r.summary("aria2", 16), None);
}

#[test]
fn results_written_before_depth_modes_still_load() {
    // The committed 2026-11-21 run has a numeric `depth` and no
    // `depth_used`: `--render` must still read it.
    let text = include_str!("../../results/2026-11-21-vm.json");
    let r: Results = serde_json::from_str(text).unwrap();
    assert_eq!(r.setup.depth, "64");
    let md = markdown(&r, "x.svg");
    assert!(
        md.contains("keeping 64 requests of 16 KiB in flight"),
        "{md}"
    );
    assert!(md.contains("| - | "), "old runs show no depth used");
}
