//! The soak's chart: one SVG, four panels over time (the good leecher's
//! throughput, the seed's memory, its descriptors and connections, kernel
//! socket memory), the baseline shaded. Hand-written SVG: a few polylines
//! do not need a plotting crate.

use std::fmt::Write;

use crate::compare::svg::nice_step;

/// One line of a panel.
pub struct Series {
    /// Legend text.
    pub name: &'static str,
    /// SVG colour.
    pub color: &'static str,
    /// (seconds, value).
    pub points: Vec<(f64, f64)>,
}

/// One panel.
pub struct Panel {
    /// Title above it.
    pub title: &'static str,
    /// Unit of the values.
    pub unit: &'static str,
    /// Its lines.
    pub series: Vec<Series>,
}

const W: f64 = 900.0;
const PH: f64 = 170.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const GAP: f64 = 45.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The chart, `t_end` seconds wide, the first `baseline` seconds shaded.
pub fn chart(title: &str, panels: &[Panel], t_end: f64, baseline: f64) -> String {
    let h = TOP + panels.len() as f64 * (PH + GAP) + 20.0;
    let pw = W - LEFT - RIGHT;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let t_end = t_end.max(1.0);
    let xs = |t: f64| LEFT + pw * (t / t_end).clamp(0.0, 1.0);
    for (k, p) in panels.iter().enumerate() {
        let y0 = TOP + k as f64 * (PH + GAP);
        let max = p
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|q| q.1))
            .fold(0.0, f64::max);
        let step = nice_step(max.max(1e-9), 4.0);
        let top = (max / step).ceil().max(1.0) * step;
        let ys = |v: f64| y0 + PH - PH * (v / top).clamp(0.0, 1.0);
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{y0}" width="{pw}" height="{PH}" fill="none" stroke="#999"/>"##
        );
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{y0}" width="{}" height="{PH}" fill="#eef" />"##,
            xs(baseline) - LEFT
        );
        let _ = write!(
            s,
            r#"<text x="{LEFT}" y="{}" font-weight="bold">{} ({})</text>"#,
            y0 - 6.0,
            esc(p.title),
            esc(p.unit)
        );
        let mut v = 0.0;
        while v <= top + step / 2.0 {
            let y = ys(v);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                LEFT + pw,
                LEFT - 4.0,
                y + 4.0,
                fmt_num(v)
            );
            v += step;
        }
        for (i, se) in p.series.iter().enumerate() {
            let pts: Vec<String> = se
                .points
                .iter()
                .map(|&(t, v)| format!("{:.1},{:.1}", xs(t), ys(v)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
                se.color,
                pts.join(" ")
            );
            let ly = y0 + 14.0 + i as f64 * 16.0;
            let _ = write!(
                s,
                r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
                LEFT + pw + 10.0,
                LEFT + pw + 28.0,
                se.color,
                LEFT + pw + 32.0,
                ly + 4.0,
                esc(se.name)
            );
        }
    }
    let yb = TOP + panels.len() as f64 * (PH + GAP) - GAP + 16.0;
    let tstep = nice_step(t_end, 8.0);
    let mut t = 0.0;
    while t <= t_end + 1e-9 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{yb}" text-anchor="middle">{}</text>"#,
            xs(t),
            fmt_num(t)
        );
        t += tstep;
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds (shaded: baseline, the good leecher alone)</text></svg>"#,
        LEFT + pw / 2.0,
        yb + 16.0
    );
    s
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
