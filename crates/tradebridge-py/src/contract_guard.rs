//! The contract decoder's hot path (`tradebridge.contracts.codec.Decoder`) in native calls.
//!
//! What costs in Python is not the checks but the interpreter around them: a frame for the decoder's
//! method, another for every message's `__post_init__`, and two passes over the payload (an ASCII test,
//! then a bracket count that copies it). Here the limits are one pass over the bytes and the pattern checks
//! a few byte comparisons. Nothing is judged differently: anything that does not pass the fast test here
//! goes to the Python code, which decides and words the error exactly as before (so error paths cost
//! what they did, and the happy path never builds a message).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use pyo3::{PyTraverseError, PyVisit};

use crate::one_arg::one_arg;
use crate::slots::Slots;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<GuardedDecoder>()?;
    m.add_class::<MessageChecks>()?;
    m.add_function(wrap_pyfunction!(within_limits, m)?)
}

/// Whether a payload passes the size, UTF-8 and nesting-depth limits, judged exactly as
/// `codec._limit_errors` judges them (`True`: it would raise nothing).
#[pyfunction]
fn within_limits(data: &Bound<'_, PyBytes>, max_size: i64, max_depth: i64) -> bool {
    passes_limits(data.as_bytes(), max_size, max_depth)
}

#[inline]
fn passes_limits(data: &[u8], max_size: i64, max_depth: i64) -> bool {
    if i64::try_from(data.len()).map_or(true, |size| size > max_size) {
        return false;
    }
    let (ascii, openers) = ascii_and_openers(data);
    (ascii || std::str::from_utf8(data).is_ok())
        // The opener count bounds the depth; only a payload holding more openers than the limit needs
        // the exact walk.
        && (i64::try_from(openers).unwrap_or(i64::MAX) <= max_depth || depth_within(data, max_depth))
}

/// One pass: whether every byte is ASCII, and how many are `{` or `[`. The two differ only in bit 0x20,
/// so `byte | 0x20 == b'{'` matches exactly them. Sixteen bytes at a time with SSE2 (part of the x86-64
/// baseline), else eight at a time in a `u64`.
#[inline]
fn ascii_and_openers(data: &[u8]) -> (bool, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let blocks = data.len() / 16 * 16;
        // SAFETY: SSE2 is part of the x86-64 baseline; `blocks` is a multiple of 16 within `data`.
        let (ascii, count) = unsafe { ascii_and_openers_sse2(&data[..blocks]) };
        let (rest_ascii, rest_count) = ascii_and_openers_words(&data[blocks..]);
        (ascii && rest_ascii, count + rest_count)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        ascii_and_openers_words(data)
    }
}

/// `ascii_and_openers` over whole 16-byte blocks (`data.len()` a multiple of 16).
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn ascii_and_openers_sse2(data: &[u8]) -> (bool, usize) {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi64, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_or_si128, _mm_sad_epu8, _mm_set1_epi8, _mm_setzero_si128,
        _mm_srli_si128, _mm_sub_epi8,
    };
    // SAFETY (the whole body): SSE2 only, and every load reads 16 bytes inside `data`.
    unsafe {
        let zero = _mm_setzero_si128();
        let case = _mm_set1_epi8(0x20);
        let brace = _mm_set1_epi8(b'{' as i8);
        let mut high = zero;
        // per-byte-lane counts (each lane counts up by one per match: at most 255 blocks between folds)
        let mut lanes = zero;
        let mut folded = zero;
        for (index, block) in data.chunks_exact(16).enumerate() {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            high = _mm_or_si128(high, v);
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(_mm_or_si128(v, case), brace));
            if index % 255 == 254 {
                folded = _mm_add_epi64(folded, _mm_sad_epu8(lanes, zero));
                lanes = zero;
            }
        }
        folded = _mm_add_epi64(folded, _mm_sad_epu8(lanes, zero));
        let total = _mm_cvtsi128_si64(folded) + _mm_cvtsi128_si64(_mm_srli_si128::<8>(folded));
        (
            _mm_movemask_epi8(high) == 0,
            usize::try_from(total).unwrap_or(usize::MAX),
        )
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// `ascii_and_openers`, eight bytes at a time.
#[inline]
fn ascii_and_openers_words(data: &[u8]) -> (bool, usize) {
    let mut high = 0u64;
    let mut count = 0usize;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        high |= w;
        let x = (w | (0x20 * ONES)) ^ (u64::from(b'{') * ONES);
        // 0x80 in exactly the bytes of `x` that are zero (no borrow between bytes)
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        count += zero.count_ones() as usize;
    }
    for &b in words.remainder() {
        high |= u64::from(b);
        count += usize::from(b | 0x20 == b'{');
    }
    (high & HIGH == 0, count)
}

