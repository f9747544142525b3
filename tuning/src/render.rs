//! The human table.

use std::fmt::Write as _;

use crate::checks::{Report, Status};

/// Widest FOUND column before a value is allowed to push WANTED right.
const FOUND_WIDTH: usize = 46;

/// The report as a table: one line per item, and under each item that is
/// not OK, why it matters, the fix and the line that keeps it.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let shards = if report.shards == 1 {
        "shard"
    } else {
        "shards"
    };
    let uid = report
        .uid
        .map_or_else(|| "uid ?".to_string(), |u| format!("uid {u}"));
    let _ = writeln!(
        out,
        "seedcore tune: {} {shards} on {} cores, link {} ({}), checked as {uid}",
        report.shards, report.cores, report.link, report.link_source
    );
    let _ = writeln!(
        out,
        "(limits are this shell's; a systemd service gets the ones in its unit)\n"
    );
    let id_w = report
        .checks
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let found_w = report
        .checks
        .iter()
        .map(|c| c.found.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, FOUND_WIDTH);
    let _ = writeln!(
        out,
        "{:<6}  {:<id_w$}  {:<found_w$}  WANTED",
        "STATUS", "ITEM", "FOUND"
    );
    for c in &report.checks {
        let _ = writeln!(
            out,
            "{:<6}  {:<id_w$}  {:<found_w$}  {}",
            c.status.to_string(),
            c.id,
            c.found,
            c.wanted
        );
        if c.status != Status::Ok {
            let _ = writeln!(out, "        why:     {}", c.why);
            if let Some(f) = &c.fix {
                let _ = writeln!(out, "        fix:     {f}");
            }
            if let Some(p) = &c.persist {
                let _ = writeln!(out, "        persist: {p}");
            }
        }
    }
    let s = report.summary;
    let _ = writeln!(
        out,
        "\n{} OK, {} WARN, {} FAIL (advice: fix commands need root; \
         tuning/sysctl/90-seedcore.conf holds every sysctl)",
        s.ok, s.warn, s.fail
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Check, Summary};
    use crate::link::Link;

    #[test]
    fn table_shows_fixes_only_for_items_that_need_them() {
        let report = Report {
            link: Link::G10,
            link_source: "--link".into(),
            shards: 3,
            cores: 4,
            uid: Some(1000),
            checks: vec![
                Check::new("a.ok", Status::Ok, "1", ">= 1", "because"),
                Check::new("b.warn", Status::Warn, "2", ">= 3", "it matters")
                    .fix("sysctl -w b.warn=3")
                    .persist("b.warn = 3"),
            ],
            summary: Summary {
                ok: 1,
                warn: 1,
                fail: 0,
            },
        };
        let t = table(&report);
        assert!(t.starts_with(
            "seedcore tune: 3 shards on 4 cores, link 10g (--link), checked as uid 1000"
        ));
        assert!(t.contains("STATUS  ITEM    FOUND  WANTED\n"), "{t}");
        assert!(t.contains("OK      a.ok    1      >= 1\n"), "{t}");
        assert!(t.contains("WARN    b.warn  2      >= 3\n        why:     it matters\n        fix:     sysctl -w b.warn=3\n        persist: b.warn = 3\n"), "{t}");
        assert!(!t.contains("because"));
        assert!(t.contains("1 OK, 1 WARN, 0 FAIL"));
    }
}
