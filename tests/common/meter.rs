//! A heap meter for tests: a counting global allocator that tracks the
//! live bytes (and their peak) allocated by the calling thread only, so
//! tests on other threads do not disturb it. A test file that uses it
//! installs it with
//! `#[global_allocator] static GLOBAL: meter::Counting = meter::Counting;`
//! and calls [`start`] on the thread that measures.
//!
//! Sizes are those requested (`Layout::size`, a `Vec`'s capacity), before
//! the system allocator's rounding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Live bytes and their peak since the meter started, on this thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub live: i64,
    pub peak: i64,
}

thread_local! {
    static METER: Cell<Option<Stats>> = const { Cell::new(None) };
}

/// Updates this thread's meter, if one runs; never allocates.
fn record(delta: i64) {
    let _ = METER.try_with(|meter| {
        if let Some(mut stats) = meter.get() {
            stats.live += delta;
            stats.peak = stats.peak.max(stats.live);
            meter.set(Some(stats));
        }
    });
}

/// The counting allocator.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; counting only
// updates a const-initialized thread-local `Cell` of a `Copy` type.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as i64));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as i64 - layout.size() as i64);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts (or restarts) this thread's meter at zero.
pub fn start() {
    METER.with(|m| m.set(Some(Stats::default())));
}

/// This thread's numbers; the meter must be running.
pub fn stats() -> Stats {
    METER.with(Cell::get).expect("meter not running")
}

/// The heap `value` holds: what dropping it frees.
pub fn held<T>(value: T) -> i64 {
    let before = stats().live;
    drop(value);
    before - stats().live
}

/// Runs `f` and returns its result and the most the live heap grew while
/// it ran (measured from where it stood when `f` started).
pub fn peak_growth<R>(f: impl FnOnce() -> R) -> (R, i64) {
    let start = METER.with(|m| {
        let mut s = m.get().expect("meter not running");
        s.peak = s.live;
        m.set(Some(s));
        s.live
    });
    let result = f();
    (result, stats().peak - start)
}
