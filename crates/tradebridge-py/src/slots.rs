//! Named fields of msgspec Structs read straight from their slots, for the per-message checks, the
//! receiver's accounting and the publisher's envelope test.
//!
//! `getattr` from Rust goes through the generic attribute lookup (the class's MRO cache, the member
//! descriptor, its getter): about 30 ns a field, and the hot paths read three per message. A msgspec
//! field is a member descriptor (`T_OBJECT_EX`) at a fixed offset in every instance of its class, so once
//! a class's descriptors are looked up, a field is one pointer read. Classes are told apart by exact type
//! (a subclass gets its own entry: it may redeclare a field); a class whose field is not such a slot, or
//! one seen after the table is full, is read with `getattr` as before, and so is a slot left empty
//! (`getattr` raises its `AttributeError`).

use std::sync::OnceLock;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use pyo3::{PyTraverseError, PyVisit};

/// Classes whose offsets are kept (the bus has nine message classes; a checker sees a few of them).
const KEPT: usize = 16;

/// The class that declares `descriptor` and the offset of its slot, if it is a member descriptor of an
/// object slot (`T_OBJECT_EX`: a pointer, NULL while the field is unset).
pub(crate) fn object_slot(
    descriptor: &Bound<'_, PyAny>,
) -> Option<(*mut ffi::PyTypeObject, ffi::Py_ssize_t)> {
    let object = descriptor.as_ptr();
    // SAFETY: the object is checked to be a member descriptor before it is read as one; its `d_member`
    // lives as long as its class, which the caller's `descriptor` keeps alive.
    unsafe {
        if ffi::Py_TYPE(object) != &raw mut ffi::PyMemberDescr_Type {
            return None;
        }
        let member = object.cast::<ffi::PyMemberDescrObject>();
        let definition = &*(*member).d_member;
        (definition.type_code == ffi::Py_T_OBJECT_EX)
            .then_some(((*member).d_common.d_type, definition.offset))
    }
}

/// The object pointer in the slot at `offset` of `object` (NULL: unset).
///
/// # Safety
/// `offset` must be an [`object_slot`] of `object`'s class or of one of its bases.
#[inline]
pub(crate) unsafe fn slot_pointer(
    object: &Bound<'_, PyAny>,
    offset: ffi::Py_ssize_t,
) -> *mut ffi::PyObject {
    // SAFETY: the caller's promise: a pointer-sized slot inside the instance.
    unsafe {
        object
            .as_ptr()
            .cast::<u8>()
            .offset(offset)
            .cast::<*mut ffi::PyObject>()
            .read()
    }
}

/// One class and where each named field lives in its instances (None: not a slot; use `getattr`).
struct Layout<const N: usize> {
    class: Py<PyType>,
    offsets: [Option<ffi::Py_ssize_t>; N],
}

/// The fields `names` of any class, read by offset where the class's layout allows it.
pub(crate) struct Slots<const N: usize> {
    names: [Py<PyString>; N],
    kept: [OnceLock<Layout<N>>; KEPT],
}

/// One object's fields, its class's layout looked up once for all of them.
pub(crate) struct Fields<'a, 'py, const N: usize> {
    slots: &'a Slots<N>,
    object: &'a Bound<'py, PyAny>,
    offsets: Option<&'a [Option<ffi::Py_ssize_t>; N]>,
}

impl<'py, const N: usize> Fields<'_, 'py, N> {
    /// The field `index` (of the names given to `Slots::new`).
    #[inline]
    pub(crate) fn get(&self, index: usize) -> PyResult<Bound<'py, PyAny>> {
        if let Some(offset) = self.offsets.and_then(|offsets| offsets[index]) {
            // SAFETY: `offset` is this field's object slot in instances of the object's exact class.
            let field = unsafe { slot_pointer(self.object, offset) };
            if !field.is_null() {
                // SAFETY: a live object owned by `object`, which the caller holds.
                return Ok(unsafe { Bound::from_borrowed_ptr(self.object.py(), field) });
            }
        }
        self.object
            .getattr(self.slots.names[index].bind(self.object.py()))
    }
}

impl<const N: usize> Slots<N> {
    pub(crate) fn new(py: Python<'_>, names: [&str; N]) -> Self {
        Self {
            names: names.map(|name| PyString::intern(py, name).unbind()),
            kept: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The fields of `object`.
    #[inline]
    pub(crate) fn of<'a, 'py>(&'a self, object: &'a Bound<'py, PyAny>) -> Fields<'a, 'py, N> {
        Fields {
            slots: self,
            object,
            offsets: self.offsets(object),
        }
    }

    /// Where the fields live in instances of `object`'s exact class (None: not kept, use `getattr`).
    #[inline]
    fn offsets(&self, object: &Bound<'_, PyAny>) -> Option<&[Option<ffi::Py_ssize_t>; N]> {
        let class = object.get_type();
        for kept in &self.kept {
            match kept.get() {
                Some(layout) if layout.class.is(&class) => return Some(&layout.offsets),
                Some(_) => {}
                None => {
                    // another thread may have filled this entry meanwhile: then this layout's class
                    // goes back now (as a `Bound`: see `one_arg::call`) and the next call looks again
                    if let Err(refused) = kept.set(self.layout(&class)) {
                        drop(refused.class.into_bound(object.py()));
                    }
                    return kept
                        .get()
                        .filter(|layout| layout.class.is(&class))
                        .map(|layout| &layout.offsets);
                }
            }
        }
        None
    }

    fn layout(&self, class: &Bound<'_, PyType>) -> Layout<N> {
        let offsets = std::array::from_fn(|index| {
            // On the class, a member descriptor's `__get__` returns the descriptor itself.
            let descriptor = class.getattr(self.names[index].bind(class.py())).ok()?;
            let (declared_by, offset) = object_slot(&descriptor)?;
            // SAFETY: both are live type objects.
            let inherited = unsafe { ffi::PyType_IsSubtype(class.as_type_ptr(), declared_by) } != 0;
            inherited.then_some(offset)
        });
        Layout {
            class: class.clone().unbind(),
            offsets,
        }
    }

    /// Visit the classes kept (an owner's `__traverse__`: a class may hold its owner, as a message
    /// class holds its `__post_init__`).
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        for layout in self.kept.iter().filter_map(OnceLock::get) {
            visit.call(&layout.class)?;
        }
        Ok(())
    }
}
