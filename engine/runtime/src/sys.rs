//! The few system calls the runtime makes itself, each behind a safe
//! function. This is the only module with `unsafe` in the crate.
//!
//! glommio offers no `sendfile`, no vectored send and no `madvise`, and it
//! builds its listeners from raw file descriptors; the serving path needs all
//! four (see `shard::send`). Stalled-peer detection reads the socket's
//! unacknowledged bytes (`SIOCOUTQ`) and bounds its unsent ones
//! (`TCP_NOTSENT_LOWAT`). Everything else goes through glommio, socket2
//! and std.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::time::Duration;

use seedcore_protocol::session::SocketProgress;

/// The CPUs this process may run on (its affinity mask, so a container's
/// cpuset is respected), ascending. Never empty.
pub fn online_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain old data; all zeros is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer and size describe `set`, which lives for the call.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    let mut cpus = Vec::new();
    if rc == 0 {
        for cpu in 0..libc::CPU_SETSIZE as usize {
            // SAFETY: `cpu` is below CPU_SETSIZE, the capacity of the set.
            if unsafe { libc::CPU_ISSET(cpu, &set) } {
                cpus.push(cpu);
            }
        }
    }
    if cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        cpus = (0..n).collect();
    }
    cpus
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: all zeros is an empty `cpu_set_t`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` was checked against CPU_SETSIZE above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the pointer and size describe `set`, which lives for the call.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Borrows a descriptor that the caller owns for at least the borrow.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: every caller passes the descriptor of a socket it holds (a
    // glommio stream borrowed for the call), which stays open while the
    // returned value is used inside that same call.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Puts a socket in non-blocking mode (glommio leaves accepted and
/// connected sockets blocking; `sendfile` on one would block the shard).
pub fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    socket2::SockRef::from(&borrow(fd.as_raw_fd())).set_nonblocking(true)
}

/// Sets the socket's send buffer size (tests and benchmarks use it to make
/// back-pressure happen sooner).
pub fn set_send_buffer(fd: &impl AsRawFd, bytes: usize) -> io::Result<()> {
    socket2::SockRef::from(&borrow(fd.as_raw_fd())).set_send_buffer_size(bytes)
}

/// The size of `T` as a `socklen_t` (every option struct fits one).
fn socklen_of<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

/// Sets `TCP_NOTSENT_LOWAT`: the socket counts as writable, and takes
/// more, only while fewer than `bytes` of what was written wait unsent.
/// Without it the kernel queues up to the send buffer's size (megabytes
/// with autotuning) per peer, whether or not the peer reads.
pub fn set_notsent_lowat(fd: &impl AsRawFd, bytes: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is a TCP socket borrowed for the call; the
    // option value is a c_int that lives for the call, its size given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            std::ptr::from_ref(&v).cast(),
            socklen_of::<libc::c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What a TCP socket says about the bytes written to it: how many the
/// peer acknowledged, ever (`TCP_INFO`), and how many wait unacknowledged,
/// sent or not (`SIOCOUTQ`). Two system calls: for the stalled-peer check,
/// made when a connection has written all it had and when its timer fires.
pub fn tcp_progress(fd: &impl AsRawFd) -> io::Result<SocketProgress> {
    // SAFETY: all zeros is a valid `tcp_info` (plain integers).
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = socklen_of::<libc::tcp_info>();
    // SAFETY: the descriptor is a TCP socket borrowed for the call; the
    // kernel writes at most `len` bytes into `info`, a local that outlives
    // the call, and stores the length it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::from_mut(&mut info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SocketProgress {
        acked: info.tcpi_bytes_acked,
        queued: send_queue(fd)?,
    })
}

/// Bytes written to a TCP socket that the peer has not acknowledged yet,
/// sent or not (`SIOCOUTQ`): what the peer has still to take.
pub fn send_queue(fd: &impl AsRawFd) -> io::Result<u64> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a socket writes one c_int through the
    // pointer, which refers to a local that outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc == 0 {
        Ok(u64::try_from(n).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `send(MSG_DONTWAIT | MSG_NOSIGNAL)`, with `MSG_MORE` when more bytes of
/// the same message follow at once (the header before its body), so the
/// kernel does not push a 13-byte segment on its own.
pub fn send_nowait(fd: &impl AsRawFd, buf: &[u8], more: bool) -> io::Result<usize> {
    let mut flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    if more {
        flags |= libc::MSG_MORE;
    }
    socket2::SockRef::from(&borrow(fd.as_raw_fd())).send_with_flags(buf, flags)
}

/// `sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL)` of several buffers in one call.
pub fn sendv_nowait(fd: &impl AsRawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    socket2::SockRef::from(&borrow(fd.as_raw_fd())).send_vectored_with_flags(bufs, flags)
}

/// `sendfile(2)`: up to `len` bytes of `file` from `offset` to the
/// (non-blocking) socket. Returns the bytes sent; 0 means the file is now
/// shorter than `offset` (it was truncated: the caller stops serving it).
pub fn sendfile(sock: &impl AsRawFd, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    // SAFETY: both descriptors are open for the call (the socket is
    // borrowed from its owner, the file by reference); `off` is a valid
    // pointer to a local the kernel updates. sendfile reads the file
    // through the page cache, never through our mappings, so a truncated
    // file gives a short count, not SIGBUS.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n.unsigned_abs())
    }
}

/// Asks the kernel to start reading the pages under `bytes` (part of a
/// read-only file mapping) in the background (`MADV_WILLNEED`). A hint:
/// failure changes only speed.
pub fn will_need(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let page = 4096usize;
    let start = bytes.as_ptr() as usize;
    let aligned = start & !(page - 1);
    let len = bytes.len() + (start - aligned);
    // SAFETY: madvise(WILLNEED) only schedules read-ahead for pages of an
    // existing mapping; it neither reads nor writes memory from user space,
    // and the range lies within the page-aligned span of `bytes`, which is
    // mapped for the duration of the call.
    let _ = unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_WILLNEED) };
}

/// Asks the kernel to drop the file's cached pages (`POSIX_FADV_DONTNEED`;
/// pages mapped by some process stay). Benchmarks use it to measure reads
/// from a cold cache.
pub fn drop_cached_pages(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open for the call; fadvise only changes
    // the page cache's state for that file.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Number of the file's pages in the page cache, and its page count
/// (`mincore` over a temporary mapping; for benchmarks).
pub fn cached_pages(file: &File) -> io::Result<(usize, usize)> {
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    if len == 0 {
        return Ok((0, 0));
    }
    let page = 4096usize;
    let pages = len.div_ceil(page);
    // SAFETY: a fresh shared read-only mapping of an open file; it is only
    // passed to mincore (which never reads it) and unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr..addr+len` is the mapping made above; `vec` has one
    // byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: unmaps exactly the mapping made above; nothing refers to it.
    unsafe { libc::munmap(addr, len) };
    if rc != 0 {
        return Err(err);
    }
    Ok((vec.iter().filter(|b| **b & 1 != 0).count(), pages))
}

