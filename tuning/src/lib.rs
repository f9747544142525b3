//! Host tuning for a seedcore seed server: `seedcore tune`.
//!
//! A seed pushes many Gbit/s to thousands of peers from one box, and the
//! stock settings of a Linux host are sized for something else: 1024 open
//! files, 8 MiB of locked memory, 4 MiB socket buffers, no pacing. This
//! crate checks each setting that matters and says, per item, what it
//! found, what a seed server wants, and the command that fixes it.
//!
//! # Why reading is separate from judging
//!
//! [`Readings`] is the raw text of the `/proc` and `/sys` files involved
//! (and the CPU as detected); [`check_all`] and the functions in
//! [`checks`] are pure functions of it. So every verdict is unit-tested
//! with made-up readings (an old kernel, a one-queue NIC, a 64 KiB
//! memlock limit) on any machine, and [`Readings::read`] itself is tested
//! against a fake file tree.
//!
//! ```
//! use seedcore_tuning::{check_all, Readings, Target, Link, Status};
//! let mut r = Readings::default();
//! r.sysctls.insert("net.core.wmem_max".into(), "212992".into());
//! let report = check_all(&r, &Target { link: Some(Link::G10), ..Target::default() });
//! let wmem = report.checks.iter().find(|c| c.id == "net.core.wmem_max").unwrap();
//! assert_eq!(wmem.status, Status::Warn);
//! assert_eq!(wmem.fix.as_deref(), Some("sysctl -w net.core.wmem_max=134217728"));
//! ```
//!
//! The wanted buffer sizes follow from the link speed; [`link`] documents
//! the arithmetic.
//!
//! [`sweep`] is the pure half of `seedcore tune --sweep`, which measures
//! instead of checking: the grid of seed settings, the split of its time
//! budget, the choice of the best and the file written. The files shipped beside this crate (`sysctl/`,
//! `systemd/`, `presets/`) are described in its README.
#![forbid(unsafe_code)]

pub mod checks;
pub mod link;
pub mod parse;
pub mod reading;
pub mod render;
pub mod sweep;

pub use checks::{check_all, Check, Report, Status, Summary, Target};
pub use link::{BadLink, Link};
pub use reading::{CpuReading, NicReading, Readings};
