//! A counting global allocator, so targets can assert how much memory one
//! call may allocate: "an answer is bounded before it is built" is a claim
//! about the heap, and the heap is where an amplification shows.
//!
//! Counts are per thread (the test runner runs targets on several threads
//! at once) and cost two thread-local additions per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator every binary linking this crate uses (the AFL driver and
/// the replay test).
pub struct Counting;

thread_local! {
    /// Bytes this thread holds now (frees of memory another thread
    /// allocated can take it below zero).
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    /// The largest `CURRENT` since the last [`measure`] started.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    // `try_with`: during thread teardown the slots may be gone; counting
    // nothing then is fine.
    let _ = CURRENT.try_with(|c| {
        let now = c.get().saturating_add(delta);
        c.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now);
            }
        });
    });
}

fn size(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so it upholds `GlobalAlloc`'s contract exactly as `System`
// does; the counting touches only const-initialised thread-locals without
// destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours, forwarded unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with
        // this layout.
        unsafe { System.dealloc(ptr, layout) };
        add(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller
        // guarantees `new_size` is valid for it.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(size(new_size) - size(layout.size()));
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the most heap (bytes) this thread
/// held during it beyond what it held when `f` started, and the net change
/// (what `f` left allocated, negative if it freed more).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, isize) {
    let start = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    let end = CURRENT.with(Cell::get);
    (out, usize::try_from(peak - start).unwrap_or(0), end - start)
}
