//! Batch output blocks that stay faulted in (issue 2: page faults on fresh batch outputs).
//!
//! A fresh output of a few hundred KiB is served by glibc with mmap, so each batch paid one page
//! fault per 4 KiB on first touch. Here outputs of 64 KiB to 16 MiB come from a process-wide
//! free list of size-classed blocks; each block is lent to exactly one external
//! ArrayBuffer and comes back when V8 collects it (node runs the finalizer on the creating env's
//! thread, so no view of it is alive then). The list is a Mutex because the module is loaded in
//! every worker thread and finalizers run on each env's own thread; blocks are plain memory and
//! never touch a JS value of another env.
//!
//! Blocks lent for openBatch outputs hold plaintext, so they are wiped (OPENSSL_cleanse) when they
//! come back, before they rest on the free list (issue 8 item 4); seal outputs hold ciphertext only
//! and are not. A new ArrayBuffer never shows an earlier batch anyway: the TS side hands out
//! exactly the requested length and every byte of it is written by the batch.

use core::ffi::c_void;
use std::alloc::{alloc, dealloc, Layout};
use std::sync::Mutex;

use crate::error::JsError;
use crate::napi::{self, Env, Value};

/// Smallest pooled block (64 KiB); smaller outputs stay on JS allocation (measured crossover).
pub const MIN_BLOCK_SHIFT: u32 = 16;
/// Largest pooled block (16 MiB, a quarter of the cap): bigger outputs stay on JS allocation.
pub const MAX_BLOCK_SHIFT: u32 = 24;
/// Four classes per power of two (2^k × 1, 1.25, 1.5, 1.75): a block wastes under 25 % of
/// itself, where plain powers of two would waste up to half (a 1024 × 256 B seal output is
/// 272 KiB: a 320 KiB block, not 512 KiB), so more blocks fit under the cap.
const STEPS: u32 = 4;
const CLASSES: usize = ((MAX_BLOCK_SHIFT - MIN_BLOCK_SHIFT) * STEPS + 1) as usize;
/// Bytes the pool may hold at once, lent out or cached. When it is reached, outputs fall back to
/// JS allocation: a loop that never yields to the event loop gets no block back (node runs the
/// finalizers from the event loop), and it must not grow native memory without bound.
const POOL_CAP: usize = 64 << 20;
/// Page alignment: blocks are whole pages, so a reused block never shares a page with anything.
const ALIGN: usize = 4096;

/// Raw blocks on the free list (owned by the list while there) and the pool's byte counts.
struct FreeList {
    classes: [Vec<*mut u8>; CLASSES],
    /// Bytes of blocks on the lists.
    cached: usize,
    /// Bytes of blocks lent to live ArrayBuffers.
    lent: usize,
}

// SAFETY: the pointers are plain heap blocks owned by the list; moving them between threads is
// what the Mutex is for.
unsafe impl Send for FreeList {}

static FREE: Mutex<FreeList> =
    Mutex::new(FreeList { classes: [const { Vec::new() }; CLASSES], cached: 0, lent: 0 });

/// The smallest class whose blocks hold `size` bytes.
fn class_of(size: usize) -> Option<usize> {
    if size < 1 << MIN_BLOCK_SHIFT || size > 1 << MAX_BLOCK_SHIFT {
        return None;
    }
    let shift = usize::BITS - 1 - size.leading_zeros(); // floor(log2(size)) ≥ MIN_BLOCK_SHIFT
    let step = 1usize << (shift - 2);
    let q = (size - (1usize << shift)).div_ceil(step) as u32; // 0..=STEPS
    Some(((shift - MIN_BLOCK_SHIFT) * STEPS + q) as usize)
}

fn block_size(class: usize) -> usize {
    let (shift, q) = (class as u32 / STEPS + MIN_BLOCK_SHIFT, class as u32 % STEPS);
    (1usize << shift) + (q as usize) * (1usize << (shift - 2))
}

fn layout(class: usize) -> Layout {
    // SAFETY: ALIGN is a power of two, and the size (a multiple of 16 KiB, so of ALIGN, at most
    // 2^MAX_BLOCK_SHIFT) rounded up to it is far below isize::MAX.
    unsafe { Layout::from_size_align_unchecked(block_size(class), ALIGN) }
}

fn lock() -> std::sync::MutexGuard<'static, FreeList> {
    // A poisoned lock only means a panic elsewhere (which aborts in release); the counts are
    // updated before anything can panic, so the list is still consistent.
    FREE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A block of class `class`: a recycled one (already faulted in), else a new one while the pool
