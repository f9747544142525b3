//! What a sweep prints as it goes, and the comment header of the file it
//! writes (the figures behind the choice travel with the configuration, so
//! whoever finds the file later knows where its values came from).

use std::fmt::Write as _;
use std::time::Duration;

use super::{Figures, Measured, Point, TIE};

/// How a point ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Measured.
    Ok(Figures),
    /// Ran and failed (the reason, for the table).
    Failed(String),
    /// Not run: the budget was spent.
    Skipped,
}

/// One line of the table.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// 1-based position in the grid.
    pub index: usize,
    /// Points in the grid.
    pub total: usize,
    /// The settings.
    pub point: &'a Point,
    /// Load time (warm-up and measurement) it ran with.
    pub load: Option<Duration>,
    /// The result.
    pub outcome: &'a Outcome,
}

/// `x` with `prec` decimals, or `-`.
fn opt(x: Option<f64>, prec: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.prec$}"))
}

/// The column titles, aligned with [`table_row`].
pub fn table_header() -> String {
    format!(
        "{:>5}  {:>6}  {:>6}  {:<9}  {:>6}  {:>6}  {:>10}  {:>10}  {:>7}  {:>7}  result",
        "point",
        "shards",
        "reqq",
        "send_path",
        "load s",
        "GB/s",
        "seed s/GiB",
        "load s/GiB",
        "p99 ms",
        "RSS MiB"
    )
}