/// The exact depth rule of `codec._check_depth`: brackets inside strings do not count, where a string is
/// what `"(?:[^"\\]|\\.)*"` matches scanning left to right. A quote with no closing quote after it is an
/// ordinary byte, and then no later quote can open a string either (every later quote sits escaped in the
/// failed scan, which any later scan would repeat from the same position). Closers may take the count
/// below zero, as there.
fn depth_within(data: &[u8], limit: i64) -> bool {
    let mut depth: i64 = 0;
    let mut strings = true;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return false;
                }
            }
            b'}' | b']' => depth -= 1,
            b'"' if strings => match closing_quote(data, i + 1) {
                Some(end) => i = end,
                None => strings = false,
            },
            _ => {}
        }
        i += 1;
    }
    true
}

/// The index of the quote closing a string whose body starts at `from`, backslash escapes skipped.
fn closing_quote(data: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j < data.len() {
        match data[j] {
            b'"' => return Some(j),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    None
}

/// `Decoder.decode` for exact `bytes`: the limits, msgspec's typed decode, the absent-version fix-up.
/// Anything else (another buffer type, a payload over a limit, a document msgspec refuses) goes to
/// `fallback`, the Python decode, which classifies it exactly as before.
#[pyclass(module = "tradebridge._native", frozen)]
pub struct GuardedDecoder {
    decode: Py<PyAny>,
    fallback: Py<PyAny>,
    /// A decoded message whose `schema_version` is this very object had none on the wire...
    current: Option<Py<PyAny>>,
    /// ... and gets this one instead.
    absent: Option<Py<PyAny>>,
    max_size: i64,
    max_depth: i64,
    /// `schema_version`
    fields: Slots<1>,
}

#[pymethods]
impl GuardedDecoder {
    #[new]
    #[pyo3(signature = (decode, fallback, *, max_size, max_depth, current = None, absent = None))]
    fn new(
        py: Python<'_>,
        decode: Py<PyAny>,
        fallback: Py<PyAny>,
        max_size: i64,
        max_depth: i64,
        current: Option<Py<PyAny>>,
        absent: Option<Py<PyAny>>,
    ) -> Self {
        Self {
            decode,
            fallback,
            current,
            absent,
            max_size,
            max_depth,
            fields: Slots::new(py, ["schema_version"]),
        }
    }

    /// The fallback is the Python decoder's bound method, which holds this object: a cycle the
    /// collector must see through.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.decode)?;
        visit.call(&self.fallback)?;
        visit.call(&self.current)?;
        visit.call(&self.absent)?;
        self.fields.traverse(&visit)
    }

    /// `decode(data)`: a builtin function of one argument bound to this object (see `one_arg`), which
    /// `Decoder` keeps as its own `decode`.
    #[getter]
    fn decode<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        DECODE.bind(slf.as_any())
    }
}

one_arg!(
    DECODE,
    GuardedDecoder,
    c"decode",
    c"Decode one payload; what it does not pass goes to the fallback (which raises the error).",
    |decoder, data| decoder.decode_one(data)
);

impl GuardedDecoder {
    fn decode_one<'py>(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = data.py();
        let Ok(bytes) = data.cast_exact::<PyBytes>() else {
            return self.fallback.bind(py).call1((data,));
        };
        if !passes_limits(bytes.as_bytes(), self.max_size, self.max_depth) {
            return self.fallback.bind(py).call1((data,));
        }
        let message = match self.decode.bind(py).call1((data,)) {
            Ok(message) => message,
            // Only ordinary exceptions are the document's fault; KeyboardInterrupt and the like pass.
            Err(error) if error.is_instance_of::<pyo3::exceptions::PyException>(py) => {
                return self.fallback.bind(py).call1((data,));
            }
            Err(error) => return Err(error),
        };
        if let (Some(current), Some(absent)) = (&self.current, &self.absent) {
            if self.fields.of(&message).get(0)?.is(current) {
                message.setattr(intern!(py, "schema_version"), absent.bind(py))?;
            }
        }
        Ok(message)
    }
}

/// A bus message's `__post_init__`: the pattern checks msgspec cannot do in C (symbol, schema version,
/// signal id), in the Python order. A value the byte test does not pass goes to the Python check, which
/// either passes it or raises the error it always raised.
#[pyclass(module = "tradebridge._native", frozen)]
pub struct MessageChecks {
    check_version: Py<PyAny>,
    check_symbol: Option<Py<PyAny>>,
    check_signal_id: Option<Py<PyAny>>,
    unset: Option<Py<PyAny>>,
    /// `symbol`, `schema_version`, `signal_id`
    fields: Slots<3>,
}

const SYMBOL: usize = 0;
const VERSION: usize = 1;
const SIGNAL_ID: usize = 2;

