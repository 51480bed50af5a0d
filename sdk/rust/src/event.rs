//! Events (ABI v2, `emit_event`): a type and ordered attributes.

use crate::sys;
use std::vec::Vec;

/// An event being built; [`Event::emit`] appends it to the call's events.
///
/// The attributes travel as `u32 key_len, key, u32 value_len, value`
/// (little-endian), in the order they were added.
///
/// ```ignore
/// Event::new("transfer").attr("from", &from).attr("to", &to).attr("amount", "5").emit();
/// ```
pub struct Event<'a> {
    kind: &'a str,
    attrs: Vec<u8>,
}

impl<'a> Event<'a> {
    pub fn new(kind: &'a str) -> Self {
        Event { kind, attrs: Vec::new() }
    }

    /// Adds an attribute (keys and values are bytes; text is the usual choice).
    pub fn attr(mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        for part in [key.as_ref(), value.as_ref()] {
            self.attrs.extend_from_slice(&(part.len() as u32).to_le_bytes());
            self.attrs.extend_from_slice(part);
        }
        self
    }

    /// Appends the event to the call's events (kept only if the call ends ok).
    pub fn emit(self) {
        unsafe { sys::emit_event(self.kind.as_ptr(), self.kind.len(), self.attrs.as_ptr(), self.attrs.len()) }
    }
}
