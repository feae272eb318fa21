//! `CaptureReceiver`: a recorder's receiving loop, frames to Arrow column buffers with no Python per frame.
//!
//! Recording in Python cost about 4 us a frame over a bare receive (a `bytes` object and a stamp per frame,
//! then msgspec, Arrow conversion and gap counting over them), where a 2-core machine running the
//! publisher leaves the recorder one core. Here one call takes frames from pyzmq's own socket (the libzmq
//! functions `bus_io` finds, GIL released), stamps each (`CLOCK_REALTIME`, as `time.time_ns`), keeps
//! those of the wanted topics, reads each envelope (`tradebridge_contracts::peek_frame`) and appends to
//! the open batch's columns; `take` hands the batch over as the buffers Arrow's binary layout wants
//! (validity bitmap, int32 offsets, data), which `pyarrow.Array.from_buffers` wraps as they are.
//!
//! A frame `peek_frame` leaves to the general reading (not plain JSON, no topic...) is kept all the same
//! and counted in the batch's `odd`; the SDK then reads that batch's envelopes with its own reader, so a
//! capture's columns never depend on which path received it.
//!
//! The socket stays pyzmq's; the SDK creates this on a SUB socket it owns, uses it from one thread and
//! calls `close()` before closing the socket.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tradebridge_contracts::peek_frame;

use crate::boundary::guard;
use crate::libzmq::{Msg, Zmq, ENOTSOCK};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CaptureReceiver>()?;
    m.add_class::<CaptureBatch>()?;
    m.add_class::<CaptureBuffer>()
}

/// A batch ends before its payload column would outgrow Arrow's int32 offsets.
const MAX_BATCH_BYTES: usize = 1 << 30;

/// A validity bitmap, Arrow's layout: bit `i % 8` of byte `i / 8`, set when row `i` holds a value.
#[derive(Default)]
struct Bitmap {
    bits: Vec<u8>,
    len: usize,
    nulls: usize,
}

impl Bitmap {
    fn push(&mut self, valid: bool) {
        if self.len.is_multiple_of(8) {
            self.bits.push(0);
        }
        if valid {
            self.bits[self.len / 8] |= 1 << (self.len % 8);
        } else {
            self.nulls += 1;
        }
        self.len += 1;
    }
}

/// A string or binary column: validity, offsets (one more than the rows), the values end to end.
struct Strings {
    valid: Bitmap,
    offsets: Vec<i32>,
    data: Vec<u8>,
}

impl Default for Strings {
    fn default() -> Self {
        Self {
            valid: Bitmap::default(),
            offsets: vec![0],
            data: Vec::new(),
        }
    }
}

impl Strings {
    fn get(&self, row: usize) -> Option<&[u8]> {
        let bit = self.valid.bits[row / 8] & (1 << (row % 8)) != 0;
        let (start, end) = (self.offsets[row] as usize, self.offsets[row + 1] as usize);
        bit.then(|| &self.data[start..end])
    }

    fn push(&mut self, value: Option<&[u8]>) {
        self.valid.push(value.is_some());
        self.data.extend_from_slice(value.unwrap_or_default());
        // the batch ends at MAX_BATCH_BYTES, far below i32::MAX, unless one value alone is larger
        self.offsets
            .push(i32::try_from(self.data.len()).unwrap_or(i32::MAX));
    }
}

/// The open batch: one entry per kept frame in every column.
#[derive(Default)]
struct Columns {
    recv_ns: Vec<i64>,
    topic: Strings,
    source: Strings,
    seq: Vec<i64>,
    seq_valid: Bitmap,
    kind: Strings,
    symbol: Strings,
    schema_version: Strings,
    payload: Strings,
    odd: usize,
}

impl Columns {
    fn rows(&self) -> usize {
        self.recv_ns.len()
    }

