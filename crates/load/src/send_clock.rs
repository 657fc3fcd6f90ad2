//! When the open model's sends are due, on the generator thread itself.
//!
//! tokio's timer fires on 1 ms ticks, so a send due at t went out up to
//! 1 ms late; a timer thread that wakes the sender adds a cross-thread
//! wake-up (about 0.1 ms on a VM) and its CPU. Here each generator thread
//! keeps one `timerfd` armed (absolute, on the monotonic clock) at the
//! earliest deadline any of its connections waits for, registered with the
//! thread's own event loop: the loop's `epoll` wakes when it fires, and
//! every connection whose time has come is woken in the same turn. The
//! thread's timer slack is 1 ns so the kernel does not batch the wake-up
//! later. A send never goes out before its time.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;
use tokio::io::unix::AsyncFd;

/// The send deadlines of one generator thread's connections.
#[derive(Clone)]
pub struct SendClock {
    shared: Rc<Shared>,
}

struct Shared {
    fd: AsyncFd<OwnedFd>,
    /// (waiter id, deadline, waker) of every connection waiting.
    waiting: RefCell<Vec<(u64, Instant, Waker)>>,
    /// The deadline the timerfd is armed for.
    armed: Cell<Option<Instant>>,
    next_id: Cell<u64>,
}

impl SendClock {
    /// A clock for the calling thread's event loop (call inside its
    /// runtime); spawn [`SendClock::dispatch`] on the same loop.
    pub fn new() -> std::io::Result<SendClock> {
        // SAFETY: plain syscalls on a descriptor this function owns; the
        // prctl only changes the calling thread's timer slack.
        let fd = unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
            let fd = libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            );
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        // SAFETY: the AsyncFd owns the descriptor, which stays open and
        // registered until the AsyncFd drops it.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(SendClock {
            shared: Rc::new(Shared {
                fd,
                waiting: RefCell::new(Vec::new()),
                armed: Cell::new(None),
                next_id: Cell::new(0),
            }),
        })
    }

    /// Arms the timerfd for `at` (absolute on the monotonic clock, which
    /// is the clock `Instant` reads on Linux).
    fn arm(&self, at: Instant) {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes into a local timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let ahead = at.saturating_duration_since(Instant::now());
        let nanos = now.tv_nsec as u128 + ahead.subsec_nanos() as u128;
        let value = libc::timespec {
            tv_sec: now.tv_sec
                + ahead.as_secs() as libc::time_t
                + (nanos / 1_000_000_000) as libc::time_t,
            // At least 1 ns: a zero it_value disarms the timer.
            tv_nsec: ((nanos % 1_000_000_000) as libc::c_long).max(1),
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: a valid timerfd and a valid itimerspec.
        unsafe {
            libc::timerfd_settime(
                self.shared.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            );
        }
        self.shared.armed.set(Some(at));
    }

    /// Completes at `at`: never before it, and one event-loop wake-up
    /// after it.
    pub async fn sleep_until(&self, at: Instant) {
        if Instant::now() >= at {
            return;
        }
        let id = self.shared.next_id.get();
        self.shared.next_id.set(id + 1);
        poll_fn(|cx| {
            let mut waiting = self.shared.waiting.borrow_mut();
            if Instant::now() >= at {
                waiting.retain(|(w, _, _)| *w != id);
                return Poll::Ready(());
            }
            match waiting.iter_mut().find(|(w, _, _)| *w == id) {
                Some(entry) => entry.2.clone_from(cx.waker()),
                None => waiting.push((id, at, cx.waker().clone())),
            }
            drop(waiting);
            if self.shared.armed.get().is_none_or(|armed| at < armed) {
                self.arm(at);
            }
            Poll::Pending
        })
        .await;
    }

    /// Wakes each connection whose time has come whenever the timerfd
    /// fires, and re-arms it for the next deadline; runs until the loop
    /// ends (abort it with the thread's other helper tasks).
    pub async fn dispatch(self) {
        loop {
            let Ok(mut ready) = self.shared.fd.readable().await else {
                return;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads 8 bytes into a local buffer from our timerfd.
            unsafe {
                libc::read(
                    self.shared.fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                );
            }
            ready.clear_ready();
            self.shared.armed.set(None);
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for (_, at, waker) in self.shared.waiting.borrow().iter() {
                if *at <= now {
                    waker.wake_by_ref();
                } else {
                    next = Some(next.map_or(*at, |n| n.min(*at)));
                }
            }
            if let Some(at) = next {
                self.arm(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sends_wake_at_their_time_never_before() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let late = local.block_on(&rt, async {
            let clock = SendClock::new().unwrap();
            let dispatcher = tokio::task::spawn_local(clock.clone().dispatch());
            let mut late = Vec::new();
            // Two waiters at once, the later registered first.
            for k in 0..40u32 {
                let start = Instant::now();
                let a = start + Duration::from_micros(1_500 + 37 * u64::from(k));
                let b = start + Duration::from_micros(700);
                let (wa, wb) = (clock.clone(), clock.clone());
                let ta = tokio::task::spawn_local(async move {
                    wa.sleep_until(a).await;
                    Instant::now().duration_since(a)
                });
                let tb = tokio::task::spawn_local(async move {
                    wb.sleep_until(b).await;
                    Instant::now().duration_since(b)
                });
                late.push(ta.await.unwrap());
                late.push(tb.await.unwrap());
            }
            dispatcher.abort();
            late
        });
        let mut late = late;
        late.sort();
        let median = late[late.len() / 2];
        assert!(
            median < Duration::from_micros(500),
            "median lateness {median:?}"
        );
    }
}
