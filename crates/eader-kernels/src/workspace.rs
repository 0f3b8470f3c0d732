//! A process-wide pool of scratch buffers, so that kernels allocate their
//! im2col columns and partial sums once and reuse them on every call.
//!
//! [`take`] hands out a buffer of at least the requested length (growing a
//! pooled one if needed); dropping the guard returns it to the pool. The pool
//! keeps as many buffers as were ever in use at the same time (one or two per
//! worker thread), so memory stays bounded by the largest call.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use crate::element::Float;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A scratch buffer of `T` borrowed from the pool.
pub(crate) struct Scratch<T: Float> {
    bytes: Vec<u8>,
    len: usize,
    _marker: std::marker::PhantomData<T>,
}

/// Borrows a buffer of `len` elements. Its content is unspecified (a previous
/// call's data or zeros): callers overwrite what they read.
pub(crate) fn take<T: Float>(len: usize) -> Scratch<T> {
    // Over-allocate by one element so the buffer can be aligned for `T`.
    let need = (len + 1) * std::mem::size_of::<T>();
    let mut bytes = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        // The smallest pooled buffer that fits, else the largest one (grown below).
        let fit = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() >= need)
            .min_by_key(|(_, b)| b.len())
            .map(|(i, _)| i);
        let pick = fit.or_else(|| {
            pool.iter()
                .enumerate()
                .max_by_key(|(_, b)| b.len())
                .map(|(i, _)| i)
        });
        pick.map(|i| pool.swap_remove(i)).unwrap_or_default()
    };
    if bytes.len() < need {
        bytes = vec![0u8; need];
    }
    Scratch {
        bytes,
        len,
        _marker: std::marker::PhantomData,
    }
}

impl<T: Float> Scratch<T> {
    fn offset(&self) -> usize {
        self.bytes.as_ptr().align_offset(std::mem::align_of::<T>())
    }
}

impl<T: Float> Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        let off = self.offset();
        // SAFETY: `bytes` holds at least `(len + 1) * size_of::<T>()` initialised
        // bytes, `off < align_of::<T>() <= size_of::<T>()`, and every bit pattern
        // is a valid `f32`/`f64`.
        unsafe { std::slice::from_raw_parts(self.bytes.as_ptr().add(off) as *const T, self.len) }
    }
}

impl<T: Float> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        let off = self.offset();
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe {
            std::slice::from_raw_parts_mut(self.bytes.as_mut_ptr().add(off) as *mut T, self.len)
        }
    }
}

impl<T: Float> Drop for Scratch<T> {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.push(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_sized_and_reused() {
        let ptr = {
            let mut a = take::<f64>(1000);
            assert_eq!(a.len(), 1000);
            assert_eq!(a.as_ptr() as usize % std::mem::align_of::<f64>(), 0);
            a[999] = 3.0;
            a.as_ptr() as usize
        };
        // Two buffers at once are distinct.
        let mut b = take::<f32>(10);
        let mut c = take::<f32>(10);
        b[0] = 1.0;
        c[0] = 2.0;
        assert_eq!(b[0], 1.0);
        assert_ne!(b.as_ptr(), c.as_ptr());
        drop((b, c));
        // A smaller request reuses a pooled buffer instead of allocating.
        let d = take::<f64>(500);
        let pooled = POOL.lock().map(|p| p.len()).unwrap_or(0);
        assert!(pooled >= 1 || d.as_ptr() as usize == ptr);
    }
}
