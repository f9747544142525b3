//! The `compare` command line and the checks that turn it into a [`Plan`].
//!
//! Parsing is separate from running so that every option can be tested
//! without starting a process or opening a socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::CompareError;

/// The seeders `compare` knows how to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum SeederKind {
    /// `seedcore seed` (release binary).
    Seedcore,
    /// libtorrent 2.0 with `high_performance_seed` (`bench/py/lt_seed.py`).
    Libtorrent,
    /// transmission-daemon, torrent added over RPC.
    Transmission,
    /// `aria2c` seeding with `--seed-ratio=0`.
    Aria2,
    /// `seedcore-bench raw-seed`: the raw loopback ceiling.
    Raw,
}

impl SeederKind {
    /// Every seeder, in report order.
    pub const ALL: [SeederKind; 5] = [
        SeederKind::Seedcore,
        SeederKind::Libtorrent,
        SeederKind::Transmission,
        SeederKind::Aria2,
        SeederKind::Raw,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SeederKind::Seedcore => "seedcore",
            SeederKind::Libtorrent => "libtorrent",
            SeederKind::Transmission => "transmission",
            SeederKind::Aria2 => "aria2",
            SeederKind::Raw => "raw",
        }
    }

    /// The kind named `name` (as [`SeederKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<SeederKind> {
        SeederKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// `seedcore-bench compare`: the same load against several seeders.
#[derive(Clone, Debug, clap::Args)]
pub struct CompareArgs {
    /// Folder holding the payload. Reused when it holds one `.torrent`
    /// (or one file, for which a torrent is made beside it); when missing
    /// or empty, `--size` bytes of test data and a torrent are written.
    #[arg(long, required_unless_present = "render")]
    pub data: Option<PathBuf>,
    /// The torrent to serve from `--data` (skips the search above).
    #[arg(long)]
    pub torrent: Option<PathBuf>,
    /// Size of the test data made in an empty `--data` (K, M, G: powers
    /// of 1024).
    #[arg(long, default_value = "256M")]
    pub size: String,
    /// Peer counts, one run per seeder each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256,2048")]
    pub peers: Vec<usize>,
    /// Measured seconds per run (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring (at least the ramp + 1 s).
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Warm-up for transmission, whose choker runs every 10 s.
    #[arg(long, default_value_t = 15.0)]
    pub transmission_warmup: f64,
    /// Spread connections over this many seconds in runs of more than
    /// `--ramp-above` peers.
    #[arg(long, default_value_t = 2.0)]
    pub ramp: f64,
    /// Runs with more peers than this use `--ramp`.
    #[arg(long, default_value_t = 256)]
    pub ramp_above: usize,
    /// Requests in flight per simulated peer: a number, `reqq` (as many
    /// as each seeder advertises in its BEP 10 handshake, 250 if none) or
    /// `auto` (libtorrent's rate-based sizing); see `load --depth`.
    #[arg(long, default_value = "reqq")]
    pub depth: crate::load::DepthMode,
    /// Runs per seeder and peer count (the report shows the median).
    #[arg(long, default_value_t = 1)]
    pub reps: usize,
    /// Seeders to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "seedcore,libtorrent,transmission,aria2,raw"
    )]
    pub seeders: Vec<SeederKind>,
    /// CPUs for the seeder (taskset list, e.g. `0` or `0-3,8`); default:
    /// the first half of this process's CPUs.
    #[arg(long)]
    pub cores: Option<String>,
    /// CPUs for the load generator; default: every CPU not in `--cores`.
    #[arg(long)]
    pub loadgen_cores: Option<String>,
    /// Also hold this many idle connections to seedcore and report its
    /// memory per connection (0: skip).
    #[arg(long, default_value_t = 0)]
    pub idle: usize,
    /// Also time `seedcore seed` starting this many small torrents
    /// (0: skip).
    #[arg(long, default_value_t = 0)]
    pub many_torrents: usize,
    /// Size of each of the `--many-torrents` torrents.
    #[arg(long, default_value = "64K")]
    pub many_size: String,
    /// Folder for the report (`<date>-<host>.md`, `.svg`, `.json`).
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Scratch folder: logs, seeder state, the many-torrents data.
    #[arg(long, default_value = "bench/work/compare")]
    pub work: PathBuf,
    /// The `seedcore` binary [default: beside this one].
    #[arg(long)]
    pub seedcore_bin: Option<PathBuf>,
    /// Python with `import libtorrent` (Debian's, not a pyenv one).
    #[arg(long, default_value = "/usr/bin/python3")]
    pub python: PathBuf,
    /// The libtorrent seeder script [default: bench/py/lt_seed.py].
    #[arg(long)]
    pub lt_script: Option<PathBuf>,
    /// Seconds a seeder may take to check its data and answer.
    #[arg(long, default_value_t = 120.0)]
    pub start_timeout: f64,
    /// Host name in the report's file name [default: the hostname].
    #[arg(long)]
    pub host: Option<String>,
    /// Only re-render the report from a `.json` a previous run wrote.
    #[arg(long)]
    pub render: Option<PathBuf>,
}

