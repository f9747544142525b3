//! The `leechers` command line, and the checks that turn it into a
//! [`Plan`] (testable without starting anything).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compare::{cpu_list_string, parse_size, split_cores};

/// The real clients `leechers` knows how to drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum LeecherKind {
    /// libtorrent 2.0 with its default settings (`bench/py/lt_leech.py`).
    Libtorrent,
    /// transmission-cli 3.00.
    Transmission,
    /// aria2c 1.36.
    Aria2,
    /// rtorrent 0.9.8 (libtorrent-rakshasa), headless.
    Rtorrent,
    /// qbittorrent-nox 4.5 (libtorrent inside), driven over its Web API.
    Qbittorrent,
}

impl LeecherKind {
    /// Every leecher, in report order.
    pub const ALL: [LeecherKind; 5] = [
        LeecherKind::Libtorrent,
        LeecherKind::Transmission,
        LeecherKind::Aria2,
        LeecherKind::Rtorrent,
        LeecherKind::Qbittorrent,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            LeecherKind::Libtorrent => "libtorrent",
            LeecherKind::Transmission => "transmission",
            LeecherKind::Aria2 => "aria2",
            LeecherKind::Rtorrent => "rtorrent",
            LeecherKind::Qbittorrent => "qbittorrent",
        }
    }

    /// The loopback address it listens on (one each: transmission allows
    /// one peer per address, and logs then tell the clients apart).
    pub fn ip(self) -> [u8; 4] {
        let last = match self {
            LeecherKind::Libtorrent => 21,
            LeecherKind::Transmission => 22,
            LeecherKind::Aria2 => 23,
            LeecherKind::Rtorrent => 24,
            LeecherKind::Qbittorrent => 25,
        };
        [127, 0, 0, last]
    }
}

/// Which program seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeederProgram {
    /// `seedcore seed`.
    Seedcore,
    /// libtorrent's `high_performance_seed` (`bench/py/lt_seed.py`).
    Libtorrent,
}

/// One seeder column of the report: a program and its extra flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeederSpec {
    /// Column name: `seedcore`, `libtorrent`, `seedcore --reqq 2000`, or
    /// the label given before `=`.
    pub label: String,
    /// The program.
    pub program: SeederProgram,
    /// Another seedcore binary than `--seedcore-bin` (`seedcore:PATH`).
    pub bin: Option<PathBuf>,
    /// Extra arguments (seedcore only).
    pub extra: Vec<String>,
}

