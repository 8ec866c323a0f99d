//! A memory budget for images in flight: the server and `batch` admit an image when its
//! estimated peak ([`crate::estimate_peak_bytes`]) fits in what the images already
//! running leave of the budget, so a burst of large uploads queues instead of multiplying.
//!
//! The budget is counted in KiB units (a `tokio` semaphore counts at most `u32` permits a
//! call). An image estimated above the whole budget asks for the whole budget: it waits
//! until nothing else runs and then runs alone, so nothing ever waits forever. Waiters are
//! served in arrival order (as `tokio`'s semaphore serves them), so a large image is not
//! starved by a stream of small ones.

use std::sync::{Condvar, Mutex, PoisonError};

/// Bytes a budget unit stands for.
pub(crate) const UNIT_BYTES: u64 = 1024;

/// The most units a budget holds: `tokio`'s semaphore limit, and `u32` for `acquire_many`.
const MAX_UNITS: u64 = 1 << 31;

/// The budget when neither the flag nor the machine says: what is read from the machine
/// cannot be, so assume a small one.
const FALLBACK_BYTES: u64 = 2 << 30;

/// The default budget: half the memory the process may use (the smaller of physical
/// memory, `MemTotal` in `/proc/meminfo`, and a cgroup v2 `memory.max`), at most 16 GiB
/// and at least 256 MiB; 2 GiB where neither can be read.
#[must_use]
pub(crate) fn default_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| meminfo_total(&text));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    from_machine(total, cgroup)
}

/// [`default_bytes`] from what was read: `MemTotal` and a cgroup limit, in bytes.
fn from_machine(total: Option<u64>, cgroup: Option<u64>) -> u64 {
    let usable = match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c),
        (Some(t), None) => t,
        (None, Some(c)) => c,
        (None, None) => return FALLBACK_BYTES,
    };
    (usable / 2).clamp(256 << 20, 16 << 30)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Parses a byte count: digits, optionally followed by `B`, `KiB`, `MiB`, `GiB` or `TiB`
/// (case does not matter; `K`, `M`, `G`, `T` are taken as the binary units too).
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (say 300MiB, 2GiB or 1048576)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => {
            return Err(format!(
                "`{unit}` is not a unit: use B, KiB, MiB, GiB or TiB"
            ));
        }
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("`{text}` is below 1 MiB: no image would fit"));
    }
    Ok(bytes)
}

/// The units of a budget of `bytes` that images share: at least 1, at most
/// [`MAX_UNITS`]. The pool of spare pixel buffers ([`crate::pixels::POOL_MAX_BYTES`]) is
/// held back from them: spares outlive the images that made them, so no image's estimate
/// counts them.
#[must_use]
pub(crate) fn budget_units(bytes: u64) -> u32 {
    let shared = bytes.saturating_sub(crate::pixels::POOL_MAX_BYTES as u64);
    // At most 2^31, so the cast is exact.
    (shared / UNIT_BYTES).clamp(1, MAX_UNITS) as u32
}

/// The units an image estimated at `bytes` takes from a budget of `total` units: its
/// estimate rounded up, and the whole budget when it is larger.
#[must_use]
pub(crate) fn image_units(bytes: u64, total: u32) -> u32 {
    let units = bytes.div_ceil(UNIT_BYTES).max(1);
    u32::try_from(units).map_or(total, |u| u.min(total))
}

/// A budget that blocks the calling thread until an image fits (for `batch`, whose
/// workers are plain threads: a rayon worker must never block on it, since the holder it
/// waits for could be suspended beneath it on the same thread).
#[derive(Debug)]
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) struct Blocking {
    total: u32,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug)]
struct State {
    available: u32,
    /// The next ticket handed out, and the ticket whose turn it is: first come, first served.
    next: u64,
    serving: u64,
}

/// Units held from a [`Blocking`] budget; returned when dropped.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    budget: &'a Blocking,
    units: u32,
}