    fn push(&mut self, stamp: i64, frame: &[u8]) {
        self.recv_ns.push(stamp);
        self.payload.push(Some(frame));
        let peeked = peek_frame(frame);
        if peeked.is_none() {
            self.odd += 1; // the SDK reads this batch's envelopes itself: these columns are not used
        }
        let peeked = peeked.unwrap_or_default();
        self.topic.push(Some(peeked.topic.as_bytes()));
        self.source.push(peeked.source.map(str::as_bytes));
        self.seq.push(peeked.seq.unwrap_or(0));
        self.seq_valid.push(peeked.seq.is_some());
        self.kind.push(peeked.r#type.map(str::as_bytes));
        self.symbol.push(peeked.symbol.map(str::as_bytes));
        self.schema_version
            .push(peeked.schema_version.map(str::as_bytes));
    }
}

/// A column value as text (valid UTF-8 in a batch without odd frames; replaced otherwise).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Receives a SUB socket's frames into capture batches (see the module documentation).
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct CaptureReceiver {
    zmq: Zmq,
    /// `void *` of the libzmq socket; 0 once closed
    handle: AtomicUsize,
    /// `b"<topic> "` of each wanted topic; empty: every frame
    wanted: Vec<Vec<u8>>,
    open: Mutex<Columns>,
}

impl CaptureReceiver {
    fn columns(&self) -> MutexGuard<'_, Columns> {
        // a panic mid-push is caught by the boundary guard; the batch is still whole rows up to it
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl CaptureReceiver {
    /// `library` and `handle` as for `SocketIO`; `kind` the socket's `zmq.TYPE`, checked through the
    /// library found; `topics` the topics to keep (a frame `b"<topic> ..."` of one of them), none: all.
    #[new]
    fn new(library: &str, handle: usize, kind: c_int, topics: Vec<Vec<u8>>) -> PyResult<Self> {
        guard(|| {
            let zmq = Zmq::for_socket(library, handle, kind)?;
            let wanted = topics
                .into_iter()
                .map(|mut topic| {
                    topic.push(b' ');
                    topic
                })
                .collect();
            Ok(Self {
                zmq,
                handle: AtomicUsize::new(handle),
                wanted,
                open: Mutex::new(Columns::default()),
            })
        })
    }

    /// Receive into the open batch, with the GIL released, until `room` frames were kept, one was stamped
    /// at or after `until_ns`, or a receive waited out the socket's `RCVTIMEO`. Returns the frames kept,
    /// the last time taken (ns) and 0, `EAGAIN` (waited out), `EINTR` (a signal: let Python handle it) or
    /// libzmq's errno of a failure.
    fn fill(&self, py: Python<'_>, room: usize, until_ns: i64) -> PyResult<(usize, i64, c_int)> {
        guard(|| {
            let handle = self.handle.load(Ordering::Acquire);
            if handle == 0 {
                return Ok((0, now_ns(), ENOTSOCK));
            }
            let zmq = self.zmq;
            let wanted = &self.wanted;
            let mut columns = self.columns();
            let columns = &mut *columns;
            Ok(py.detach(move || {
                let mut kept = 0;
                loop {
                    if kept >= room || columns.payload.data.len() >= MAX_BATCH_BYTES {
                        return (kept, now_ns(), 0);
                    }
                    let mut msg = Msg([0; 64]);
                    // SAFETY: `msg` is initialised before use and closed exactly once below; `handle`
                    // is open (closed only by the thread that calls this, after `close()`).
                    let received = unsafe {
                        (zmq.msg_init)(&raw mut msg);
                        if (zmq.msg_recv)(&raw mut msg, handle as *mut c_void, 0) < 0 {
                            let errno = (zmq.errno)();
                            (zmq.msg_close)(&raw mut msg);
                            Err(errno)
                        } else {
                            Ok(())
                        }
                    };
                    let stamp = now_ns();
                    if let Err(errno) = received {
                        return (kept, stamp, errno);
                    }
                    // SAFETY: a received message: its data is `size` readable bytes until closed.
                    let frame = unsafe {
                        let size = (zmq.msg_size)(&raw const msg);
                        std::slice::from_raw_parts((zmq.msg_data)(&raw mut msg).cast::<u8>(), size)
                    };
                    // ZeroMQ filters by prefix: "marketx ..." reaches a "market" subscription
                    if wanted.is_empty() || wanted.iter().any(|w| frame.starts_with(w)) {
                        columns.push(stamp, frame);
                        kept += 1;
                    }
                    // SAFETY: closed once; `frame` is not used after this.
                    unsafe { (zmq.msg_close)(&raw mut msg) };
                    if stamp >= until_ns {
                        return (kept, stamp, 0);
                    }
                }
            }))
        })
    }

    /// Frames in the open batch.
    #[getter]
    fn rows(&self) -> usize {
        self.columns().rows()
    }

    /// The open batch's first stamp (ns), None when it is empty.
    #[getter]
    fn first_ns(&self) -> Option<i64> {
        self.columns().recv_ns.first().copied()
    }

    /// Hand the open batch over and start a new one.
    fn take(&self) -> CaptureBatch {
        CaptureBatch {
            columns: std::mem::take(&mut *self.columns()),
        }
    }

    /// Forget the handle (call before closing the socket): `fill` then returns `ENOTSOCK`.
    fn close(&self) {
        self.handle.store(0, Ordering::Release);
    }
}

/// One batch of received frames as Arrow buffers (see `columns`).
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct CaptureBatch {
    columns: Columns,
}

type Column<'py> = (
    Option<Bound<'py, PyBytes>>,
    Option<Bound<'py, PyBytes>>,
    Bound<'py, PyAny>,
    usize,
);

impl Columns {
    /// The string columns in schema order: topic, source, type, symbol, schema_version, payload.
    fn strings(&self, index: usize) -> &Strings {
        match index {
            0 => &self.topic,
            1 => &self.source,
            2 => &self.kind,
            3 => &self.symbol,
            4 => &self.schema_version,
            _ => &self.payload,
        }
    }
}

/// A string column's values (the frames, most of a batch's bytes) lent to Arrow without a copy, read-only,
/// through the buffer protocol: it holds the batch, which never changes once taken.
#[pyclass(module = "tradebridge._native", frozen)]
pub(crate) struct CaptureBuffer {
    batch: Py<CaptureBatch>,
    column: usize,
}

impl CaptureBuffer {
    fn data(&self) -> &[u8] {
        &self.batch.get().columns.strings(self.column).data
    }
}

#[pymethods]
impl CaptureBuffer {
    /// # Safety
    /// `view` is the `Py_buffer` Python passes to `bf_getbuffer`.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let data = slf.get().data();
        let len = ffi::Py_ssize_t::try_from(data.len()).unwrap_or(ffi::Py_ssize_t::MAX);
        // SAFETY: the bytes live as long as the batch, which the view's `obj` (this object, increfed by
        // `PyBuffer_FillInfo`) holds; read-only (1), so a writable request fails with BufferError.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr().cast_mut().cast::<c_void>(),
                len,
                1,
                flags,
            )
        };
        if filled == -1 {
            Err(PyErr::fetch(slf.py()))
        } else {
            Ok(())
        }
    }

    fn __len__(&self) -> usize {
        self.data().len()
    }
}

