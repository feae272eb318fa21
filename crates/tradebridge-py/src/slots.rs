//! Named fields of msgspec Structs read straight from their slots, for the per-message checks and the
//! receiver's accounting.
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

/// Classes whose offsets are kept (the bus has nine message classes; a checker sees a few of them).
const KEPT: usize = 16;

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

impl<const N: usize> Slots<N> {
    pub(crate) fn new(py: Python<'_>, names: [&str; N]) -> Self {
        Self {
            names: names.map(|name| PyString::intern(py, name).unbind()),
            kept: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The field `index` (of the names given to `new`) of `object`.
    #[inline]
    pub(crate) fn get<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        index: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(offset) = self.offset(object, index) {
            // SAFETY: `offset` is the `T_OBJECT_EX` slot of this field in instances of `object`'s exact
            // class (`layout`), which holds an owned object pointer or NULL.
            let field = unsafe {
                object
                    .as_ptr()
                    .cast::<u8>()
                    .offset(offset)
                    .cast::<*mut ffi::PyObject>()
                    .read()
            };
            if !field.is_null() {
                // SAFETY: a live object owned by `object`, which the caller holds.
                return Ok(unsafe { Bound::from_borrowed_ptr(object.py(), field) });
            }
        }
        object.getattr(self.names[index].bind(object.py()))
    }

    /// Where field `index` lives in instances of `object`'s exact class, if it is a slot.
    #[inline]
    fn offset(&self, object: &Bound<'_, PyAny>, index: usize) -> Option<ffi::Py_ssize_t> {
        let class = object.get_type();
        for kept in &self.kept {
            match kept.get() {
                Some(layout) if layout.class.is(&class) => return layout.offsets[index],
                Some(_) => {}
                None => {
                    let layout = self.layout(&class);
                    let offset = layout.offsets[index];
                    // another thread may have filled this entry meanwhile: then the next call looks
                    // again, and this layout's class goes back now (as a `Bound`: see `one_arg::call`)
                    if let Err(refused) = kept.set(layout) {
                        drop(refused.class.into_bound(object.py()));
                    }
                    return offset;
                }
            }
        }
        None
    }

    fn layout(&self, class: &Bound<'_, PyType>) -> Layout<N> {
        let offsets = std::array::from_fn(|index| {
            // On the class, a member descriptor's `__get__` returns the descriptor itself.
            let descriptor = class.getattr(self.names[index].bind(class.py())).ok()?;
            // SAFETY: the object is checked to be a member descriptor before it is read as one; its
            // `d_member` lives as long as its class, which the layout keeps alive.
            unsafe {
                let object = descriptor.as_ptr();
                if ffi::Py_TYPE(object) != &raw mut ffi::PyMemberDescr_Type {
                    return None;
                }
                let member = object.cast::<ffi::PyMemberDescrObject>();
                let definition = &*(*member).d_member;
                let declared_by = (*member).d_common.d_type;
                let inherited = ffi::PyType_IsSubtype(class.as_type_ptr(), declared_by) != 0;
                (definition.type_code == ffi::Py_T_OBJECT_EX && inherited)
                    .then_some(definition.offset)
            }
        });
        Layout {
            class: class.clone().unbind(),
            offsets,
        }
    }

    /// The classes kept, for a garbage collector's traverse.
    pub(crate) fn classes(&self) -> impl Iterator<Item = &Py<PyType>> {
        self.kept
            .iter()
            .filter_map(OnceLock::get)
            .map(|layout| &layout.class)
    }
}