#[pymethods]
impl MessageChecks {
    #[new]
    #[pyo3(signature = (check_version, *, check_symbol = None, check_signal_id = None, unset = None))]
    fn new(
        py: Python<'_>,
        check_version: Py<PyAny>,
        check_symbol: Option<Py<PyAny>>,
        check_signal_id: Option<Py<PyAny>>,
        unset: Option<Py<PyAny>>,
    ) -> Self {
        Self {
            check_version,
            check_symbol,
            check_signal_id,
            unset,
            fields: Slots::new(py, ["symbol", "schema_version", "signal_id"]),
        }
    }

    /// The classes it has read (kept for their slot offsets) hold it as their `__post_init__`: a cycle
    /// the collector must see through.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.check_version)?;
        visit.call(&self.check_symbol)?;
        visit.call(&self.check_signal_id)?;
        visit.call(&self.unset)?;
        self.fields.traverse(&visit)
    }

    /// The `__post_init__` itself, a builtin function of one argument bound to this object (see
    /// `one_arg`): messages.py binds it (`MessageChecks(...).check`) and msgspec calls it.
    #[getter]
    fn check<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        CHECK.bind(slf.as_any())
    }
}

one_arg!(
    CHECK,
    MessageChecks,
    c"check",
    c"The checks on a message, in order; raises the Python check's error.",
    |checks, message| {
        checks.check_one(message)?;
        Ok(message.py().None().into_bound(message.py()))
    }
);

impl MessageChecks {
    fn check_one(&self, message: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = message.py();
        let fields = self.fields.of(message);
        if let Some(check) = &self.check_symbol {
            let value = fields.get(SYMBOL)?;
            if !passes(&value, symbol_ok) {
                check.bind(py).call1((value,))?;
            }
        }
        let value = fields.get(VERSION)?;
        if !passes(&value, version_ok) {
            self.check_version.bind(py).call1((value,))?;
        }
        if let Some(check) = &self.check_signal_id {
            let value = fields.get(SIGNAL_ID)?;
            let unset = self.unset.as_ref().is_some_and(|unset| value.is(unset));
            if !unset && !passes(&value, signal_id_ok) {
                check.bind(py).call1((value,))?;
            }
        }
        Ok(())
    }
}

/// Whether `value` is an exact `str` whose bytes pass `test` (anything else is for the Python check).
#[inline]
fn passes(value: &Bound<'_, PyAny>, test: fn(&[u8]) -> bool) -> bool {
    value
        .cast_exact::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok().map(|s| test(s.as_bytes())))
        .unwrap_or(false)
}

/// `^[A-Z0-9][A-Z0-9./:-]*$` (`_values.SYMBOL_PATTERN`), whole string.
fn symbol_ok(s: &[u8]) -> bool {
    let Some((first, rest)) = s.split_first() else {
        return false;
    };
    (first.is_ascii_uppercase() || first.is_ascii_digit())
        && rest
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b".:/-".contains(b))
}

/// `^1\.[0-9]+$` (`_values.VERSION_PATTERN`), whole string.
fn version_ok(s: &[u8]) -> bool {
    s.len() >= 3 && s[0] == b'1' && s[1] == b'.' && s[2..].iter().all(u8::is_ascii_digit)
}

/// `^[A-Za-z0-9._-]+$` (`_values.SIGNAL_ID_PATTERN`), whole string.
fn signal_id_ok(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings_and_escapes() {
        assert!(depth_within(br#"{"a":"[[[[","b":[1]}"#, 2));
        assert!(!depth_within(br#"{"a":[[1]]}"#, 2));
        assert!(depth_within(br#"{"a":"\"[[[","b":1}"#, 1));
        // an unterminated string is ordinary bytes: its brackets count
        assert!(!depth_within(br#"{"a":"[["#, 2));
        // closers first take the count below zero
        assert!(depth_within(b"]]]][[[", 0));
    }

    #[test]
    fn the_word_scan_counts_like_a_byte_scan() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in (0..300).chain([4079, 4080, 4096, 4111, 9000]) {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b"{[]}\"a;{\xff\x5b\x7b\xdb\xfb"[(state % 13) as usize]
                })
                .collect();
            let ascii = data.is_ascii();
            let count = data.iter().filter(|&&b| b == b'{' || b == b'[').count();
            assert_eq!(ascii_and_openers(&data), (ascii, count), "{data:?}");
            assert_eq!(ascii_and_openers_words(&data), (ascii, count), "{data:?}");
        }
    }

    #[test]
    fn patterns() {
        assert!(symbol_ok(b"BRK.B") && symbol_ok(b"BTC/USD") && symbol_ok(b"1"));
        assert!(!symbol_ok(b"") && !symbol_ok(b".A") && !symbol_ok(b"aapl") && !symbol_ok(b"A B"));
        assert!(version_ok(b"1.0") && version_ok(b"1.12"));
        assert!(!version_ok(b"1.") && !version_ok(b"2.0") && !version_ok(b"1.0\n"));
        assert!(signal_id_ok(b"sig-1_a.b") && !signal_id_ok(b"") && !signal_id_ok(b"a b"));
    }
}
