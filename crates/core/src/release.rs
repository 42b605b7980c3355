//! Freeing unloaded model versions, and giving their memory back to the
//! operating system.

use crate::servable::Remains;

/// Frees a retired version (on the calling thread: call it from a blocking
/// thread) and then asks the allocator to return free memory to the system.
///
/// Without the trim, glibc keeps the pages a model used in its arenas: heap
/// profiles show nothing retained across load/unload cycles, yet RSS creeps
/// up until the arenas reach their high-water mark.
pub(crate) fn release(remains: Remains) {
    drop(remains);
    return_free_memory();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_free_memory() {
    // SAFETY: malloc_trim only walks and releases the allocator's own free
    // lists; it takes no pointers and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_free_memory() {}