fn le_bytes<'py, const N: usize, T: Copy>(
    py: Python<'py>,
    values: &[T],
    to_le: impl Fn(T) -> [u8; N],
) -> Bound<'py, PyBytes> {
    PyBytes::new_with(py, values.len() * N, |out| {
        for (chunk, &value) in out.chunks_exact_mut(N).zip(values) {
            chunk.copy_from_slice(&to_le(value));
        }
        Ok(())
    })
    .expect("filling a new bytes object cannot fail")
}

fn validity<'py>(py: Python<'py>, bitmap: &Bitmap) -> Option<Bound<'py, PyBytes>> {
    (bitmap.nulls > 0).then(|| PyBytes::new(py, &bitmap.bits))
}

fn strings<'py>(batch: &Bound<'py, CaptureBatch>, index: usize) -> PyResult<Column<'py>> {
    let py = batch.py();
    let column = batch.get().columns.strings(index);
    let data = CaptureBuffer {
        batch: batch.clone().unbind(),
        column: index,
    };
    Ok((
        validity(py, &column.valid),
        Some(le_bytes(py, &column.offsets, i32::to_le_bytes)),
        Bound::new(py, data)?.into_any(),
        column.valid.nulls,
    ))
}

/// One `(topic, source)` stream's numbering within the rows counted (`tradebridge.bus.stats`' rules).
struct Stream<'a> {
    topic: &'a [u8],
    source: &'a [u8],
    first: Option<i64>,
    /// the highest seq so far, from the previous batches' (the caller's `last`) on
    highest: i64,
    messages: u64,
    gaps: u64,
    dropped: i64,
    out_of_order: u64,
}

/// `(topic, source, first seq, highest seq, messages, gaps, dropped, out of order)` of one stream.
type StreamCount = (String, String, i64, i64, u64, u64, i64, u64);

#[pymethods]
impl CaptureBatch {
    #[getter]
    fn rows(&self) -> usize {
        self.columns.rows()
    }

    /// Frames whose envelope the SDK must read itself (their topic, source, seq, type, symbol and
    /// schema_version buffers hold placeholders).
    #[getter]
    fn odd(&self) -> usize {
        self.columns.odd
    }

