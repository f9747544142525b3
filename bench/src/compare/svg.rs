//! The chart: throughput against peer count, one line per seeder.
//!
//! Written by hand (a few dozen SVG elements) rather than with a plotting
//! crate: the output is small, deterministic (so a test can check it) and
//! readable as text in a diff. Peer counts go on a log2 axis, GB/s on a
//! linear one starting at zero; the raw ceiling is dashed.

use std::fmt::Write as _;

use super::results::Results;

const W: f64 = 800.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 60.0;

fn color(seeder: &str) -> &'static str {
    match seeder {
        "seedcore" => "#d62728",
        "libtorrent" => "#1f77b4",
        "transmission" => "#2ca02c",
        "aria2" => "#9467bd",
        "raw" => "#555555",
        _ => "#ff7f0e",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about
/// `ticks` steps up to `max`.
pub fn nice_step(max: f64, ticks: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / ticks;
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let f = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// The SVG document.
pub fn chart(r: &Results) -> String {
    let peers = &r.setup.peers;
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let max_gb = r
        .setup
        .seeders
        .iter()
        .flat_map(|sd| peers.iter().filter_map(move |&p| r.measured_gb_s(sd, p)))
        .fold(0.0f64, f64::max);
    let step = nice_step(max_gb, 5.0);
    let y_max = ((max_gb / step).ceil() * step).max(step);
    let lx: Vec<f64> = peers.iter().map(|&p| (p.max(1) as f64).log2()).collect();
    let (lo, hi) = (
        lx.iter().copied().fold(f64::INFINITY, f64::min),
        lx.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let x = |p: usize| {
        let l = (p.max(1) as f64).log2();
        if hi > lo {
            LEFT + (l - lo) / (hi - lo) * pw
        } else {
            LEFT + pw / 2.0
        }
    };
    let y = |v: f64| TOP + ph - v / y_max * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        esc(&format!(
            "Seeding throughput over loopback ({}, {})",
            r.date, r.host
        ))
    );
    let su = &r.setup;
    let _ = writeln!(
        s,
        r##"<text x="{}" y="40" font-size="11" fill="#555555" text-anchor="middle">{}</text>"##,
        LEFT + pw / 2.0,
        esc(&format!(
            "seeder on CPU {}, load generator on CPU {}; {} MiB torrent, depth {} per peer{}",
            r.machine.seeder_cores,
            r.machine.loadgen_cores,
            su.total_bytes >> 20,
            su.depth,
            if su.reps > 1 {
                format!("; median of {} runs", su.reps)
            } else {
                String::new()
            }
        ))
    );
    // Horizontal grid and y labels.
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#dddddd"/>"##,
            LEFT + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            yy + 4.0,
            format_tick(v, step)
        );
        v += step;
    }
    // X ticks.
    for &p in peers {
        let xx = x(p);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="#eeeeee"/>"##,
            TOP + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{p}</text>"#,
            TOP + ph + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333333"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">simulated peers (log scale)</text>"#,
        LEFT + pw / 2.0,
        H - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">GB/s received (10^9 bytes/s)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // One line per seeder, then the legend.
    let mut legend_y = TOP + 10.0;
    for sd in &r.setup.seeders {
        let pts: Vec<(f64, f64)> = peers
            .iter()
            .filter_map(|&p| Some((x(p), y(r.measured_gb_s(sd, p)?))))
            .collect();
        let c = color(sd);
        let dash = if sd == "raw" {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        if pts.len() > 1 {
            let list: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="{}"/>"#,
                list.join(" ")
            );
        }
        for (a, b) in &pts {
            let _ = writeln!(s, r#"<circle cx="{a:.1}" cy="{b:.1}" r="3.5" fill="{c}"/>"#);
        }
        let lx0 = LEFT + pw + 16.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx0:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{c}" stroke-width="2"{dash}/>"#,
            lx0 + 24.0
        );
        let label = if sd == "raw" {
            "raw-seed (ceiling)".to_string()
        } else if pts.is_empty() {
            format!("{sd} (no data)")
        } else {
            sd.clone()
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx0 + 30.0,
            legend_y + 4.0,
            esc(&label)
        );
        legend_y += 20.0;
    }
    s.push_str("</svg>\n");
    s
}

fn format_tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{v:.0}")
    } else if step >= 0.1 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