/// Checked settings of one compare run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The payload folder.
    pub data: PathBuf,
    /// An explicit torrent.
    pub torrent: Option<PathBuf>,
    /// Size of test data to make when `data` is empty.
    pub size: u64,
    /// Peer counts, ascending, no repeats.
    pub peers: Vec<usize>,
    /// Measured time per run.
    pub duration: Duration,
    /// Warm-up per run.
    pub warmup: Duration,
    /// Warm-up for transmission.
    pub transmission_warmup: Duration,
    /// Ramp for large runs.
    pub ramp: Duration,
    /// Runs above this many peers ramp.
    pub ramp_above: usize,
    /// Pipeline depth.
    pub depth: crate::load::DepthMode,
    /// Runs per seeder and peer count.
    pub reps: usize,
    /// Seeders, no repeats.
    pub seeders: Vec<SeederKind>,
    /// Seeder CPUs.
    pub seeder_cores: Vec<usize>,
    /// Load-generator CPUs.
    pub loadgen_cores: Vec<usize>,
    /// Idle connections to hold (0: skip).
    pub idle: usize,
    /// Small torrents to start (0: skip).
    pub many_torrents: usize,
    /// Bytes in each small torrent.
    pub many_size: u64,
    /// Report folder.
    pub out: PathBuf,
    /// Scratch folder.
    pub work: PathBuf,
    /// `seedcore` binary.
    pub seedcore_bin: PathBuf,
    /// Python interpreter.
    pub python: PathBuf,
    /// libtorrent seeder script.
    pub lt_script: PathBuf,
    /// Start-up limit per seeder.
    pub start_timeout: Duration,
    /// Host label.
    pub host: String,
}

impl Plan {
    /// The warm-up and ramp of a run of `peers` peers against `kind`:
    /// the ramp applies above `ramp_above` peers, and the warm-up always
    /// covers the ramp plus one second.
    pub fn timing(&self, kind: SeederKind, peers: usize) -> (Duration, Duration) {
        let ramp = if peers > self.ramp_above {
            self.ramp
        } else {
            Duration::ZERO
        };
        let base = if kind == SeederKind::Transmission {
            self.transmission_warmup
        } else {
            self.warmup
        };
        let floor = if ramp.is_zero() {
            Duration::ZERO
        } else {
            ramp + Duration::from_secs(1)
        };
        (base.max(floor), ramp)
    }
}

fn bad(msg: impl Into<String>) -> CompareError {
    CompareError::Args(msg.into())
}

/// Seconds from an option, which must be finite and not negative.
pub fn seconds(v: f64, what: &str) -> Result<Duration, CompareError> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| bad(format!("{what} must be a number of seconds >= 0, got {v}")))
}

/// A size like `256M`, `4MiB`, `1G` or `1000` (K, M, G are powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, CompareError> {
    let t = s.trim().trim_end_matches("iB").trim_end_matches('B');
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (t.get(..i).unwrap_or(""), 1u64 << 10),
        Some((i, 'm' | 'M')) => (t.get(..i).unwrap_or(""), 1 << 20),
        Some((i, 'g' | 'G')) => (t.get(..i).unwrap_or(""), 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| bad(format!("{s:?} is not a size like 64K, 256M or 1000")))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| bad(format!("size {s:?} must be more than 0 and fit in 64 bits")))
}

/// A CPU list as `taskset -c` takes it: `0`, `0,2`, `0-3,8`. Sorted,
/// without repeats; at most CPU 4095.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, CompareError> {
    let mut cpus = Vec::new();
    let err = || bad(format!("{s:?} is not a CPU list like 0 or 0-3,8"));
    for part in s.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let lo: usize = lo.parse().map_err(|_| err())?;
        let hi: usize = hi.parse().map_err(|_| err())?;
        if lo > hi || hi > 4095 {
            return Err(err());
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(err());
    }
    Ok(cpus)
}

