//! CPU-bound work (Argon2, SPAKE2, PSKC decryption) on a thread of the async runtime.

/// Runs `f` on this thread, first telling a multi-threaded tokio runtime to move its other tasks
/// to other threads (`tokio::task::block_in_place`), so one request's Argon2 does not stall the
/// rest. Elsewhere (a current-thread runtime, where that call would panic, or no runtime) it just
/// runs `f`. Handing the thread over costs a wake-up, so the verification path calls it around the
/// Argon2 calls themselves only (the card's static password checks).
pub(crate) fn in_place<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
