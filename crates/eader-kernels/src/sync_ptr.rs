//! Shared mutable access to disjoint parts of one output buffer from rayon
//! tasks, when the parts are not contiguous chunks (e.g. all planes of one
//! channel in an `(N, C, H, W)` tensor).

/// A raw pointer to a buffer that tasks write at disjoint ranges.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: the pointer is only dereferenced through `slice`, whose callers
// promise that concurrent ranges are disjoint.
unsafe impl<T: Send> Send for SyncPtr<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    /// Wraps `buf`; the buffer must outlive every use of the pointer.
    pub(crate) fn new(buf: &mut [T]) -> Self {
        SyncPtr {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }

    /// The sub-slice `range`.
    ///
    /// # Safety
    /// No other live slice obtained from this pointer may overlap `range`, and
    /// the wrapped buffer must still be alive and not otherwise borrowed.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [T] {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "SyncPtr: range out of bounds"
        );
        // SAFETY: in bounds (checked above); disjointness is the caller's promise.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.end - range.start)
        }
    }
}
