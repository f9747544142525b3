//! Hashing for seedcore: SHA-1 (v1 pieces and info-hashes), SHA-256 (v2) and
//! the BEP 52 merkle trees built from it.
//!
//! # Why SHA-1 backends are chosen by hand
//!
//! A seeder hashes every byte it serves at least once (full rechecks, torrent
//! creation), so SHA-1 speed is start-up time. We pick the backend ourselves
//! instead of leaving it to a dependency, for three reasons:
//!
//! - **The crates do not do what their features say.** `sha1` 0.10.7 ignores
//!   its `asm` feature (0.10.6 used `sha1-asm` only when SHA-NI was missing,
//!   0.11 selects backends with `--cfg` flags at build time). What runs is not
//!   visible from `Cargo.toml`.
//! - **The operator should see and choose.** [`Sha1Backend::best`] detects the
//!   CPU at run time and [`Sha1Backend::name`] says what it picked, so logs and
//!   `seedcore verify` can report it, and [`Sha1::with_backend`] forces one
//!   (to compare speeds, or to sidestep a suspected CPU or backend bug).
//! - **An independent oracle.** Because none of our backends is the `sha1`
//!   crate, that crate serves as the test oracle: every backend is
//!   cross-checked against it (and against each other) on random inputs.
//!
//! The backends are [`Sha1Backend::ShaNi`] (our own compression function on
//! the x86 SHA extensions, about as fast as OpenSSL), [`Sha1Backend::Asm`]
//! (`sha1-asm`'s scalar assembly, x86/x86-64 only) and
//! [`Sha1Backend::Portable`] (plain Rust, everywhere). They share one
//! incremental front end (buffering, length, padding), so they can only
//! differ in the compression function.
//!
//! [`sha1_many`] hashes many messages at once with AVX-512 (16 lanes) or
//! AVX2 (8 lanes), one message per SIMD lane: the way past one-stream speed
//! for bulk verification and torrent creation, where many pieces of one
//! length are ready together.
//!
//! SHA-256 ([`Sha256`]) wraps the `sha2` crate, which already detects SHA-NI
//! at run time and whose speed we have no reason to second-guess; v2 hashing
//! is dominated by the 16 KiB leaf hashes it does well.
//!
//! # Speed
//!
//! One core of the development Xeon (2 vCPU, shared, so best of many runs):
//!
//! | what | GB/s |
//! | --- | --- |
//! | [`Sha1Backend::ShaNi`], 1 MiB | 1.9-2.1 (OpenSSL 3.0 `-evp sha1`: 2.0-2.3) |
//! | [`Sha1Backend::Asm`] / [`Sha1Backend::Portable`] | about 1.0 / 0.95 |
//! | [`sha1_many`], AVX-512, 16 x 1 MiB | 7.4-8.0 aggregate |
//! | [`sha1_many`], AVX2, 16 x 1 MiB | 3.5-3.8 aggregate |
//! | [`sha256`] (`sha2`, SHA-NI), 1 MiB | about 1.7 |
//!
//! `cargo bench -p seedcore-bench --bench sha1` measures all of them.
//!
//! # Example
//!
//! ```
//! use seedcore_hash::{sha1, Sha1, Sha1Backend};
//!
//! // One-shot, on the fastest backend this CPU has.
//! let digest = sha1(b"abc");
//! assert_eq!(digest[..4], [0xa9, 0x99, 0x3e, 0x36]);
//!
//! // Incremental, on every backend available here: all agree.
//! for backend in Sha1Backend::available() {
//!     let mut h = Sha1::with_backend(backend).expect("available() lists usable backends");
//!     h.update(b"a");
//!     h.update(b"bc");
//!     assert_eq!(h.finalize(), digest, "backend {}", backend.name());
//! }
//! println!("SHA-1 backend in use: {}", Sha1Backend::best().name());
//! ```

pub mod merkle;
mod multi;
mod sha1;
mod sha256;

pub use multi::{sha1_many, sha1_many_with, MultiBackend};
pub use sha1::{sha1, Sha1, Sha1Backend};
pub use sha256::{sha256, Sha256};

/// A SHA-1 digest (v1 piece hashes, v1 info-hashes).
pub type Sha1Digest = [u8; 20];

/// A SHA-256 digest (v2 merkle nodes, v2 info-hashes).
pub type Sha256Digest = [u8; 32];
