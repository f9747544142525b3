//! A tiny work-sharing loop over scoped threads, for verification and
//! torrent creation.
//!
//! Why not rayon: the work here is one flat list of pieces cut into runs of
//! consecutive pieces, which a shared atomic counter hands out in order; that
//! is all the scheduling needed, and it is ~40 lines of `std`. Handing out
//! *consecutive* pieces keeps each thread reading its files front to back
//! (good for read-ahead and spinning disks), and handing them out on demand
//! keeps every core busy to the end even when some pieces are slower (cold
//! cache, a slow file). `std::thread::scope` lets workers borrow the storage
//! and the metainfo without `Arc`, and no global pool outlives the call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::StorageError;

/// Bytes of consecutive pieces a worker takes at a time.
const TARGET_TASK_BYTES: u64 = 8 << 20;

/// Pieces hashed together by the multi-buffer SHA-1 (two passes of 16
/// AVX-512 lanes); also the fewest pieces a task gets, so every pass is full.
pub(crate) const MULTI_BATCH: usize = 32;

/// The thread count to use: `requested`, or every core when 0, never more
/// than there are tasks, at least 1.
pub(crate) fn resolve_threads(requested: usize, tasks: usize) -> usize {
    let t = if requested == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    };
    t.min(tasks).max(1)
}

/// How many consecutive pieces make one task: about 8 MiB and at least
/// [`MULTI_BATCH`] pieces, but small enough that there are at least four
/// tasks per thread to balance the tail.
pub(crate) fn task_len(items: usize, piece_length: u32, threads: usize) -> usize {
    let by_bytes = usize::try_from(TARGET_TASK_BYTES / u64::from(piece_length.max(1)))
        .unwrap_or(1)
        .max(MULTI_BATCH);
    let for_balance = items.div_ceil(threads.max(1).saturating_mul(4));
    by_bytes.min(for_balance).max(1)
}

/// Runs `work` over `items` cut into runs of `chunk` consecutive items, on
/// `threads` threads. Each call appends its results to the vector it is
/// given; the results of all calls are returned (in no particular order).
/// The first error stops the other workers at their next task and is returned.
/// When `stop` is raised, every worker ends before its next task and the call
/// fails with [`StorageError::Stopped`]: a signal during a long start-up
/// verification ends it within one task (about 8 MiB) per thread.
pub(crate) fn run_chunks<T, R, F>(
    items: &[T],
    chunk: usize,
    threads: usize,
    stop: Option<&AtomicBool>,
    work: F,
) -> Result<Vec<R>, StorageError>
where
    T: Sync,
    R: Send,
    F: Fn(&[T], &mut Vec<R>) -> Result<(), StorageError> + Sync,
{
    let chunk = chunk.max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let worker = || -> Result<Vec<R>, StorageError> {
        let mut out = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                failed.store(true, Ordering::Relaxed);
                return Err(StorageError::Stopped);
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(task) = items.chunks(chunk).nth(i) else {
                break;
            };
            if let Err(e) = work(task, &mut out) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(out)
    };
    if threads <= 1 {
        return worker();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        let mut all = Vec::new();
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(mut v)) => all.append(&mut v),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(StorageError::WorkerPanicked);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(all),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_once_in_any_thread_count() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            for chunk in [1, 7, 1000, 5000] {
                let mut got = run_chunks(&items, chunk, threads, None, |t, out| {
                    out.extend_from_slice(t);
                    Ok(())
                })
                .unwrap();
                got.sort_unstable();
                assert_eq!(got, items);
            }
        }
    }

    #[test]
    fn first_error_is_returned() {
        let items: Vec<u32> = (0..100).collect();
        let r = run_chunks(&items, 3, 2, None, |t, out: &mut Vec<u32>| {
            if t.contains(&50) {
                return Err(StorageError::WorkerPanicked);
            }
            out.extend_from_slice(t);
            Ok(())
        });
        assert!(matches!(r, Err(StorageError::WorkerPanicked)));
    }

    #[test]
    fn a_raised_stop_flag_ends_the_work() {
        let items: Vec<u32> = (0..1000).collect();
        let stop = AtomicBool::new(false);
        let seen = AtomicUsize::new(0);
        let r = run_chunks(&items, 10, 2, Some(&stop), |t, out: &mut Vec<u32>| {
            if seen.fetch_add(1, Ordering::Relaxed) == 3 {
                stop.store(true, Ordering::Relaxed);
            }
            out.extend_from_slice(t);
            Ok(())
        });
        assert!(matches!(r, Err(StorageError::Stopped)), "{r:?}");
        // Each worker may finish the task it was in; none starts another.
        assert!(seen.load(Ordering::Relaxed) <= 4 + 2, "{seen:?}");
    }

    #[test]
    fn task_sizes() {
        assert_eq!(task_len(1000, 1 << 20, 2), 32);
        assert_eq!(task_len(100_000, 16 << 10, 2), 512);
        assert_eq!(task_len(10, 1 << 20, 2), 2);
        assert_eq!(task_len(1, 16384, 16), 1);
        assert_eq!(resolve_threads(5, 2), 2);
        assert_eq!(resolve_threads(5, 0), 1);
        assert!(resolve_threads(0, 100) >= 1);
    }
}
