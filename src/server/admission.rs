//! Who may hold a request-body slot, how long a request waits for one, and how fast a body
//! must arrive once it holds one.
//!
//! Bodies are read whole before a call runs, so the slots bound memory. Left alone, a slot
//! is also a thing to take away from others: a client that sends headers and then nothing
//! would keep it for the whole request deadline. Three rules keep the slots moving:
//!
//! - A request whose token (query string or `Authorization`) was checked before its body
//!   competes for every slot; any other (token only in the body, or none) competes for a
//!   small share of them, so anonymous clients can never hold them all.
//! - The wait for a slot is bounded: past it the request is answered rather than queued.
//! - Once a slot is held, the body must keep coming: a pause longer than the idle deadline,
//!   or an average rate below the minimum after that grace, ends the read. A slow but steady
//!   upload is not cut by these rules, only by the whole-request deadline.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The body slots of a server.
#[derive(Debug)]
pub(super) struct Slots {
    all: Semaphore,
    total: usize,
    anonymous: Semaphore,
    wait: Duration,
}

/// A held body slot; released when dropped.
#[derive(Debug)]
pub(super) struct Slot<'a> {
    _all: SemaphorePermit<'a>,
    _anonymous: Option<SemaphorePermit<'a>>,
}

/// Whether the caller's token was checked before its body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// A valid token with the method's scope arrived in the query string or header.
    Authenticated,
    /// No token before the body, or one that did not pass.
    Anonymous,
}

impl Slots {
    /// `total` slots, of which at most `anonymous` (at least 1, and fewer than `total`
    /// when there are two or more) go to anonymous requests; a request waits at most
    /// `wait` for one.
    pub(super) fn new(total: usize, anonymous: usize, wait: Duration) -> Self {
        let total = total.max(1);
        let anonymous = anonymous.clamp(1, total.saturating_sub(1).max(1));
        Self {
            all: Semaphore::new(total),
            total,
            anonymous: Semaphore::new(anonymous),
            wait,
        }
    }

    /// How many slots are held now.
    pub(super) fn held(&self) -> usize {
        self.total.saturating_sub(self.all.available_permits())
    }

    /// A slot for a caller of `standing`, or `None` if none came free in time.
    pub(super) async fn acquire(&self, standing: Standing) -> Option<Slot<'_>> {
        let take = async {
            // The share first: an anonymous request waiting for a slot must not sit in
            // the queue of all slots ahead of authenticated ones beyond its share.
            let anonymous = match standing {
                Standing::Authenticated => None,
                Standing::Anonymous => Some(self.anonymous.acquire().await.ok()?),
            };
            let all = self.all.acquire().await.ok()?;
            Some(Slot {
                _all: all,
                _anonymous: anonymous,
            })
        };
        tokio::time::timeout(self.wait, take).await.ok().flatten()
    }
}

/// The deadlines of one body read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    started: Instant,
    idle: Duration,
    min_rate: u64,
    total: Duration,
}

impl Pace {
    /// A read starting now: no pause longer than `idle`, at least `min_rate` bytes a
    /// second on average once `idle` has passed (0: no minimum), all within `total`.
    pub(super) fn start(idle: Duration, min_rate: u64, total: Duration) -> Self {
        Self {
            started: Instant::now(),
            idle,
            min_rate,
            total,
        }
    }

    /// When the read started.
    pub(super) const fn started(&self) -> Instant {
        self.started
    }

    /// The latest time the next bytes may arrive, `received` bytes having come so far,
    /// the last of them at `last`.
    pub(super) fn next_deadline(&self, received: u64, last: Instant) -> Instant {
        let whole = self.started + self.total;
        let idle = last + self.idle;
        let rate = if self.min_rate == 0 {
            whole
        } else {
            // `received` bytes pay for `received / min_rate` seconds after the grace.
            #[allow(clippy::cast_precision_loss)]
            let paid = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
            self.started + self.idle + paid.min(self.total)
        };
        whole.min(idle).min(rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_requests_get_their_share_and_no_more() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let slots = Slots::new(4, 1, Duration::from_millis(50));
            let anonymous = slots.acquire(Standing::Anonymous).await;
            assert!(anonymous.is_some());
            // The share is taken: the next anonymous request is turned away in time...
            assert!(slots.acquire(Standing::Anonymous).await.is_none());
            // ...while authenticated ones still find the other three.
            let held: Vec<_> = [(); 3].iter().map(|()| slots.all.try_acquire()).collect();
            assert!(held.iter().all(Result::is_ok));
            assert!(slots.acquire(Standing::Authenticated).await.is_none());
            drop(held);
            assert!(slots.acquire(Standing::Authenticated).await.is_some());
            drop(anonymous);
            assert!(slots.acquire(Standing::Anonymous).await.is_some());
        });
    }

    #[test]
    fn the_anonymous_share_leaves_a_slot_to_others() {
        let slots = Slots::new(2, 5, Duration::ZERO);
        assert_eq!(slots.anonymous.available_permits(), 1);
        let one = Slots::new(1, 5, Duration::ZERO);
        assert_eq!(one.anonymous.available_permits(), 1);
    }

    #[test]
    fn deadlines_follow_pauses_rate_and_the_whole() {
        let pace = Pace::start(Duration::from_secs(5), 1000, Duration::from_secs(60));
        let t0 = pace.started();
        // Nothing yet: the grace, as an idle pause.
        assert_eq!(pace.next_deadline(0, t0), t0 + Duration::from_secs(5));
        // Steady at 2 kB/s: bound by the pause, not the rate.
        let at = t0 + Duration::from_secs(10);
        assert_eq!(pace.next_deadline(20_000, at), at + Duration::from_secs(5));
        // A trickle (100 bytes by 10 s): the rate says it is already late.
        assert_eq!(
            pace.next_deadline(100, at),
            t0 + Duration::from_millis(5_100)
        );
        // Near the end, the whole-request deadline.
        let late = t0 + Duration::from_secs(58);
        assert_eq!(
            pace.next_deadline(1 << 30, late),
            t0 + Duration::from_secs(60)
        );
        // No minimum rate: pauses and the whole only.
        let free = Pace::start(Duration::from_secs(5), 0, Duration::from_secs(60));
        let at = free.started() + Duration::from_secs(30);
        assert_eq!(free.next_deadline(1, at), at + Duration::from_secs(5));
    }
}
