//! A sub-millisecond timer for request holds.
//!
//! tokio's timer wheel fires on 1 ms ticks, so a 10 ms hold could last up to
//! 11 ms. This timer keeps deadlines in a heap on one dedicated thread that
//! sleeps on a condition variable with the kernel's timer slack set to 1 ns,
//! and wakes each waiting request through a oneshot channel.
//!
//! Waking a parked thread costs tens of microseconds on a VM, twice (timer
//! thread, then the request's runtime thread). The timer therefore fires
//! early by a learned lead, an exponentially weighted mean of the observed
//! fire-to-resume delay, and the request yields out the last microseconds
//! itself: a hold never ends before its deadline and lands within a few
//! microseconds after it.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use std::time::Instant;
use tokio::sync::oneshot;

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so the max-heap yields the earliest deadline first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    stop: AtomicBool,
    /// Learned fire-to-resume delay, nanoseconds.
    lead_ns: AtomicU64,
}

/// Starting guess for the wake-up lead.
const INITIAL_LEAD: Duration = Duration::from_micros(50);
/// Upper bound on the lead, so an outlier cannot make holds spin long.
const MAX_LEAD: Duration = Duration::from_micros(500);

/// Handle to the timer thread; the thread stops when the last handle drops.
pub struct PreciseTimer {
    shared: Arc<Shared>,
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub fn start() -> std::io::Result<PreciseTimer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            lead_ns: AtomicU64::new(INITIAL_LEAD.as_nanos() as u64),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("demo-timer".into())
            .spawn(move || run(&worker))?;
        Ok(PreciseTimer { shared })
    }

    /// The current wake-up lead.
    pub fn lead(&self) -> Duration {
        Duration::from_nanos(self.shared.lead_ns.load(Ordering::Relaxed))
    }

    /// Completes at `at`: never before it, and within microseconds after it
    /// once the lead has been learned.
    pub async fn sleep_until(&self, at: Instant) {
        let lead = self.lead();
        let fire_at = at.checked_sub(lead).unwrap_or(at);
        let (tx, rx) = oneshot::channel();
        {
            let mut queue = lock(&self.shared.queue);
            queue.seq += 1;
            let seq = queue.seq;
            let earliest = queue.heap.peek().is_none_or(|first| fire_at < first.at);
            queue.heap.push(Entry {
                at: fire_at,
                seq,
                wake: tx,
            });
            if earliest {
                self.shared.changed.notify_one();
            }
        }
        // An error means the timer thread is gone (shutdown): stop waiting.
        let _ = rx.await;
        let resumed = Instant::now();
        let observed = resumed.saturating_duration_since(fire_at).min(MAX_LEAD);
        // lead ← 7/8·lead + 1/8·observed
        let next = (lead.as_nanos() as u64 * 7 + observed.as_nanos() as u64) / 8;
        self.shared.lead_ns.store(next, Ordering::Relaxed);
        while Instant::now() < at {
            tokio::task::yield_now().await;
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_one();
    }
}

/// Locks the queue; a poisoned lock still holds a consistent heap.
fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run(shared: &Shared) {
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let mut queue = lock(&shared.queue);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        while queue.heap.peek().is_some_and(|first| first.at <= now) {
            if let Some(entry) = queue.heap.pop() {
                let _ = entry.wake.send(());
            }
        }
        queue = match queue.heap.peek() {
            None => shared
                .changed
                .wait(queue)
                .unwrap_or_else(|p| p.into_inner()),
            Some(first) => {
                let wait = first.at.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(queue, wait)
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn holds_are_accurate_to_a_tenth_of_a_millisecond() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let timer = PreciseTimer::start().unwrap();
        let mut late = Vec::new();
        rt.block_on(async {
            for _ in 0..50 {
                let at = Instant::now() + Duration::from_micros(2_500);
                timer.sleep_until(at).await;
                let now = Instant::now();
                assert!(now >= at, "a hold ended early");
                late.push(now.duration_since(at));
            }
        });
        late.sort();
        let median = late[late.len() / 2];
        assert!(
            median < Duration::from_micros(100),
            "median lateness {median:?}"
        );
        assert!(timer.lead() > Duration::ZERO && timer.lead() <= MAX_LEAD);
    }

    #[test]
    fn earlier_deadlines_overtake_later_ones() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let timer = Arc::new(PreciseTimer::start().unwrap());
        rt.block_on(async {
            let start = Instant::now();
            let slow = timer.sleep_until(start + Duration::from_millis(200));
            let fast = timer.sleep_until(start + Duration::from_millis(5));
            tokio::pin!(slow);
            tokio::select! {
                _ = &mut slow => panic!("the later deadline fired first"),
                _ = fast => {}
            }
            assert!(start.elapsed() < Duration::from_millis(100));
        });
    }
}
