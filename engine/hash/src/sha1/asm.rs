//! The `sha1-asm` backend: RustCrypto's scalar x86/x86-64 assembly.
//!
//! It uses no SIMD, so it is the fallback for x86 CPUs without the SHA
//! extensions (about 0.75 GB/s per core here against 0.65 for portable Rust).
//! The crate does not build for other targets or for Windows, so this module
//! reports the backend unavailable there and the crate still builds.

use super::CompressFn;

/// The compression function, on targets where `sha1-asm` builds.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_os = "windows")
))]
pub(crate) fn compress_fn() -> Option<CompressFn> {
    Some(sha1_asm::compress)
}

/// `sha1-asm` is not built for this target.
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    not(target_os = "windows")
)))]
pub(crate) fn compress_fn() -> Option<CompressFn> {
    None
}
