//! The contract's allocator: a bump allocator over fresh memory pages.
//!
//! Why bump: every call runs in a fresh instance that is thrown away when
//! the call ends, so memory never needs to be given back to anyone. Handing
//! out memory by moving a pointer is the smallest and cheapest allocator
//! there is (a few dozen instructions against a general allocator's few
//! kilobytes). Two refinements keep short-lived buffers cheap: freeing the
//! most recent block moves the pointer back, and growing the most recent
//! block extends it in place (a `Vec` being pushed to).
//!
//! The heap starts at `__heap_base` (the linker's end of data and stack),
//! uses what is left of the module's initial memory, then grows it with
//! `memory.grow` (each page granted costs gas); a call that needs more than
//! the pool's memory limit (docs/abi.md, "Limits") fails like any allocation
//! failure: it aborts, and the call ends with status `trap`.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::Cell;

const PAGE: usize = 65536;

extern "C" {
    /// Where the linker put the end of static data and the stack.
    static __heap_base: u8;
}

/// The bump allocator; installed as the global allocator by this crate.
pub struct Bump {
    top: Cell<usize>,
    end: Cell<usize>,
    last: Cell<usize>,
}

// A wasm32-unknown-unknown contract has exactly one thread.
unsafe impl Sync for Bump {}

impl Bump {
    pub const fn new() -> Self {
        Bump { top: Cell::new(0), end: Cell::new(0), last: Cell::new(0) }
    }

    /// Make `[top, top + size)` part of memory; false when memory cannot grow.
    fn reserve(&self, size: usize) -> bool {
        if self.end.get() == 0 {
            // SAFETY: only the symbol's address is taken, never its value.
            self.top.set(unsafe { &__heap_base as *const u8 as usize });
            self.end.set(wasm32::memory_size(0) * PAGE);
        }
        let wanted = match self.top.get().checked_add(size) {
            Some(wanted) => wanted,
            None => return false,
        };
        if wanted > self.end.get() {
            let pages = (wanted - self.end.get() + PAGE - 1) / PAGE;
            if wasm32::memory_grow(0, pages) == usize::MAX {
                return false;
            }
            self.end.set(self.end.get() + pages * PAGE);
        }
        true
    }
}

impl Default for Bump {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.reserve(layout.size() + layout.align()) {
            return core::ptr::null_mut();
        }
        let start = (self.top.get() + layout.align() - 1) & !(layout.align() - 1);
        self.top.set(start + layout.size());
        self.last.set(start);
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let ptr = ptr as usize;
        if ptr == self.last.get() && ptr + layout.size() == self.top.get() {
            self.top.set(ptr);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start == self.last.get() && start + layout.size() == self.top.get() {
            self.top.set(start);
            if self.reserve(new_size) {
                self.top.set(start + new_size);
                return ptr;
            }
            self.top.set(start + layout.size());
            return core::ptr::null_mut();
        }
        let fresh = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        if !fresh.is_null() {
            core::ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
        }
        fresh
    }
}
