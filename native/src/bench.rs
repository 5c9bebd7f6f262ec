//! The reference the benchmarks compare against: OpenSSL's AES-256-GCM in a tight native loop
//! with one reused, keyed context — the textbook EVP calls, the parameter calls, or the direct
//! GCM128 calls (context.rs CallStyle), in the same OpenSSL, minus every JS and Node-API cost.
//! Batch throughput is reported as a share of these.

use std::time::Instant;

use crate::context::{KeyContext, CallStyle, NONCE_SIZE, TAG_SIZE};
use crate::error::JsError;

pub enum LoopMode {
    Seal,
    Open,
}

/// `style` picks the calls: `Textbook` is the textbook EVP loop (ctrl GET_TAG/SET_TAG),
/// `Params` the EVP parameter calls, `Direct` the GCM128 calls short messages use (an error
/// where the direct path is unavailable).
///
/// Runs `iterations` seals (or opens) of `size` bytes with `aad_len` bytes of AAD and returns the
/// elapsed wall time in nanoseconds. Buffers are allocated and the context keyed before timing.
pub unsafe fn evp_loop(
    key: *const u8,
    size: usize,
    aad_len: usize,
    iterations: u64,
    mode: LoopMode,
    style: CallStyle,
) -> Result<f64, JsError> {
    let mut ctx = KeyContext::new(key)?;
    let plain = vec![0x5au8; size];
    let aad = vec![0xa5u8; aad_len];
    let mut sealed = vec![0u8; size + TAG_SIZE];
    let mut opened = vec![0u8; size];
    let mut nonce = [0u8; NONCE_SIZE];
    ctx.seal(nonce.as_ptr(), aad.as_ptr(), aad_len, plain.as_ptr(), size, sealed.as_mut_ptr())?;
    let start = Instant::now();
    match mode {
        LoopMode::Seal => {
            for i in 0..iterations {
                // A fresh nonce per message, as in real use (the counter goes in the last 8 bytes).
                nonce[4..].copy_from_slice(&i.to_be_bytes());
                ctx.seal_with(style, nonce.as_ptr(), aad.as_ptr(), aad_len, plain.as_ptr(), size, sealed.as_mut_ptr())?;
            }
        }
        LoopMode::Open => {
            for _ in 0..iterations {
                let ok = ctx.open_with(
                    style,
                    nonce.as_ptr(),
                    aad.as_ptr(),
                    aad_len,
                    sealed.as_ptr(),
                    size,
                    sealed.as_ptr().add(size),
                    opened.as_mut_ptr(),
                )?;
                if !ok {
                    return Err(JsError::backend("evp loop: reference message failed to open".into()));
                }
            }
        }
    }
    let elapsed = start.elapsed();
    // The timed calls must have produced real ciphertext: the last message has to open.
    if let LoopMode::Seal = mode {
        let ok = ctx.open(nonce.as_ptr(), aad.as_ptr(), aad_len, sealed.as_ptr(), size, sealed.as_ptr().add(size), opened.as_mut_ptr())?;
        if !ok {
            return Err(JsError::backend("evp loop: the last sealed message failed to open".into()));
        }
    }
    // Keep the results observable so the loop cannot be optimised away.
    std::hint::black_box((&sealed, &opened));
    Ok(elapsed.as_nanos() as f64)
}
