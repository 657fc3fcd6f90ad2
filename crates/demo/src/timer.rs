//! A sub-millisecond timer for request holds.
//!
//! tokio's timer wheel fires on 1 ms ticks, so a 10 ms hold could last up to
//! 11 ms. This timer keeps deadlines in a heap on one dedicated thread that
//! sleeps on a condition variable with the kernel's timer slack set to 1 ns,
//! and wakes each waiting request through a oneshot channel.
//!
//! Waking a parked thread costs tens to hundreds of microseconds on a VM,
//! twice (timer thread, then the request's runtime thread), and the cost is
//! bimodal: small when the threads are awake, large from idle. The timer
//! therefore fires early by a learned lead that tracks a high quantile of the
//! observed fire-to-resume delay (its exponentially weighted mean plus twice
//! its mean absolute deviation), and a request that resumes early yields out
//! the rest itself: a hold never ends before its deadline and rarely after
//! it. The yielding costs CPU only while wake-ups are slow, that is while the
//! server is mostly idle.

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
    /// Weighted mean of the fire-to-resume delay, nanoseconds.
    delay_mean_ns: AtomicU64,
    /// Weighted mean absolute deviation of that delay, nanoseconds.
    delay_deviation_ns: AtomicU64,
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
            delay_mean_ns: AtomicU64::new(INITIAL_LEAD.as_nanos() as u64),
            delay_deviation_ns: AtomicU64::new(0),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("demo-timer".into())
            .spawn(move || run(&worker))?;
        Ok(PreciseTimer { shared })
    }

    /// The current wake-up lead: mean + 2 × mean absolute deviation of the
    /// observed delay, at most [`MAX_LEAD`].
    pub fn lead(&self) -> Duration {
        let mean = self.shared.delay_mean_ns.load(Ordering::Relaxed);
        let deviation = self.shared.delay_deviation_ns.load(Ordering::Relaxed);
        Duration::from_nanos(mean.saturating_add(2 * deviation)).min(MAX_LEAD)
    }

    /// Folds one observed fire-to-resume delay into the estimates (weight 1/8;
    /// concurrent updates may lose one sample, which an estimate tolerates).
    fn observe(&self, delay: Duration) {
        let delay = delay.min(MAX_LEAD).as_nanos() as i64;
        let mean = self.shared.delay_mean_ns.load(Ordering::Relaxed) as i64;
        let deviation = self.shared.delay_deviation_ns.load(Ordering::Relaxed) as i64;
        let next_mean = mean + (delay - mean) / 8;
        let next_deviation = deviation + ((delay - mean).abs() - deviation) / 8;
        self.shared
            .delay_mean_ns
            .store(next_mean.max(0) as u64, Ordering::Relaxed);
        self.shared
            .delay_deviation_ns
            .store(next_deviation.max(0) as u64, Ordering::Relaxed);
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
        self.observe(Instant::now().saturating_duration_since(fire_at));
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
