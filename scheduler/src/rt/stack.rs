//! The calling thread's stack: how much it has left, and touching it so
//! its pages exist before the data path needs them.

/// Stack kept untouched below a pre-fault, for the calls that follow it.
pub(super) const STACK_SPARE: usize = 64 * 1024;

/// Bytes of stack the calling thread has below this frame (None: unknown).
pub(super) fn stack_left() -> Option<usize> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread
    // when it returns 0; it is destroyed below exactly once.
    if unsafe { libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) } != 0 {
        return None;
    }
    let mut low: *mut libc::c_void = std::ptr::null_mut();
    let mut size: libc::size_t = 0;
    // SAFETY: `attr` was initialised above; `low` and `size` are writable.
    let r = unsafe { libc::pthread_attr_getstack(attr.as_ptr(), &mut low, &mut size) };
    // SAFETY: initialised above and not used after this.
    unsafe { libc::pthread_attr_destroy(attr.as_mut_ptr()) };
    if r != 0 {
        return None;
    }
    // The stack grows down from low + size; a local is where it is now.
    let here = std::ptr::addr_of!(size) as usize;
    here.checked_sub(low as usize)
}

/// Touch `bytes` of stack below the caller, a chunk per frame, so the
/// pages exist (and, with MCL_FUTURE, stay resident) before the data path
/// needs them.
#[inline(never)]
pub(super) fn prefault_stack(bytes: usize) {
    const CHUNK: usize = 16 * 1024;
    // Written in place and only borrowed, so a frame holds one chunk (a
    // copy by value would take two or three in a debug build).
    let mut chunk = [0u8; CHUNK];
    std::hint::black_box(&mut chunk);
    if bytes > CHUNK {
        prefault_stack(bytes - CHUNK);
    }
    // Used after the call, so the frame (and its chunk) can't be elided
    // or the recursion turned into a loop.
    std::hint::black_box(&chunk);
}
