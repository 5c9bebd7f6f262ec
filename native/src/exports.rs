//! The JS-callable functions. Each is a thin `extern "C"` shim over a `Result` body: errors
//! become thrown JS exceptions (never a crash, never garbage). The TS wrapper
//! (src/crypto/backends/native.ts) is the only intended caller; the status values below are part
//! of the contract between the two.
//!
//! Key-context calls take the key as well as the context and confirm that the bytes still match
//! (cheap: 32 bytes); on a mismatch they return KEY_MISMATCH and touch nothing, and the wrapper
//! rebuilds the context. So a key buffer mutated in place can never be used with a stale context.

use core::ffi::{c_void, CStr};

use crate::bench::{evp_loop, LoopMode};
use crate::context::{KeyContext, CallStyle, APPROX_NATIVE_BYTES, KEY_SIZE, MAX_LEN, NONCE_SIZE, TAG_SIZE};
use crate::cpu::hardware_aes;
use crate::error::JsError;
use crate::napi::{self, CallbackInfo, Env, RawBytes, TypeTag, Value};
use crate::packed::{open_all, seal_all, Buffers};

/// Returned instead of doing anything when the key bytes differ from the context's key.
const KEY_MISMATCH: i32 = -1;

/// Marks externals created by this module, so a foreign external is never taken for a context.
static CONTEXT_TAG: TypeTag = TypeTag { lower: 0x5ea1_6b76_6e61_7469, upper: 0x7665_6165_6164_6b31 };

type Body = unsafe fn(Env, CallbackInfo) -> Result<Value, JsError>;

unsafe fn run(env: Env, info: CallbackInfo, body: Body) -> Value {
    match body(env, info) {
        Ok(v) => v,
        Err(e) => {
            napi::throw(env, &e);
            core::ptr::null_mut()
        }
    }
}

macro_rules! export {
    ($shim:ident, $body:ident) => {
        unsafe extern "C" fn $shim(env: Env, info: CallbackInfo) -> Value {
            run(env, info, $body)
        }
    };
}

unsafe extern "C" fn finalize_context(env: Env, data: *mut c_void, _hint: *mut c_void) {
    if !data.is_null() {
        // Dropping frees the EVP contexts and wipes the key copy.
        drop(Box::from_raw(data.cast::<KeyContext>()));
        napi::adjust_external_memory(env, -APPROX_NATIVE_BYTES);
    }
}

unsafe fn key_bytes(env: Env, v: Value) -> Result<RawBytes, JsError> {
    let key = napi::u8_array(env, v, "key")?;
    if key.len != KEY_SIZE {
        return Err(JsError::bad_key_size(key.len));
    }
    Ok(key)
}

unsafe fn nonce_bytes(env: Env, v: Value) -> Result<RawBytes, JsError> {
    let nonce = napi::u8_array(env, v, "nonce")?;
    if nonce.len != NONCE_SIZE {
        return Err(JsError {
            code: c"BAD_NONCE_SIZE",
            message: format!("AES-GCM nonce must be {NONCE_SIZE} bytes, got {}", nonce.len),
        });
    }
    Ok(nonce)
}

/// The context behind `ctx`, or None when `key` no longer matches it (or it was disposed).
unsafe fn context<'a>(env: Env, ctx: Value, key: Value) -> Result<Option<&'a mut KeyContext>, JsError> {
    let data = napi::tagged_external_data(env, ctx, &CONTEXT_TAG, "context")?;
    let key = key_bytes(env, key)?;
    // SAFETY: tagged externals of this module always point to a live Box<KeyContext>; JS is
    // single-threaded per env, so no other reference to it exists during this call.
    let c = &mut *data.cast::<KeyContext>();
    // A disposed context matches no key, so the caller builds a fresh one (KEY_MISMATCH).
    if !c.matches(key.ptr, key.len) {
        return Ok(None);
    }
    c.recheck_fips();
    Ok(Some(c))
}

unsafe fn hardware_aes_body(env: Env, _info: CallbackInfo) -> Result<Value, JsError> {
    napi::boolean(env, hardware_aes())
}