#[cfg_attr(not(feature = "cli"), allow(dead_code))]
impl Blocking {
    /// A budget of `bytes`.
    #[must_use]
    pub(crate) fn new(bytes: u64) -> Self {
        let total = budget_units(bytes);
        Self {
            total,
            state: Mutex::new(State {
                available: total,
                next: 0,
                serving: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits until an image estimated at `bytes` fits, in turn, and takes its units.
    pub(crate) fn acquire(&self, bytes: u64) -> Held<'_> {
        let units = image_units(bytes, self.total);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = state.next;
        state.next += 1;
        while state.serving != ticket || state.available < units {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.available -= units;
        state.serving += 1;
        drop(state);
        // The next in line may fit in what is left.
        self.freed.notify_all();
        Held {
            budget: self,
            units,
        }
    }

    /// Units not held now.
    #[cfg(test)]
    fn available(&self) -> u32 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .available
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut state = self
            .budget
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.available += self.units;
        drop(state);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    const MIB: u64 = 1 << 20;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("300MiB"), Ok(300 * MIB));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("1048576"), Ok(MIB));
        assert!(parse_bytes("1000").is_err(), "below 1 MiB");
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("99999999999TiB").is_err());
    }

    #[test]
    fn the_default_is_half_the_machine_within_bounds() {
        assert_eq!(from_machine(Some(8 << 30), None), 4 << 30);
        assert_eq!(from_machine(Some(64 << 30), Some(2 << 30)), 1 << 30);
        assert_eq!(from_machine(Some(256 << 30), None), 16 << 30);
        assert_eq!(from_machine(Some(256 * MIB), None), 256 * MIB);
        assert_eq!(from_machine(None, None), FALLBACK_BYTES);
        assert_eq!(
            meminfo_total("MemTotal:       16318412 kB\nMemFree: 1 kB\n"),
            Some(16_318_412 * 1024)
        );
    }

    #[test]
    fn an_image_takes_its_estimate_and_never_more_than_the_budget() {
        let total = budget_units(300 * MIB);
        assert_eq!(
            total,
            252 * 1024,
            "300 MiB less the 48 MiB the spare buffers may take"
        );
        assert_eq!(budget_units(MIB), 1);
        assert_eq!(image_units(MIB + 1, total), 1025);
        assert_eq!(image_units(0, total), 1);
        assert_eq!(image_units(10 << 30, total), total);
        assert_eq!(image_units(u64::MAX, total), total);
    }

    #[test]
    fn images_wait_for_room_and_a_whole_budget_image_runs_alone() {
        let budget = Blocking::new(100 * MIB);
        let running = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        // Four images of 40 MiB and one larger than the budget: at most two of the
        // small ones at once, and the large one alone.
        std::thread::scope(|scope| {
            for bytes in [40 * MIB, 40 * MIB, 500 * MIB, 40 * MIB, 40 * MIB] {
                let (budget, running, most) = (&budget, &running, &most);
                scope.spawn(move || {
                    let _held = budget.acquire(bytes);
                    let cost = bytes.min(100 * MIB);
                    let now = running.fetch_add(cost, Ordering::SeqCst) + cost;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(cost, Ordering::SeqCst);
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 100 * MIB);
        assert_eq!(budget.available(), budget_units(100 * MIB));
    }

    #[test]
    fn a_large_image_is_not_overtaken_by_later_small_ones() {
        let budget = Blocking::new(100 * MIB);
        let first = budget.acquire(60 * MIB);
        let order = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            let (budget, order) = (&budget, &order);
            scope.spawn(move || {
                let _held = budget.acquire(80 * MIB);
                order.lock().unwrap().push("large");
            });
            // The large one is in line before the small one asks.
            while budget.state.lock().unwrap().next < 2 {
                std::thread::yield_now();
            }
            // 30 MiB: it fits beside the first image but not beside the large one, so once
            // the large one has its turn the order of the two pushes is fixed.
            scope.spawn(move || {
                let _held = budget.acquire(30 * MIB);
                order.lock().unwrap().push("small");
            });
            while budget.state.lock().unwrap().next < 3 {
                std::thread::yield_now();
            }
            // 40 MiB are free: the small one would fit, but waits its turn.
            std::thread::sleep(Duration::from_millis(30));
            assert!(order.lock().unwrap().is_empty());
            drop(first);
        });
        assert_eq!(*order.lock().unwrap(), ["large", "small"]);
    }
}