/// is under its cap (cached blocks of other classes are freed to make room), else None.
fn take(class: usize) -> Result<Option<*mut u8>, JsError> {
    let size = block_size(class);
    let mut evicted: Vec<(*mut u8, usize)> = Vec::new();
    let fresh = {
        let mut list = lock();
        if let Some(b) = list.classes[class].pop() {
            list.cached -= size;
            list.lent += size;
            return Ok(Some(b));
        }
        let mut c = 0;
        while list.cached + list.lent + size > POOL_CAP && list.cached > 0 && c < CLASSES {
            match list.classes[c].pop() {
                Some(b) => {
                    list.cached -= block_size(c);
                    evicted.push((b, c));
                }
                None => c += 1,
            }
        }
        let fits = list.cached + list.lent + size <= POOL_CAP;
        if fits {
            list.lent += size; // reserved now, so concurrent callers respect the cap
        }
        fits
    };
    for (b, c) in evicted {
        // SAFETY: taken off the list, allocated by `take` with this class's layout.
        unsafe { dealloc(b, layout(c)) };
    }
    if !fresh {
        return Ok(None);
    }
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { alloc(layout(class)) };
    if p.is_null() {
        lock().lent -= size;
        return Err(JsError::backend(format!("cannot allocate a {size} byte output block")));
    }
    Ok(Some(p))
}

/// Returns a lent block to its list, wiped first when it held plaintext. The pool's footprint is
/// unchanged, so it stays under the cap.
fn give_back(block: *mut u8, class: usize, wipe: bool) {
    let size = block_size(class);
    if wipe {
        // SAFETY: the block is `size` bytes we own again (no JS view of it remains).
        unsafe { crate::evp::OPENSSL_cleanse(block.cast(), size) };
    }
    let mut list = lock();
    list.lent -= size;
    list.cached += size;
    list.classes[class].push(block);
}

/// Runs on the creating env's thread once V8 collected the ArrayBuffer (or the env is torn down,
/// in which case node detaches it first): no JS view of the block remains.
/// The finalizer's hint: which block, whether to wipe it, and whether it was already reclaimed
/// because creating its ArrayBuffer failed (then the finalizer, if node still runs it, must not
/// give the block back a second time).
struct Lease {
    class: usize,
    wipe: bool,
    reclaimed: core::sync::atomic::AtomicBool,
}

unsafe extern "C" fn finalize_block(env: Env, data: *mut c_void, hint: *mut c_void) {
    if hint.is_null() {
        return;
    }
    // SAFETY: every hint is a Box<Lease> from alloc_output, consumed here once.
    let lease = Box::from_raw(hint.cast::<Lease>());
    if data.is_null() || lease.class >= CLASSES || lease.reclaimed.load(core::sync::atomic::Ordering::Acquire) {
        return;
    }
    give_back(data.cast(), lease.class, lease.wipe);
    napi::adjust_external_memory(env, -(block_size(lease.class) as i64));
}

/// Test switch (SEALKV_NATIVE_TEST_FAIL_OUTPUT_BLOCKS=1): every ArrayBuffer creation over a
/// block fails, to exercise the give-back of a block whose buffer was never created.
fn fail_for_tests() -> bool {
    static F: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *F.get_or_init(|| std::env::var_os("SEALKV_NATIVE_TEST_FAIL_OUTPUT_BLOCKS").is_some_and(|v| v == "1"))
}

/// An ArrayBuffer of exactly `size` bytes over a pooled block (contents unspecified), or None
/// when `size` is outside the pooled sizes or the pool is at its cap (the caller then allocates
/// in JS).
pub unsafe fn alloc_output(env: Env, size: usize, wipe: bool) -> Result<Option<Value>, JsError> {
    let Some(class) = class_of(size) else { return Ok(None) };
    let Some(block) = take(class)? else { return Ok(None) };
    // Accounted here, given back by the finalizer: V8 sees the whole block, not just `size`.
    let bytes = block_size(class) as i64;
    if let Err(e) = napi::adjust_external_memory_checked(env, bytes) {
        give_back(block, class, wipe);
        return Err(e);
    }
    let lease = Box::into_raw(Box::new(Lease { class, wipe, reclaimed: core::sync::atomic::AtomicBool::new(false) }));
    let made = if fail_for_tests() {
        Err(JsError::backend("napi_create_external_arraybuffer failed (SEALKV_NATIVE_TEST_FAIL_OUTPUT_BLOCKS)".into()))
    } else {
        napi::external_arraybuffer(env, block.cast(), size, finalize_block, lease.cast())
    };
    match made {
        Ok(ab) => Ok(Some(ab)),
        Err(e) => {
            // No ArrayBuffer exists, so no JS view of the block: take it back now (the lent count
            // must not leak). Node may still run the finalizer later; the flag makes it a no-op
            // for the block, and the small lease stays allocated because that finalizer may read it.
            (*lease).reclaimed.store(true, core::sync::atomic::Ordering::Release);
            give_back(block, class, wipe);
            napi::adjust_external_memory(env, -bytes);
            Err(e)
        }
    }
}

/// (cached bytes, lent bytes): for tests.
pub fn stats() -> (usize, usize) {
    let list = lock();
    (list.cached, list.lent)
}