/// paramsCallsInUse() → whether the load-time check enabled the cheaper EVP parameter calls.
unsafe fn params_calls_body(env: Env, _info: CallbackInfo) -> Result<Value, JsError> {
    napi::boolean(env, crate::selftest::params_ok())
}

/// directCallsInUse() → whether the load-time check enabled the direct GCM128 path (gcm.rs)
/// for new contexts.
unsafe fn direct_calls_body(env: Env, _info: CallbackInfo) -> Result<Value, JsError> {
    napi::boolean(env, crate::selftest::direct_ok())
}

/// implementationInfo() → { fastPath, implementation, reason, openssl, verifiedOpenssl }
unsafe fn implementation_info_body(env: Env, _info: CallbackInfo) -> Result<Value, JsError> {
    let o = napi::object(env)?;
    let fast = crate::selftest::direct_ok();
    napi::set_named(env, o, c"fastPath", napi::boolean(env, fast)?)?;
    napi::set_named(env, o, c"implementation", napi::string(env, if fast { "direct+evp" } else { "evp" })?)?;
    napi::set_named(env, o, c"reason", napi::string(env, &crate::selftest::reason())?)?;
    let text = crate::version::text();
    // "OpenSSL 3.0.19 1 Jul 2025" → "3.0.19", the form of process.versions.openssl.
    let short = text.split_whitespace().nth(1).unwrap_or("").to_string();
    napi::set_named(env, o, c"openssl", napi::string(env, &short)?)?;
    let arr = napi::array(env)?;
    for (i, (_, v)) in crate::version::VERIFIED.iter().enumerate() {
        napi::set_element(env, arr, i as u32, napi::string(env, v)?)?;
    }
    napi::set_named(env, o, c"verifiedOpenssl", arr)?;
    Ok(o)
}

/// createContext(key) → external
unsafe fn create_context_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [key] = napi::args::<1>(env, info)?;
    let key = key_bytes(env, key)?;
    let ctx = KeyContext::new(key.ptr)?;
    // The finalizer gives back what we account here.
    napi::adjust_external_memory(env, APPROX_NATIVE_BYTES);
    napi::tagged_external(env, Box::into_raw(ctx).cast(), finalize_context, &CONTEXT_TAG)
}

/// disposeContext(ctx): frees the EVP contexts and wipes the key now rather than at GC.
unsafe fn dispose_context_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [ctx] = napi::args::<1>(env, info)?;
    let data = napi::tagged_external_data(env, ctx, &CONTEXT_TAG, "context")?;
    (*data.cast::<KeyContext>()).dispose();
    napi::undefined(env)
}

/// contextMatches(ctx, key) → boolean (false for a disposed context)
unsafe fn context_matches_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [ctx, key] = napi::args::<2>(env, info)?;
    let data = napi::tagged_external_data(env, ctx, &CONTEXT_TAG, "context")?;
    let key = napi::u8_array(env, key, "key")?;
    napi::boolean(env, (*data.cast::<KeyContext>()).matches(key.ptr, key.len))
}

/// seal(ctx, key, nonce, aad, plaintext, out) → 0 | KEY_MISMATCH; out = ciphertext ‖ tag
unsafe fn seal_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [ctx, key, nonce, aad, pt, out] = napi::args::<6>(env, info)?;
    let nonce = nonce_bytes(env, nonce)?;
    let aad = napi::u8_array(env, aad, "aad")?;
    let pt = napi::u8_array(env, pt, "plaintext")?;
    let out = napi::u8_array(env, out, "out")?;
    if pt.len > MAX_LEN || out.len < pt.len + TAG_SIZE {
        return Err(JsError::backend(format!("out must hold {} bytes, has {}", pt.len + TAG_SIZE, out.len)));
    }
    let Some(c) = context(env, ctx, key)? else { return napi::int32(env, KEY_MISMATCH) };
    c.seal(nonce.ptr, aad.ptr, aad.len, pt.ptr, pt.len, out.ptr)?;
    napi::int32(env, 0)
}

