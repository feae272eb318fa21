//! Two-lane arithmetic and streaming stores for the batch kernel.
//!
//! Division dominates the warm per-bar work (six per bar) and a core retires only one division every few
//! cycles, whatever its width: pairing independent divisions into one two-lane instruction halves that
//! cost. IEEE division is exact per lane, so the bits are those of the scalar code, which is what
//! TA-Lib exactness and batch == streaming rest on. The compiler does not reliably pair them on its own,
//! so on x86-64 (where SSE2 is always present) the instruction is named explicitly.

/// `[a[0] / b[0], a[1] / b[1]]` as one instruction where the target has one.
#[inline(always)]
pub(crate) fn div2(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_div_pd, _mm_loadu_pd, _mm_storeu_pd};
        let mut quotient = [0.0; 2];
        // SAFETY: SSE2 is part of the x86-64 baseline; the loads and the store use unaligned forms on
        // two-element arrays that live for the whole block.
        unsafe {
            let q = _mm_div_pd(_mm_loadu_pd(a.as_ptr()), _mm_loadu_pd(b.as_ptr()));
            _mm_storeu_pd(quotient.as_mut_ptr(), q);
        }
        quotient
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        [a[0] / b[0], a[1] / b[1]]
    }
}

/// `[max(a[0], 0), max(a[1], 0)]` as x86's `maxpd` computes it: `a` where `a > 0`, else `+0.0` (NaN
/// and both zeros give `+0.0`).
#[inline(always)]
pub(crate) fn positive2(a: [f64; 2]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_pd, _mm_max_pd, _mm_setzero_pd, _mm_storeu_pd};
        let mut out = [0.0; 2];
        // SAFETY: SSE2 is part of the x86-64 baseline; unaligned forms on two-element arrays.
        unsafe {
            _mm_storeu_pd(
                out.as_mut_ptr(),
                _mm_max_pd(_mm_loadu_pd(a.as_ptr()), _mm_setzero_pd()),
            )
        };
        out
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        a.map(|x| if x > 0.0 { x } else { 0.0 })
    }
}

/// Writes rows of a large output that will not be read back soon.
///
/// A batch result is far larger than the caches: ordinary stores first read every line they write
/// (read-for-ownership) and then evict it again, so the memory traffic is twice the output. Streaming
/// (non-temporal) stores write whole lines without reading them. Used only on 16-byte-aligned outputs of
/// at least [`RowWriter::MIN_BYTES`]; anything else gets ordinary stores.
pub(crate) struct RowWriter {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    streaming: bool,
}

impl RowWriter {
    /// Below this the output may still be in cache when the caller reads it, and ordinary stores win.
    /// Above it (half of a core's L2 on current x86 servers) the lines are gone by the time anyone reads
    /// them, even when the caller fills one big matrix a series at a time.
    const MIN_BYTES: usize = 512 << 10;

    pub(crate) fn new(out: &[f64]) -> Self {
        let streaming = cfg!(target_arch = "x86_64")
            && std::mem::size_of_val(out) >= Self::MIN_BYTES
            && (out.as_ptr() as usize) % 16 == 0;
        Self { streaming }
    }

    /// Whether rows are streamed: a loop over many rows asks once and calls [`RowWriter::write_as`].
    pub(crate) fn streaming(&self) -> bool {
        self.streaming
    }

    /// `row.copy_from_slice(values)`, streamed when enabled. `row` must be a row of the slice given to
    /// [`RowWriter::new`] (rows of 12 keep the 16-byte alignment).
    #[inline(always)]
    pub(crate) fn write(&self, row: &mut [f64], values: &[f64; 12]) {
        if self.streaming {
            self.write_as::<true>(row, values)
        } else {
            self.write_as::<false>(row, values)
        }
    }

    /// [`RowWriter::write`] with the choice made by the caller, who must pass [`RowWriter::streaming`].
    #[inline(always)]
    pub(crate) fn write_as<const STREAM: bool>(&self, row: &mut [f64], values: &[f64; 12]) {
        debug_assert_eq!(STREAM, self.streaming);
        #[cfg(target_arch = "x86_64")]
        if STREAM {
            use std::arch::x86_64::{_mm_loadu_pd, _mm_stream_pd};
            let row: &mut [f64; 12] = row.try_into().expect("rows of 12");
            // SAFETY: SSE2 is part of the x86-64 baseline; the buffer start is 16-byte aligned and rows
            // are 96 bytes, so every pair below is 16-byte aligned and inside `row`.
            unsafe {
                for pair in 0..6 {
                    let at = row.as_mut_ptr().add(pair * 2);
                    _mm_stream_pd(at, _mm_loadu_pd(values.as_ptr().add(pair * 2)));
                }
            }
            return;
        }
        row.copy_from_slice(values);
    }
}

impl Drop for RowWriter {
    /// Orders the streamed stores before anything the caller does next (required after non-temporal
    /// stores before the buffer is handed back), on success and on a bad bar alike.
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if self.streaming {
            // SAFETY: SSE is part of the x86-64 baseline; a fence has no memory operands.
            unsafe { std::arch::x86_64::_mm_sfence() };
        }
    }
}