impl SeederSpec {
    /// Parses `[LABEL=]PROGRAM [FLAGS...]`: PROGRAM is `seedcore`,
    /// `seedcore:PATH` (that binary: a before/after pair in one run) or
    /// `libtorrent`; FLAGS (seedcore only) go to `seedcore seed`. The label
    /// defaults to the whole text.
    pub fn parse(s: &str) -> Result<SeederSpec, String> {
        let usage = || {
            format!(
                "--seeder {s:?}: give [LABEL=]seedcore[:PATH] [FLAGS] or libtorrent \
                 (e.g. \"seedcore --reqq 2000\", \"before=seedcore:/tmp/old/seedcore\")"
            )
        };
        let (label, spec) = match s.split_once('=') {
            Some((l, rest)) if !l.trim().is_empty() && !l.contains(char::is_whitespace) => {
                (Some(l.trim().to_string()), rest)
            }
            _ => (None, s),
        };
        let mut words = spec.split_whitespace();
        let first = words.next().ok_or_else(usage)?;
        let (program, bin) = match first.split_once(':') {
            None if first == "seedcore" => (SeederProgram::Seedcore, None),
            None if first == "libtorrent" => (SeederProgram::Libtorrent, None),
            Some(("seedcore", path)) if !path.is_empty() => {
                (SeederProgram::Seedcore, Some(PathBuf::from(path)))
            }
            _ => return Err(usage()),
        };
        let extra: Vec<String> = words.map(str::to_string).collect();
        if program == SeederProgram::Libtorrent && !extra.is_empty() {
            return Err(format!(
                "--seeder {s:?}: libtorrent takes no flags here (it runs high_performance_seed)"
            ));
        }
        Ok(SeederSpec {
            label: label.unwrap_or_else(|| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            program,
            bin,
            extra,
        })
    }
}

/// `seedcore-bench leechers`: real clients downloading from seedcore and
/// from libtorrent.
#[derive(Clone, Debug, clap::Args)]
pub struct LeechersArgs {
    /// Folder holding the payload (made when missing or empty: --size
    /// bytes of pseudo-random data and a v1 torrent).
    #[arg(long, default_value = "bench/work/leechers-1G")]
    pub data: PathBuf,
    /// Size of the data made in an empty --data (K, M, G: powers of 1024).
    #[arg(long, default_value = "1G")]
    pub size: String,
    /// The leechers, each downloading the whole torrent once per seeder
    /// and round.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "libtorrent,transmission,aria2,rtorrent,qbittorrent"
    )]
    pub leechers: Vec<LeecherKind>,
    /// A seeder column: `[LABEL=]seedcore[:PATH] [FLAGS]` or `libtorrent`
    /// (e.g. "seedcore --reqq 2000", "before=seedcore:/tmp/old/seedcore");
    /// repeatable, in report order. Default: seedcore and libtorrent.
    #[arg(long = "seeder")]
    pub seeders: Vec<String>,
    /// Rounds (each leecher x seeder once per round; the report shows
    /// the median).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Give up a download after this many seconds.
    #[arg(long, default_value_t = 600.0)]
    pub timeout: f64,
    /// Give up a download that made no progress for this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub stall: f64,
    /// CPUs for the seeder (taskset list); default: the first half.
    #[arg(long)]
    pub cores: Option<String>,
    /// CPUs for the leecher; default: every CPU not in --cores.
    #[arg(long)]
    pub leecher_cores: Option<String>,
    /// Folder for the report (`leechers-<date>-<host>.md` and `.json`).
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Scratch folder: logs, client state, downloads (each deleted after
    /// its run).
    #[arg(long, default_value = "bench/work/leechers")]
    pub work: PathBuf,
    /// The seedcore binary [default: `seedcore` beside this binary].
    #[arg(long)]
    pub seedcore_bin: Option<PathBuf>,
    /// Python with libtorrent.
    #[arg(long, default_value = "/usr/bin/python3")]
    pub python: PathBuf,
    /// Seconds a seeder may take to start serving.
    #[arg(long, default_value_t = 120.0)]
    pub start_timeout: f64,
    /// Host name in the report's file name.
    #[arg(long)]
    pub host: Option<String>,
    /// Re-render the Markdown from a `.json` this command wrote.
    #[arg(long, conflicts_with_all = ["leechers", "seeders"])]
    pub render: Option<PathBuf>,
}

/// A checked `leechers` run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Payload folder.
    pub data: PathBuf,
    /// Size to make.
    pub size: u64,
    /// Leechers, no repeats.
    pub leechers: Vec<LeecherKind>,
    /// Seeder columns, no repeats.
    pub seeders: Vec<SeederSpec>,
    /// Rounds.
    pub reps: usize,
    /// Per-download limit.
    pub timeout: Duration,
    /// No-progress limit.
    pub stall: Duration,
    /// Seeder CPUs.
    pub seeder_cores: Vec<usize>,
    /// Leecher CPUs.
    pub leecher_cores: Vec<usize>,
    /// Report folder.
    pub out: PathBuf,
    /// Scratch folder.
    pub work: PathBuf,
    /// seedcore.
    pub seedcore_bin: PathBuf,
    /// Python.
    pub python: PathBuf,
    /// Seeder start limit.
    pub start_timeout: Duration,
    /// Host label.
    pub host: String,
}

fn seconds(v: f64, what: &str) -> Result<Duration, String> {
    match Duration::try_from_secs_f64(v) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{what} must be a number of seconds above 0, got {v}"
        )),
    }
}