    /// Count gaps in rows `start..stop` per `(topic, source)` stream (a null source is ""), as
    /// `tradebridge.capture._segments._GapCounter` does: a skipped seq is a gap, a seq at or below the
    /// highest so far is out of order, a stream's first seq is no gap. `last` maps each stream to its
    /// highest seq before these rows and is updated. Rows without a seq are not counted. Streams come in
    /// the order they first appear in the rows; `dropped` adds up as int64 does (wrapping), as numpy's.
    fn count_gaps(
        &self,
        start: usize,
        stop: usize,
        last: &Bound<'_, PyDict>,
    ) -> PyResult<Vec<StreamCount>> {
        guard(|| {
            let c = &self.columns;
            let stop = stop.min(c.rows());
            let mut streams: Vec<Stream<'_>> = Vec::new();
            let mut current = usize::MAX;
            for row in start..stop {
                let topic = c.topic.get(row).unwrap_or_default();
                let source = c.source.get(row).unwrap_or_default();
                let same = streams
                    .get(current)
                    .is_some_and(|s| s.topic == topic && s.source == source);
                if !same {
                    current = match streams
                        .iter()
                        .position(|s| s.topic == topic && s.source == source)
                    {
                        Some(found) => found,
                        None => {
                            streams.push(Stream {
                                topic,
                                source,
                                first: None,
                                highest: 0,
                                messages: 0,
                                gaps: 0,
                                dropped: 0,
                                out_of_order: 0,
                            });
                            streams.len() - 1
                        }
                    };
                }
                if c.seq_valid.bits[row / 8] & (1 << (row % 8)) == 0 {
                    continue;
                }
                let seq = c.seq[row];
                let stream = &mut streams[current];
                if stream.first.is_none() {
                    stream.first = Some(seq);
                    let key = (text(topic), text(source));
                    stream.highest = match last.get_item(key)? {
                        Some(previous) => previous.extract()?,
                        None => seq.wrapping_sub(1),
                    };
                }
                let step = seq.wrapping_sub(stream.highest);
                if step > 1 {
                    stream.gaps += 1;
                    stream.dropped = stream.dropped.wrapping_add(step - 1);
                } else if step <= 0 {
                    stream.out_of_order += 1;
                }
                stream.highest = stream.highest.max(seq);
                stream.messages += 1;
            }
            let mut counts = Vec::new();
            for s in streams {
                let Some(first) = s.first else { continue };
                let (topic, source) = (text(s.topic), text(s.source));
                last.set_item((topic.clone(), source.clone()), s.highest)?;
                counts.push((
                    topic,
                    source,
                    first,
                    s.highest,
                    s.messages,
                    s.gaps,
                    s.dropped,
                    s.out_of_order,
                ));
            }
            Ok(counts)
        })
    }

    /// The capture's columns in schema order (recv_ns, topic, source, seq, type, symbol, schema_version,
    /// payload), each `(validity or None, offsets or None, data, null count)`: `pyarrow.Array.from_buffers`
    /// takes them as they are (int64 and int32 little-endian; a string column's data is a `CaptureBuffer`
    /// lending the batch's bytes, no copy).
    fn columns<'py>(slf: &Bound<'py, Self>) -> PyResult<Vec<Column<'py>>> {
        let py = slf.py();
        let c = &slf.get().columns;
        Ok(vec![
            (
                None,
                None,
                le_bytes(py, &c.recv_ns, i64::to_le_bytes).into_any(),
                0,
            ),
            strings(slf, 0)?,
            strings(slf, 1)?,
            (
                validity(py, &c.seq_valid),
                None,
                le_bytes(py, &c.seq, i64::to_le_bytes).into_any(),
                c.seq_valid.nulls,
            ),
            strings(slf, 2)?,
            strings(slf, 3)?,
            strings(slf, 4)?,
            strings(slf, 5)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_hold_arrow_layouts() {
        let mut columns = Columns::default();
        columns.push(5, br#"market {"seq":3,"source":"a","symbol":"X"}"#);
        columns.push(6, b"odd");
        columns.push(7, br#"system {"schema_version":null}"#);
        assert_eq!(columns.rows(), 3);
        assert_eq!(columns.odd, 1);
        assert_eq!(columns.seq_valid.bits, vec![0b001]);
        assert_eq!(columns.seq_valid.nulls, 2);
        assert_eq!(columns.topic.offsets, vec![0, 6, 6, 12]);
        assert_eq!(columns.topic.data, b"marketsystem");
        assert_eq!(columns.schema_version.valid.bits, vec![0b001]);
        assert_eq!(
            columns.payload.offsets.last(),
            Some(&(columns.payload.data.len() as i32))
        );
    }
}
