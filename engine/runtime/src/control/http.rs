//! The control core's blocking helpers: HTTP(S) announces and DNS lookups
//! on a small pool of worker threads.
//!
//! # Why a pool of blocking workers, not an async client
//!
//! A tracker GET and a `getaddrinfo` call both block, for as long as the
//! other side (or the resolver) takes. The control loop must never wait on
//! them, or one dead tracker would delay every DHT answer, dial and status
//! line. An async HTTP client would need an async runtime of its own (tokio
//! for `reqwest`/`hyper`) beside glommio on the shards and the plain
//! control thread: a second scheduler for a few requests a minute. `ureq`
//! is blocking, small, well kept and speaks HTTPS through rustls; a handful
//! of threads running it (`tracker_workers`, default 4) carry thousands of
//! torrents' announces, spread over their intervals by the scheduler. Each
//! request has a global timeout (`tracker_timeout`), so a tracker that
//! accepts and never answers holds one worker for that long and nothing
//! else; the answers come back over a channel and wake the control loop
//! through its `mio` waker.
//!
//! DNS lookups (UDP tracker hosts, DHT routers) run on the same workers for
//! the same reason: the resolver can take seconds.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use seedcore_tracker::http::MAX_RESPONSE_LEN;

/// Work for a helper thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// GET `url`, giving up after `timeout`.
    Get {
        id: u64,
        url: String,
        timeout: Duration,
    },
    /// Resolve `host:port`.
    Resolve { id: u64, host: String, port: u16 },
}

/// What a helper thread found.
#[derive(Debug)]
pub(crate) enum Done {
    /// The body of a 2xx answer (at most `MAX_RESPONSE_LEN` bytes), or why
    /// there is none.
    Got {
        id: u64,
        result: Result<Vec<u8>, String>,
    },
    /// The addresses of a name, or why there are none.
    Resolved {
        id: u64,
        result: Result<Vec<SocketAddr>, String>,
    },
}

/// The pool: jobs in, results out (and a wake-up for the control loop).
pub(crate) struct Pool {
    next: std::cell::Cell<u64>,
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    _threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `workers` threads (pinned to `cpu` when given). `wake` is
    /// called after each result is queued.
    pub(crate) fn start(
        workers: usize,
        cpu: Option<usize>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Pool> {
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done) = crossbeam_channel::unbounded::<Done>();
        let agent = agent();
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers.max(1) {
            let rx = job_rx.clone();
            let tx = done_tx.clone();
            let agent = agent.clone();
            let wake = Arc::clone(&wake);
            let t = std::thread::Builder::new()
                .name(format!("seedcore-tracker-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        let _ = crate::sys::pin_current_thread(cpu);
                    }
                    work(&agent, &rx, &tx, &*wake);
                })?;
            threads.push(t);
        }
        Ok(Pool {
            next: std::cell::Cell::new(1),
            jobs: Some(jobs),
            done,
            _threads: threads,
        })
    }

    /// A fresh job id.
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next.get();
        self.next.set(id + 1);
        id
    }

    /// Queues a job (dropped silently once the pool is closed).
    pub(crate) fn submit(&self, job: Job) {
        if let Some(j) = &self.jobs {
            let _ = j.send(job);
        }
    }

    /// The next finished job, without waiting.
    pub(crate) fn try_done(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// Stops taking jobs: the workers end after their current one. They are
    /// not joined: one may sit in a request until its timeout, and nobody
    /// needs its answer any more.
    pub(crate) fn close(&mut self) {
        self.jobs = None;
    }
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .user_agent(concat!("seedcore/", env!("CARGO_PKG_VERSION")))
        .max_redirects(4)
        // Trackers answer errors in the body ("failure reason") with any
        // status; a non-2xx status is reported as such.
        .http_status_as_error(true)
        .build();
    ureq::Agent::new_with_config(config)
}

fn work(agent: &ureq::Agent, jobs: &Receiver<Job>, done: &Sender<Done>, wake: &dyn Fn()) {
    for job in jobs {
        let d = match job {
            Job::Get { id, url, timeout } => Done::Got {
                id,
                result: get(agent, &url, timeout),
            },
            Job::Resolve { id, host, port } => Done::Resolved {
                id,
                result: resolve(&host, port),
            },
        };
        if done.send(d).is_err() {
            return;
        }
        wake();
    }
}

fn get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let connect = timeout.min(Duration::from_secs(10));
    let response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(connect))
        .build()
        .call()
        .map_err(|e| match e {
            ureq::Error::StatusCode(code) => format!("HTTP status {code}"),
            other => other.to_string(),
        })?;
    let limit = MAX_RESPONSE_LEN as u64;
    let mut body = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(limit + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the answer: {e}"))?;
    if body.len() as u64 > limit {
        return Err(format!("answer longer than {limit} bytes"));
    }
    Ok(body)
}

/// `host:port` to addresses, IPv4 first (the DHT and the UDP tracker socket
/// of a dual-stack seed are IPv4 first too).
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pool(wakes: &Arc<AtomicUsize>) -> Pool {
        let w = Arc::clone(wakes);
        Pool::start(
            2,
            None,
            Arc::new(move || {
                w.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .unwrap()
    }

    fn wait(pool: &Pool) -> Done {
        let end = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(d) = pool.try_done() {
                return d;
            }
            assert!(std::time::Instant::now() < end, "no result");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn gets_a_body_and_reports_status_and_timeouts() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let p = pool(&wakes);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            // 1: a good answer; 2: a 404; 3: accept and say nothing.
            let mut held = Vec::new();
            for (i, s) in l.incoming().take(3).enumerate() {
                let mut s = s.unwrap();
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut s, &mut buf);
                match i {
                    0 => {
                        let body = b"d8:intervali60e5:peers0:e";
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        let _ = s.write_all(body);
                    }
                    1 => {
                        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                    _ => held.push(s),
                }
            }
            std::thread::sleep(Duration::from_secs(2));
        });
        for (id, expect) in [(1u64, "ok"), (2, "404"), (3, "timeout")] {
            p.submit(Job::Get {
                id,
                url: format!("http://{addr}/announce?x={id}"),
                timeout: Duration::from_millis(500),
            });
            match wait(&p) {
                Done::Got { id: got, result } => {
                    assert_eq!(got, id);
                    match expect {
                        "ok" => assert_eq!(result.unwrap(), b"d8:intervali60e5:peers0:e"),
                        other => {
                            let e = result.unwrap_err();
                            assert!(e.to_lowercase().contains(other), "{e}");
                        }
                    }
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(wakes.load(Ordering::Relaxed) >= 3);
        server.join().unwrap();
    }

    #[test]
    fn resolves_literals_without_asking_dns() {
        assert_eq!(
            resolve("127.0.0.1", 80).unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            resolve("::1", 81).unwrap(),
            vec!["[::1]:81".parse().unwrap()]
        );
    }
}