impl LeechersArgs {
    /// Checks the arguments against the CPUs available.
    pub fn plan(&self, available: &[usize], hostname: &str) -> Result<Plan, String> {
        let mut leechers = Vec::new();
        for l in &self.leechers {
            if !leechers.contains(l) {
                leechers.push(*l);
            }
        }
        if leechers.is_empty() {
            return Err("--leechers names none".into());
        }
        let specs: Vec<String> = if self.seeders.is_empty() {
            vec!["seedcore".into(), "libtorrent".into()]
        } else {
            self.seeders.clone()
        };
        let mut seeders: Vec<SeederSpec> = Vec::new();
        for s in &specs {
            let spec = SeederSpec::parse(s)?;
            if seeders.iter().any(|x| x.label == spec.label) {
                return Err(format!("--seeder {:?} is given twice", spec.label));
            }
            seeders.push(spec);
        }
        if self.reps == 0 {
            return Err("--reps must be at least 1".into());
        }
        let (seeder_cores, leecher_cores) = split_cores(
            self.cores.as_deref(),
            self.leecher_cores.as_deref(),
            available,
        )
        .map_err(|e| e.to_string())?;
        let seedcore_bin = self.seedcore_bin.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("seedcore")))
                .unwrap_or_else(|| PathBuf::from("seedcore"))
        });
        Ok(Plan {
            data: self.data.clone(),
            size: parse_size(&self.size).map_err(|e| e.to_string())?,
            leechers,
            seeders,
            reps: self.reps,
            timeout: seconds(self.timeout, "--timeout")?,
            stall: seconds(self.stall, "--stall")?,
            seeder_cores,
            leecher_cores,
            out: self.out.clone(),
            work: self.work.clone(),
            seedcore_bin,
            python: self.python.clone(),
            start_timeout: seconds(self.start_timeout, "--start-timeout")?,
            host: self.host.clone().unwrap_or_else(|| hostname.to_string()),
        })
    }
}

impl Plan {
    /// The seeder CPUs as a taskset list.
    pub fn seeder_cpus(&self) -> String {
        cpu_list_string(&self.seeder_cores)
    }

    /// The leecher CPUs as a taskset list.
    pub fn leecher_cpus(&self) -> String {
        cpu_list_string(&self.leecher_cores)
    }

    /// `bench/py/<script>` in this crate.
    pub fn script(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("py").join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LeechersArgs,
    }

    fn plan(argv: &[&str]) -> Result<Plan, String> {
        Cli::try_parse_from(std::iter::once("leechers").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?
            .args
            .plan(&[0, 1], "vm")
    }

    #[test]
    fn defaults_cover_the_issue() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.leechers, LeecherKind::ALL.to_vec());
        let labels: Vec<&str> = p.seeders.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["seedcore", "libtorrent"]);
        assert_eq!(p.size, 1 << 30);
        assert_eq!(
            (p.reps, p.seeder_cpus(), p.leecher_cpus()),
            (3, "0".into(), "1".into())
        );
        assert_eq!(p.host, "vm");
    }

    #[test]
    fn seeder_columns_with_flags() {
        let p = plan(&[
            "--seeder",
            "seedcore",
            "--seeder",
            "seedcore  --reqq 2000",
            "--seeder",
            "libtorrent",
        ])
        .unwrap();
        assert_eq!(p.seeders[1].label, "seedcore --reqq 2000");
        assert_eq!(p.seeders[1].extra, ["--reqq", "2000"]);
        assert_eq!(p.seeders[2].program, SeederProgram::Libtorrent);
        let p = plan(&[
            "--seeder",
            "before=seedcore:/old/seedcore --reqq 250",
            "--seeder",
            "seedcore",
        ])
        .unwrap();
        assert_eq!(p.seeders[0].label, "before");
        assert_eq!(
            p.seeders[0].bin.as_deref(),
            Some(Path::new("/old/seedcore"))
        );
        assert_eq!(p.seeders[0].extra, ["--reqq", "250"]);
        assert_eq!(
            (p.seeders[1].label.as_str(), p.seeders[1].bin.as_ref()),
            ("seedcore", None)
        );
        assert!(plan(&["--seeder", "x=libtorrent:/y"]).is_err());
        assert!(plan(&["--seeder", "x="]).is_err());
        assert!(plan(&["--seeder", "seedcore", "--seeder", "seedcore"])
            .unwrap_err()
            .contains("twice"));
        assert!(plan(&["--seeder", "libtorrent --x"])
            .unwrap_err()
            .contains("no flags"));
        assert!(plan(&["--seeder", "vuze"])
            .unwrap_err()
            .contains("seedcore"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(plan(&["--reps", "0"]).unwrap_err().contains("--reps"));
        assert!(plan(&["--timeout", "0"]).unwrap_err().contains("--timeout"));
        assert!(plan(&["--leechers", "utorrent"]).is_err());
        assert!(plan(&["--size", "lots"]).is_err());
        let p = plan(&["--leechers", "aria2,aria2,rtorrent"]).unwrap();
        assert_eq!(p.leechers, [LeecherKind::Aria2, LeecherKind::Rtorrent]);
    }
}
