//! Messages from the control thread to a shard: a crossbeam channel read
//! with `try_recv`, plus a parked `Waker` the sender wakes.
//!
//! # Why not a blocking `recv` or a glommio channel
//!
//! A shard is one thread running one executor: a blocking `recv` would stop
//! every connection on it, and `spawn_blocking(recv)` measured 0.1 M msg/s
//! here. glommio's `shared_channel` needs both ends inside executors; the
//! control thread is a plain thread. The pattern below (platform notes:
//! 15 M msg/s, p50 9 us wake latency to an idle executor) works from any
//! thread: the sender pushes, then takes and wakes the parked waker.
//!
//! The waker slot is a `Mutex`, touched once per message batch and never
//! on the block-serving path.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

#[derive(Debug, Default)]
struct Parked {
    waker: Mutex<Option<Waker>>,
}

impl Parked {
    fn wake(&self) {
        let w = self.waker.lock().ok().and_then(|mut g| g.take());
        if let Some(w) = w {
            w.wake();
        }
    }

    fn park(&self, waker: &Waker) {
        if let Ok(mut g) = self.waker.lock() {
            match &mut *g {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
    }
}

/// The sending side; cheap to clone, usable from any thread.
#[derive(Debug)]
pub struct MailSender<T> {
    tx: Sender<T>,
    parked: Arc<Parked>,
}

impl<T> Clone for MailSender<T> {
    fn clone(&self) -> Self {
        MailSender {
            tx: self.tx.clone(),
            parked: Arc::clone(&self.parked),
        }
    }
}

impl<T> MailSender<T> {
    /// Sends a message and wakes the receiving task. `false` when the
    /// receiver is gone (its shard has stopped).
    pub fn send(&self, msg: T) -> bool {
        let ok = self.tx.send(msg).is_ok();
        self.parked.wake();
        ok
    }
}

/// The receiving side, polled from one executor task.
#[derive(Debug)]
pub struct Mailbox<T> {
    rx: Receiver<T>,
    parked: Arc<Parked>,
}

/// A new unbounded mailbox.
pub fn mailbox<T>() -> (MailSender<T>, Mailbox<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let parked = Arc::new(Parked::default());
    (
        MailSender {
            tx,
            parked: Arc::clone(&parked),
        },
        Mailbox { rx, parked },
    )
}

impl<T> Mailbox<T> {
    /// Waits for the next message; `None` once every sender is gone.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { mailbox: self }
    }
}

/// Future of [`Mailbox::recv`].
#[derive(Debug)]
pub struct Recv<'a, T> {
    mailbox: &'a Mailbox<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let m = self.mailbox;
        match m.rx.try_recv() {
            Ok(msg) => return Poll::Ready(Some(msg)),
            Err(TryRecvError::Disconnected) => return Poll::Ready(None),
            Err(TryRecvError::Empty) => {}
        }
        m.parked.park(cx.waker());
        // A message sent between the first try and parking would otherwise
        // wait for the next one.
        match m.rx.try_recv() {
            Ok(msg) => Poll::Ready(Some(msg)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn messages_from_another_thread_wake_the_executor() {
        let (tx, rx) = mailbox::<u32>();
        let ex = glommio::LocalExecutorBuilder::default()
            .io_memory(64 << 10)
            .make()
            .unwrap();
        let sender = std::thread::spawn(move || {
            for i in 0..1000 {
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                assert!(tx.send(i));
            }
        });
        let sum = ex.run(async move {
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum += u64::from(v);
            }
            sum
        });
        sender.join().unwrap();
        assert_eq!(sum, (0..1000u64).sum::<u64>());
    }
}
