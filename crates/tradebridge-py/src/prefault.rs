//! Overlap the kernel's zeroing of a fresh result buffer with the computation that fills it.
//!
//! A fresh `(N, 12)` result is untouched memory: the first write to every page makes the kernel zero it,
//! which on this class of machine costs about as much as computing the features. On Linux a helper
//! thread asks the kernel to populate the pages (`MADV_POPULATE_WRITE`, a syscall that neither reads nor
//! writes the memory from user space, so it cannot race with the writer) slightly ahead of the writer,
//! so the zeroing runs on another core. Anywhere else, or on kernels without the advice (before 5.14),
//! the helper does nothing and the writer takes the page faults itself, as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{Builder, Scope};

/// Buffers smaller than this are not worth a thread (about 87,000 bars of 12 features).
const MIN_BYTES: usize = 8 << 20;
/// Granularity of the helper's requests: small enough to stay just ahead of the writer.
const CHUNK_BYTES: usize = 2 << 20;

/// Starts populating `buffer`'s pages on a scoped helper thread when it is large enough. The helper stops
/// early once `done` is set (say, when the writer failed on a bad bar).
pub(crate) fn populate_in_background<'scope>(
    scope: &'scope Scope<'scope, '_>,
    buffer: &[f64],
    done: &'scope AtomicBool,
) {
    let bytes = std::mem::size_of_val(buffer);
    if bytes < MIN_BYTES {
        return;
    }
    // The address crosses the thread as a number: the helper never dereferences it.
    let start = buffer.as_ptr() as usize;
    // If no thread can be started the writer simply takes the page faults itself.
    let _ = Builder::new().spawn_scoped(scope, move || populate(start, bytes, done));
}

#[cfg(target_os = "linux")]
fn populate(start: usize, bytes: usize, done: &AtomicBool) {
    use std::ffi::{c_int, c_void};

    extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
    }
    const MADV_POPULATE_WRITE: c_int = 23;
    const PAGE: usize = 4096;

    // madvise wants page-aligned ranges; partial pages at the ends are left to the writer.
    let first = start.div_ceil(PAGE) * PAGE;
    let end = (start + bytes) / PAGE * PAGE;
    let mut at = first;
    while at < end && !done.load(Ordering::Relaxed) {
        let len = CHUNK_BYTES.min(end - at);
        // SAFETY: the range lies inside a live buffer the caller keeps borrowed for the scope's whole
        // lifetime; MADV_POPULATE_WRITE only prefaults page tables and never changes the contents.
        if unsafe { madvise(at as *mut c_void, len, MADV_POPULATE_WRITE) } != 0 {
            return; // unsupported advice (old kernel) or odd mapping: the writer faults pages in itself
        }
        at += len;
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_start: usize, _bytes: usize, _done: &AtomicBool) {}