/// The list in `taskset -c` form (`0,1,3`).
pub fn cpu_list_string(cpus: &[usize]) -> String {
    cpus.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Seeder and load-generator CPUs from the options and the CPUs this
/// process may use. With one CPU both get it (the report says so).
pub fn split_cores(
    cores: Option<&str>,
    loadgen: Option<&str>,
    available: &[usize],
) -> Result<(Vec<usize>, Vec<usize>), CompareError> {
    let seeder = match cores {
        Some(s) => parse_cpu_list(s)?,
        None => {
            let half = (available.len() / 2).max(1);
            available.iter().copied().take(half).collect()
        }
    };
    let load = match loadgen {
        Some(s) => parse_cpu_list(s)?,
        None => {
            let rest: Vec<usize> = available
                .iter()
                .copied()
                .filter(|c| !seeder.contains(c))
                .collect();
            if rest.is_empty() {
                seeder.clone()
            } else {
                rest
            }
        }
    };
    for c in seeder.iter().chain(&load) {
        if !available.contains(c) {
            return Err(bad(format!(
                "CPU {c} is not one this process may run on ({})",
                cpu_list_string(available)
            )));
        }
    }
    Ok((seeder, load))
}

/// The CPUs this process may run on, from `/proc/self/status`
/// (`Cpus_allowed_list`), else 0..available_parallelism.
pub fn available_cpus() -> Vec<usize> {
    let listed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(str::to_string))
        })
        .and_then(|l| parse_cpu_list(l.trim()).ok());
    listed.unwrap_or_else(|| {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        (0..n).collect()
    })
}

/// A name safe in a file name: letters, digits, `.`, `_` and `-`.
pub fn file_label(s: &str) -> String {
    let t: String = s
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if t.is_empty() {
        "host".to_string()
    } else {
        t
    }
}