/// open(ctx, key, nonce, aad, sealed, out) → 0 (authentic) | 1 (authentication failed, out
/// zeroed) | KEY_MISMATCH
unsafe fn open_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [ctx, key, nonce, aad, sealed, out] = napi::args::<6>(env, info)?;
    let nonce = nonce_bytes(env, nonce)?;
    let aad = napi::u8_array(env, aad, "aad")?;
    let sealed = napi::u8_array(env, sealed, "sealed")?;
    let out = napi::u8_array(env, out, "out")?;
    if sealed.len < TAG_SIZE {
        return Err(JsError::backend(format!("sealed data of {} bytes is shorter than the tag", sealed.len)));
    }
    let ct_len = sealed.len - TAG_SIZE;
    if out.len < ct_len {
        return Err(JsError::backend(format!("out must hold {ct_len} bytes, has {}", out.len)));
    }
    let Some(c) = context(env, ctx, key)? else { return napi::int32(env, KEY_MISMATCH) };
    let ok = c.open(nonce.ptr, aad.ptr, aad.len, sealed.ptr, ct_len, sealed.ptr.add(ct_len), out.ptr)?;
    napi::int32(env, if ok { 0 } else { 1 })
}

/// sealPacked(ctx, key, input, data, desc, count, output) → 0 | KEY_MISMATCH.
/// Nonce and AAD offsets index `input`, data offsets index `data` (which may be `input`, or
/// `output` for sealing in place), result offsets index `output`.
unsafe fn seal_packed_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [ctx, key, input, data, desc, count, output] = napi::args::<7>(env, info)?;
    let b = Buffers {
        input: napi::u8_array(env, input, "input")?,
        data: napi::u8_array(env, data, "data")?,
        desc: napi::u32_array(env, desc, "desc")?,
        output: napi::u8_array(env, output, "output")?,
    };
    let count = napi::get_u32(env, count, "count")? as usize;
    let Some(c) = context(env, ctx, key)? else { return napi::int32(env, KEY_MISMATCH) };
    seal_all(c, &b, count)?;
    napi::int32(env, 0)
}

/// openPacked(ctx, key, input, desc, count, output, status) → number of items that failed
/// authentication | KEY_MISMATCH.
unsafe fn open_packed_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [ctx, key, input, desc, count, output, status] = napi::args::<7>(env, info)?;
    let input = napi::u8_array(env, input, "input")?;
    let b = Buffers {
        input,
        data: input,
        desc: napi::u32_array(env, desc, "desc")?,
        output: napi::u8_array(env, output, "output")?,
    };
    let status = napi::u8_array(env, status, "status")?;
    let count = napi::get_u32(env, count, "count")? as usize;
    let Some(c) = context(env, ctx, key)? else { return napi::int32(env, KEY_MISMATCH) };
    let failed = open_all(c, &b, count, status)?;
    // failed ≤ count ≤ u32::MAX elements of a byte array, far below i32::MAX in any real batch;
    // saturate rather than wrap if it ever were not.
    napi::int32(env, i32::try_from(failed).unwrap_or(i32::MAX))
}

/// evpLoop(key, size, aadLen, iterations, mode, tagVia) → elapsed ns; mode 0 = seal, 1 = open;
/// tagVia 0 = ctrl (textbook EVP loop), 1 = params (EVP parameter calls), 2 = direct (GCM128
/// calls; throws where unavailable).
unsafe fn evp_loop_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [key, size, aad_len, iterations, mode, tag_via] = napi::args::<6>(env, info)?;
    let key = key_bytes(env, key)?;
    let size = napi::get_u32(env, size, "size")? as usize;
    let aad_len = napi::get_u32(env, aad_len, "aadLen")? as usize;
    let iterations = napi::get_f64(env, iterations, "iterations")?;
    if !(1.0..=1e12).contains(&iterations) || size > MAX_LEN || aad_len > MAX_LEN {
        return Err(JsError::backend("evpLoop: iterations must be in [1, 1e12], sizes below 2 GiB".into()));
    }
    let mode = match napi::get_u32(env, mode, "mode")? {
        0 => LoopMode::Seal,
        1 => LoopMode::Open,
        m => return Err(JsError::backend(format!("evpLoop: unknown mode {m}"))),
    };
    let style = match napi::get_u32(env, tag_via, "tagVia")? {
        0 => CallStyle::Textbook,
        1 => CallStyle::Params,
        2 => CallStyle::Direct,
        t => return Err(JsError::backend(format!("evpLoop: unknown tagVia {t}"))),
    };
    let ns = evp_loop(key.ptr, size, aad_len, iterations as u64, mode, style)?;
    napi::double(env, ns)
}