/// One point as a table line. The point is `index/total`; figures are `-`
/// where absent; the last column is `ok`, `ok, N errors`, `failed: WHY`
/// or `skipped (budget spent)`.
pub fn table_row(row: &Row<'_>) -> String {
    let p = row.point;
    let figures = match row.outcome {
        Outcome::Ok(f) => Some(f),
        _ => None,
    };
    let result = match row.outcome {
        Outcome::Ok(f) if f.errors > 0 => format!("ok, {} errors", f.errors),
        Outcome::Ok(_) => "ok".to_string(),
        Outcome::Failed(why) => format!("failed: {why}"),
        Outcome::Skipped => "skipped (budget spent)".to_string(),
    };
    format!(
        "{:>5}  {:>6}  {:>6}  {:<9}  {:>6}  {:>6}  {:>10}  {:>10}  {:>7}  {:>7}  {result}",
        format!("{}/{}", row.index, row.total),
        p.shards,
        p.reqq,
        p.send_path,
        opt(row.load.map(|d| d.as_secs_f64()), 1),
        opt(figures.map(|f| f.gb_s), 2),
        opt(figures.and_then(|f| f.seed_cpu_s_per_gib), 3),
        opt(figures.and_then(|f| f.loadgen_cpu_s_per_gib), 3),
        opt(figures.and_then(|f| f.p99_ms), 1),
        opt(figures.and_then(|f| f.peak_rss_mib), 0),
    )
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the Unix epoch (the civil
/// calendar from day counts, so no time-zone database is needed).
pub fn utc(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Howard Hinnant's days-to-civil, shifted so the era starts in March.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// What the header of the written file says.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    /// When the sweep ran (seconds since the Unix epoch).
    pub unix_time: u64,
    /// The command line, as typed.
    pub command: &'a str,
    /// The winner.
    pub best: &'a Measured,
    /// Simulated peers per point.
    pub peers: u32,
    /// The host, in words (`2 cores, Linux 6.18`).
    pub host: &'a str,
    /// Every point's table line ([`table_row`]), in grid order.
    pub rows: &'a [String],
}

/// The comment block that opens the written file: when and how it was
/// measured, the winner's figures, and every point's line.
pub fn toml_header(h: &Header<'_>) -> String {
    let f = &h.best.figures;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# seedcore seed configuration chosen by `seedcore tune --sweep`"
    );
    let _ = writeln!(out, "# written {} by:", utc(h.unix_time));
    let _ = writeln!(out, "#   {}", h.command.replace('\n', " "));
    let _ = writeln!(out, "#");
    let _ = writeln!(out, "# best: {}", h.best.point);
    let _ = writeln!(
        out,
        "#   {:.2} GB/s of payload to {} loopback peers, seed {} CPU s/GiB, p99 {} ms",
        f.gb_s,
        h.peers,
        opt(f.seed_cpu_s_per_gib, 3),
        opt(f.p99_ms, 1)
    );
    let _ = writeln!(
        out,
        "#   (highest throughput; points within {:.0}% of it go to the lowest seed CPU per GiB)",
        TIE * 100.0
    );
    let _ = writeln!(out, "#");
    let _ = writeln!(
        out,
        "# every point, on {} (loopback: the seed and the load generator share",
        h.host
    );
    let _ = writeln!(
        out,
        "# the cores; a real NIC and real peers will differ, the ranking less so):"
    );
    let _ = writeln!(out, "#   {}", table_header());
    for r in h.rows {
        let _ = writeln!(out, "#   {r}");
    }
    let _ = writeln!(out, "#");
    let _ = writeln!(
        out,
        "# Add [[torrent]] entries (path, data), then check the host with"
    );
    let _ = writeln!(out, "# `seedcore tune --config <this file>`.");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> Point {
        Point {
            shards: 2,
            reqq: 1000,
            send_path: "sendfile".into(),
        }
    }

    fn figures() -> Figures {
        Figures {
            gb_s: 4.8123,
            seed_cpu_s_per_gib: Some(0.3125),
            loadgen_cpu_s_per_gib: Some(0.15),
            p99_ms: Some(97.04),
            peak_rss_mib: Some(260.4),
            peers_with_data: 64,
            errors: 0,
        }
    }

    #[test]
    fn rows_line_up_with_the_header() {
        let p = point();
        let ok = Outcome::Ok(figures());
        let line = table_row(&Row {
            index: 3,
            total: 12,
            point: &p,
            load: Some(Duration::from_millis(9500)),
            outcome: &ok,
        });
        assert_eq!(
            line,
            " 3/12       2    1000  sendfile      9.5    4.81       0.312       0.150     97.0      260  ok"
        );
        assert_eq!(
            line.find("ok"),
            table_header().find("result"),
            "result column aligned"
        );
        let skipped = table_row(&Row {
            index: 12,
            total: 12,
            point: &p,
            load: None,
            outcome: &Outcome::Skipped,
        });
        assert!(skipped.ends_with(
            "     -       -           -           -        -        -  skipped (budget spent)"
        ));
        let failed = table_row(&Row {
            index: 1,
            total: 1,
            point: &p,
            load: Some(Duration::from_secs(2)),
            outcome: &Outcome::Failed("seed exited with status 2".into()),
        });
        assert!(failed.ends_with("failed: seed exited with status 2"));
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_296_530), "2026-11-21 21:28:50 UTC");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
    }

    #[test]
    fn header_is_all_comments_and_names_the_figures() {
        let best = Measured {
            point: point(),
            figures: figures(),
        };
        let rows = vec!["row one".to_string(), "row two".to_string()];
        let h = toml_header(&Header {
            unix_time: 0,
            command: "seedcore tune --sweep --torrent t.torrent",
            best: &best,
            peers: 64,
            host: "2 cores",
            rows: &rows,
        });
        for line in h.lines().filter(|l| !l.is_empty()) {
            assert!(line.starts_with('#'), "{line}");
        }
        assert!(h.contains("# written 1970-01-01 00:00:00 UTC by:\n#   seedcore tune --sweep --torrent t.torrent\n"));
        assert!(h.contains("# best: shards = 2, reqq = 1000, send_path = \"sendfile\"\n"));
        assert!(h.contains(
            "4.81 GB/s of payload to 64 loopback peers, seed 0.312 CPU s/GiB, p99 97.0 ms"
        ));
        assert!(h.contains("within 3% of it"));
        assert!(h.contains("#   row two\n"));
        // The header parses as TOML (nothing but comments).
        let v: toml::Table = toml::from_str(&h).unwrap();
        assert!(v.is_empty());
    }
}