fn default_beside_self(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

impl CompareArgs {
    /// Checks every option and fills in the defaults that depend on this
    /// machine (`available` CPUs, `hostname`).
    pub fn plan(&self, available: &[usize], hostname: &str) -> Result<Plan, CompareError> {
        let mut peers = self.peers.clone();
        peers.sort_unstable();
        peers.dedup();
        if peers.is_empty() || peers.first() == Some(&0) {
            return Err(bad("--peers needs counts of at least 1, e.g. 1,16,256"));
        }
        let mut seeders = Vec::new();
        for s in &self.seeders {
            if !seeders.contains(s) {
                seeders.push(*s);
            }
        }
        if seeders.is_empty() {
            return Err(bad("--seeders names none"));
        }
        let duration = seconds(self.duration, "--duration")?;
        if duration.is_zero() {
            return Err(bad("--duration must be more than 0 seconds"));
        }
        if self.reps == 0 {
            return Err(bad("--reps must be at least 1"));
        }
        let (seeder_cores, loadgen_cores) = split_cores(
            self.cores.as_deref(),
            self.loadgen_cores.as_deref(),
            available,
        )?;
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = self
            .data
            .clone()
            .ok_or_else(|| bad("--data is needed (the payload folder)"))?;
        Ok(Plan {
            data,
            torrent: self.torrent.clone(),
            size: parse_size(&self.size)?,
            peers,
            duration,
            warmup: seconds(self.warmup, "--warmup")?,
            transmission_warmup: seconds(self.transmission_warmup, "--transmission-warmup")?,
            ramp: seconds(self.ramp, "--ramp")?,
            ramp_above: self.ramp_above,
            depth: self.depth,
            reps: self.reps,
            seeders,
            seeder_cores,
            loadgen_cores,
            idle: self.idle,
            many_torrents: self.many_torrents,
            many_size: parse_size(&self.many_size)?,
            out: self.out.clone(),
            work: self.work.clone(),
            seedcore_bin: self
                .seedcore_bin
                .clone()
                .unwrap_or_else(|| default_beside_self("seedcore")),
            python: self.python.clone(),
            lt_script: self
                .lt_script
                .clone()
                .unwrap_or_else(|| manifest.join("py").join("lt_seed.py")),
            start_timeout: seconds(self.start_timeout, "--start-timeout")?,
            host: file_label(self.host.as_deref().unwrap_or(hostname)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CompareArgs,
    }

    fn parse(argv: &[&str]) -> CompareArgs {
        Cli::try_parse_from(std::iter::once("compare").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn defaults_follow_the_brief() {
        let a = parse(&["--data", "d"]);
        assert_eq!(a.peers, vec![1, 16, 256, 2048]);
        assert_eq!(a.seeders, SeederKind::ALL.to_vec());
        assert_eq!(a.out, PathBuf::from("bench/results"));
        let p = a.plan(&[0, 1], "vm").unwrap();
        assert_eq!((p.seeder_cores, p.loadgen_cores), (vec![0], vec![1]));
        assert_eq!(p.size, 256 << 20);
        assert_eq!(p.duration, Duration::from_secs(10));
        assert_eq!(p.host, "vm");
        assert_eq!((p.idle, p.many_torrents), (0, 0));
    }

    #[test]
    fn lists_and_extras_parse() {
        let a = parse(&[
            "--data",
            "d",
            "--peers",
            "256,1,16,16",
            "--seeders",
            "raw,seedcore",
            "--cores",
            "0-1",
            "--loadgen-cores",
            "2,3",
            "--idle",
            "5000",
            "--many-torrents",
            "1000",
            "--host",
            "my box",
        ]);
        let p = a.plan(&[0, 1, 2, 3], "x").unwrap();
        assert_eq!(p.peers, vec![1, 16, 256], "sorted, repeats dropped");
        assert_eq!(p.seeders, vec![SeederKind::Raw, SeederKind::Seedcore]);
        assert_eq!((p.seeder_cores, p.loadgen_cores), (vec![0, 1], vec![2, 3]));
        assert_eq!((p.idle, p.many_torrents), (5000, 1000));
        assert_eq!(p.host, "my-box");
        assert!(Cli::try_parse_from(["c", "--data", "d", "--seeders", "qbit"]).is_err());
        assert!(Cli::try_parse_from(["c", "--data", "d", "--peers", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["c", "--peers", "1"]).is_err(),
            "--data is required"
        );
        let r = Cli::try_parse_from(["c", "--render", "x.json"])
            .unwrap()
            .args;
        assert_eq!((r.data, r.render), (None, Some(PathBuf::from("x.json"))));
    }

    #[test]
    fn bad_values_name_the_option() {
        let e = |argv: &[&str]| parse(argv).plan(&[0, 1], "h").unwrap_err().to_string();
        assert!(e(&["--data", "d", "--peers", "0"]).contains("--peers"));
        assert!(e(&["--data", "d", "--duration", "0"]).contains("--duration"));
        assert!(e(&["--data", "d", "--duration=-1"]).contains("--duration"));
        assert!(e(&["--data", "d", "--cores", "7"]).contains("CPU 7"));
        assert!(e(&["--data", "d", "--size", "lots"]).contains("lots"));
        let err = Cli::try_parse_from(["c", "--data", "d", "--depth", "0"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--depth"), "{err}");
        assert_eq!(parse(&["--data", "d"]).depth, crate::load::DepthMode::Reqq);
        assert_eq!(
            parse(&["--data", "d", "--depth", "auto"]).depth,
            crate::load::DepthMode::Auto
        );
        assert!(e(&["--data", "d", "--reps", "0"]).contains("--reps"));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("3,0-2,2").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(cpu_list_string(&[0, 2, 5]), "0,2,5");
        for bad in ["", "a", "2-1", "0-99999", "1,,2"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
        // One CPU: both sides share it.
        assert_eq!(split_cores(None, None, &[0]).unwrap(), (vec![0], vec![0]));
        assert_eq!(
            split_cores(None, None, &[0, 1, 2, 3]).unwrap(),
            (vec![0, 1], vec![2, 3])
        );
    }

    #[test]
    fn sizes_and_labels() {
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert_eq!(file_label("a/b c"), "a-b-c");
        assert_eq!(file_label(""), "host");
    }

    #[test]
    fn warmup_covers_the_ramp_and_transmission_waits_longer() {
        let p = parse(&["--data", "d", "--warmup", "1", "--ramp", "4"])
            .plan(&[0, 1], "h")
            .unwrap();
        assert_eq!(
            p.timing(SeederKind::Seedcore, 16),
            (Duration::from_secs(1), Duration::ZERO)
        );
        assert_eq!(
            p.timing(SeederKind::Seedcore, 2048),
            (Duration::from_secs(5), Duration::from_secs(4))
        );
        assert_eq!(
            p.timing(SeederKind::Transmission, 16),
            (Duration::from_secs(15), Duration::ZERO)
        );
        assert_eq!(SeederKind::from_name("aria2"), Some(SeederKind::Aria2));
        assert_eq!(SeederKind::from_name("x"), None);
    }
}