/// The soft `RLIMIT_MEMLOCK` (bytes), if it can be read and is finite.
pub fn memlock_limit() -> Option<u64> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid out-pointer for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
    (rc == 0 && r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// CPU time used by the calling thread.
pub fn thread_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time used by the whole process.
pub fn process_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// Hands a bound, listening socket to the current glommio executor.
/// Must be called on an executor thread.
pub fn glommio_listener(sock: socket2::Socket) -> glommio::net::TcpListener {
    use std::os::fd::FromRawFd;
    let fd = sock.into_raw_fd();
    // SAFETY: `fd` is a listening TCP socket whose ownership moves into the
    // listener (`into_raw_fd` gave it up); glommio closes it on drop.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
}

/// Bytes this process has resident (from /proc/self/statm), for the idle
/// peer measurement.
pub fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_listed() {
        let cpus = online_cpus();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn send_queue_counts_what_the_peer_did_not_take() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        set_notsent_lowat(&a, 64 << 10).unwrap();
        assert_eq!(send_queue(&a).unwrap(), 0);
        // Loopback delivers at once: the bytes wait in b's receive buffer,
        // acknowledged. Fill it, then the rest stays in a's queue.
        set_nonblocking(&a).unwrap();
        let chunk = vec![7u8; 64 << 10];
        let mut written = 0usize;
        for _ in 0..2000 {
            match a.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let before = tcp_progress(&a).unwrap();
        let queued = before.queued;
        assert!(
            queued > 0 && queued < written as u64,
            "{queued} of {written}"
        );
        // Acknowledged and waiting add up to what was written (plus the
        // SYN, which counts as one byte acknowledged).
        assert_eq!(before.acked + queued, written as u64 + 1);
        // The peer reads everything: nothing is left unacknowledged.
        let mut buf = vec![0u8; 1 << 20];
        let mut read = 0usize;
        b.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        while read < written {
            read += b.read(&mut buf).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after = tcp_progress(&a).unwrap();
        assert_eq!(after.queued, 0);
        assert!(after.acked > before.acked);
    }

    #[test]
    fn clocks_advance() {
        let a = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_time() > a);
        assert!(process_cpu_time() >= thread_cpu_time());
        assert!(resident_bytes().unwrap() > 0);
    }
}
