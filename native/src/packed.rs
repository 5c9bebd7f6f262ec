//! The packed batch (src/crypto/aead.ts): DESC_FIELDS u32 per item giving offsets into the
//! contiguous buffers. Every offset and length is bounds-checked here before any byte is read or
//! written; JS-side checks are never relied on.
//!
//! Two passes: the first validates every item so a bad descriptor throws before anything is
//! written; the second re-reads and re-checks each item as it processes it, because the
//! descriptor memory may alias an output buffer (or be shared with another thread) and so could
//! have changed since the first pass.

use crate::context::{KeyContext, MAX_LEN, NONCE_SIZE, TAG_SIZE};
use crate::error::JsError;
use crate::napi::RawBytes;

pub const DESC_FIELDS: usize = 6;
const D_NONCE: usize = 0;
const D_AAD: usize = 1;
const D_AAD_LEN: usize = 2;
const D_DATA: usize = 3;
const D_DATA_LEN: usize = 4;
const D_OUT: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Seal,
    Open,
}

/// Byte ranges of one item, already checked against their buffers.
struct Item {
    nonce: usize,
    aad: usize,
    aad_len: usize,
    data: usize,
    data_len: usize,
    out: usize,
    out_len: usize,
    /// Open only: sealed data shorter than a tag, which cannot authenticate (status 0, no output).
    short: bool,
}

pub struct Buffers {
    /// Holds nonces and AAD (and, for open, ciphertext ‖ tag).
    pub input: RawBytes,
    /// Holds the seal plaintexts; may be `input` or `output` (in place).
    pub data: RawBytes,
    pub desc: RawBytes,
    pub output: RawBytes,
}

/// Builds the out-of-bounds error; kept out of line so the hot checks stay a few compares.
#[cold]
#[inline(never)]
fn out_of_bounds(i: usize, what: &str, off: u64, len: u64, buf_len: usize, buf: &str) -> JsError {
    JsError::backend(format!("batch item {i}: {what} [{off}, +{len}) is outside {buf} (length {buf_len})"))
}

/// `off + len <= buf_len`, computed in u64: both come from u32 fields, so the sum cannot overflow.
#[inline(always)]
fn range(i: usize, what: &str, off: u64, len: u64, buf_len: usize, buf: &str) -> Result<(), JsError> {
    if off + len <= buf_len as u64 {
        Ok(())
    } else {
        Err(out_of_bounds(i, what, off, len, buf_len, buf))
    }
}

/// Checks that the descriptor holds `count` items.
pub fn check_count(desc: RawBytes, count: usize) -> Result<(), JsError> {
    let need = count.checked_mul(DESC_FIELDS * 4);
    match need {
        Some(n) if n <= desc.len => Ok(()),
        _ => Err(JsError::backend(format!(
            "desc holds {} items, batch count is {count}",
            desc.len / (DESC_FIELDS * 4)
        ))),
    }
}

/// Reads and checks item `i`. Caller has run `check_count`, so the descriptor read is in bounds.
#[inline(always)]
unsafe fn item(b: &Buffers, mode: Mode, i: usize) -> Result<Item, JsError> {
    let base = b.desc.ptr.cast::<u32>().add(i * DESC_FIELDS);
    // read_unaligned: a Uint32Array is 4-aligned in practice, but nothing here depends on it.
    let f = |k: usize| u64::from(base.add(k).read_unaligned());
    let (nonce, aad, aad_len, data, data_len, out) =
        (f(D_NONCE), f(D_AAD), f(D_AAD_LEN), f(D_DATA), f(D_DATA_LEN), f(D_OUT));
    range(i, "nonce", nonce, NONCE_SIZE as u64, b.input.len, "input")?;
    range(i, "aad", aad, aad_len, b.input.len, "input")?;
    let out_len = match mode {
        Mode::Seal => {
            range(i, "data", data, data_len, b.data.len, "data")?;
            data_len + TAG_SIZE as u64
        }
        Mode::Open => {
            range(i, "data", data, data_len, b.input.len, "input")?;
            // Same rule as every other backend (src/crypto/batch.ts): a sealed item shorter than
            // a tag has an empty output slot and fails authentication.
            data_len.saturating_sub(TAG_SIZE as u64)
        }
    };
    range(i, "output", out, out_len, b.output.len, "output")?;
    if data_len > MAX_LEN as u64 || aad_len > MAX_LEN as u64 {
        return Err(out_of_bounds(i, "length", 0, data_len.max(aad_len), MAX_LEN, "the EVP limit"));
    }
    // All values are now bounded by buffer lengths, so they fit in usize.
    let short = mode == Mode::Open && data_len < TAG_SIZE as u64;
    Ok(Item {
        nonce: nonce as usize,
        aad: aad as usize,
        aad_len: aad_len as usize,
        data: data as usize,
        data_len: data_len as usize,
        out: out as usize,
        out_len: out_len as usize,
        short,
    })
}

unsafe fn validate_all(b: &Buffers, mode: Mode, count: usize) -> Result<(), JsError> {
    check_count(b.desc, count)?;
    for i in 0..count {
        item(b, mode, i)?;
    }
    Ok(())
}

/// Seals every item into `output`. Errors (bad descriptor, EVP failure) abort the batch.
pub unsafe fn seal_all(ctx: &mut KeyContext, b: &Buffers, count: usize) -> Result<(), JsError> {
    validate_all(b, Mode::Seal, count)?;
    for i in 0..count {
        let it = item(b, Mode::Seal, i)?;
        ctx.seal(
            b.input.ptr.add(it.nonce),
            b.input.ptr.add(it.aad),
            it.aad_len,
            b.data.ptr.add(it.data),
            it.data_len,
            b.output.ptr.add(it.out),
        )
        .map_err(|e| JsError::backend(format!("batch item {i}: {}", e.message)))?;
    }
    Ok(())
}

/// Opens every item into `output`; `status[i]` = 1 when item i authenticated, else 0 with its
/// output bytes zeroed. Returns the number of items that failed authentication.
pub unsafe fn open_all(ctx: &mut KeyContext, b: &Buffers, count: usize, status: RawBytes) -> Result<usize, JsError> {
    if status.len < count {
        return Err(JsError::backend(format!("status holds {} bytes, batch count is {count}", status.len)));
    }
    validate_all(b, Mode::Open, count)?;
    let mut failed = 0usize;
    for i in 0..count {
        let it = item(b, Mode::Open, i)?;
        if it.short {
            *status.ptr.add(i) = 0;
            failed += 1;
            continue;
        }
        let ok = ctx
            .open(
                b.input.ptr.add(it.nonce),
                b.input.ptr.add(it.aad),
                it.aad_len,
                b.input.ptr.add(it.data),
                it.out_len,
                b.input.ptr.add(it.data + it.out_len),
                b.output.ptr.add(it.out),
            )
            .map_err(|e| JsError::backend(format!("batch item {i}: {}", e.message)))?;
        *status.ptr.add(i) = ok as u8;
        if !ok {
            failed += 1;
        }
    }
    Ok(failed)
}