/// allocOutput(size, wipeOnReturn) → ArrayBuffer of exactly `size` bytes over a recycled, already faulted-in
/// block (outbuf.rs), or undefined when `size` is outside the pooled sizes.
unsafe fn alloc_output_body(env: Env, info: CallbackInfo) -> Result<Value, JsError> {
    let [size, wipe] = napi::args::<2>(env, info)?;
    // Read as a double: napi_get_value_uint32 would wrap a size of 2^32 or more.
    let size = napi::get_f64(env, size, "size")?;
    // openBatch outputs hold plaintext: their block is wiped when it comes back.
    let wipe = napi::get_bool(env, wipe, "wipeOnReturn")?;
    if !(size >= 0.0 && size.fract() == 0.0) {
        return Err(JsError::backend(format!("allocOutput: size must be a non-negative integer, got {size}")));
    }
    // Saturating cast: anything beyond the pooled sizes gets undefined either way.
    match crate::outbuf::alloc_output(env, size as usize, wipe)? {
        Some(ab) => Ok(ab),
        None => napi::undefined(env),
    }
}

/// outputPoolStats() → { cachedBytes, lentBytes } of the output block pool (process-wide).
unsafe fn output_pool_stats_body(env: Env, _info: CallbackInfo) -> Result<Value, JsError> {
    let (cached, lent) = crate::outbuf::stats();
    let o = napi::object(env)?;
    // Both are at most the pool cap (64 MiB), exact in an f64.
    napi::set_named(env, o, c"cachedBytes", napi::double(env, cached as f64)?)?;
    napi::set_named(env, o, c"lentBytes", napi::double(env, lent as f64)?)?;
    Ok(o)
}

export!(hardware_aes_fn, hardware_aes_body);
export!(params_calls_fn, params_calls_body);
export!(direct_calls_fn, direct_calls_body);
export!(create_context_fn, create_context_body);
export!(dispose_context_fn, dispose_context_body);
export!(context_matches_fn, context_matches_body);
export!(seal_fn, seal_body);
export!(open_fn, open_body);
export!(seal_packed_fn, seal_packed_body);
export!(open_packed_fn, open_packed_body);
export!(evp_loop_fn, evp_loop_body);
export!(alloc_output_fn, alloc_output_body);
export!(output_pool_stats_fn, output_pool_stats_body);
export!(implementation_info_fn, implementation_info_body);

pub unsafe fn register(env: Env, exports: Value) -> Result<(), JsError> {
    let table: [(&CStr, napi::Callback); 14] = [
        (c"implementationInfo", implementation_info_fn),
        (c"hardwareAes", hardware_aes_fn),
        (c"paramsCallsInUse", params_calls_fn),
        (c"directCallsInUse", direct_calls_fn),
        (c"createContext", create_context_fn),
        (c"disposeContext", dispose_context_fn),
        (c"contextMatches", context_matches_fn),
        (c"seal", seal_fn),
        (c"open", open_fn),
        (c"sealPacked", seal_packed_fn),
        (c"openPacked", open_packed_fn),
        (c"evpLoop", evp_loop_fn),
        (c"allocOutput", alloc_output_fn),
        (c"outputPoolStats", output_pool_stats_fn),
    ];
    for (name, f) in table {
        napi::export_function(env, exports, name, f)?;
    }
    Ok(())
}
