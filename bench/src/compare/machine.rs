//! Facts about the machine and the software, for the report: read from
//! `/proc` and from each tool's `--version`.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::proc::first_line;
use super::results::{Machine, Named};

/// The first value of `key` in `/proc/cpuinfo`-style text.
pub fn cpuinfo_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// The host name (`/proc/sys/kernel/hostname`).
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// (year, month, day) of a day count since 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Now in UTC: ("YYYY-MM-DD", "YYYY-MM-DD HH:MM").
pub fn utc_now() -> (String, String) {
    utc(SystemTime::now())
}

/// `t` in UTC: ("YYYY-MM-DD", "YYYY-MM-DD HH:MM").
pub fn utc(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    let date = format!("{y:04}-{m:02}-{d:02}");
    let time = format!("{date} {:02}:{:02}", tod / 3600, tod % 3600 / 60);
    (date, time)
}

fn nofile() -> Option<u64> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Machine facts (versions are added by [`versions`]).
pub fn machine(seeder_cores: &str, loadgen_cores: &str) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = crate::procstat::parse_status_kib(&meminfo, "MemTotal").unwrap_or(0);
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, usize::from),
        cpu_model: cpuinfo_value(&cpuinfo, "model name").unwrap_or_else(|| "?".into()),
        kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into()),
        mem_gib: mem_kib as f64 / (1u64 << 20) as f64,
        nofile: nofile(),
        load_before: loadavg(),
        load_after: String::new(),
        seeder_cores: seeder_cores.to_string(),
        loadgen_cores: loadgen_cores.to_string(),
        versions: Vec::new(),
    }
}

/// Versions of everything that ran.
pub fn versions(seedcore: &Path, python: &Path, repo: &Path) -> Vec<Named> {
    let mut v = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        v.push(Named {
            name: name.into(),
            value: value.unwrap_or_else(|| "not found".into()),
        });
    };
    let git = first_line(
        "git",
        &[
            "-C",
            &repo.display().to_string(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    let dirty = std::process::Command::new("timeout")
        .args([
            "10",
            "git",
            "-C",
            &repo.display().to_string(),
            "status",
            "--porcelain",
        ])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    let built = fs::metadata(seedcore)
        .and_then(|m| m.modified())
        .map_or_else(|_| "?".to_string(), |t| utc(t).1);
    add(
        "seedcore",
        first_line(&seedcore.display().to_string(), &["--version"]).map(|s| {
            format!(
                "{s} ({}, built {built} UTC; repository at git {}{})",
                seedcore.display(),
                git.unwrap_or_else(|| "?".into()),
                if dirty {
                    " with uncommitted changes"
                } else {
                    ""
                }
            )
        }),
    );
    add(
        "libtorrent (python3-libtorrent)",
        first_line(
            &python.display().to_string(),
            &["-c", "import libtorrent; print(libtorrent.__version__)"],
        ),
    );
    add(
        "transmission-daemon",
        first_line("transmission-daemon", &["--version"]),
    );
    add("aria2", first_line("aria2c", &["--version"]));
    add("rustc", first_line("rustc", &["--version"]));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let (d, t) = utc_now();
        assert_eq!(d.len(), 10);
        assert!(t.starts_with(&d));
    }

    #[test]
    fn cpuinfo_lines() {
        let t = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: sse\n";
        assert_eq!(
            cpuinfo_value(t, "model name").as_deref(),
            Some("Intel(R) Xeon(R)")
        );
        assert_eq!(cpuinfo_value(t, "nothing"), None);
    }
}
