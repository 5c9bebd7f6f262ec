//! Node-API, declared by hand (zero crates). The symbols are exported by the node executable
//! and bound when node dlopens this library. Only what sealkv uses is declared.
//!
//! Every call's status is checked by the helpers below; a failure becomes a `JsError`, which the
//! export layer turns into a thrown JS exception.

use core::ffi::{c_char, c_void, CStr};
use std::ffi::CString;

use crate::error::JsError;

pub type Env = *mut c_void;
pub type Value = *mut c_void;
pub type CallbackInfo = *mut c_void;
pub type Status = i32;
pub type Callback = unsafe extern "C" fn(Env, CallbackInfo) -> Value;
pub type Finalize = unsafe extern "C" fn(Env, *mut c_void, *mut c_void);

pub const NAPI_OK: Status = 0;
/// The Node-API version this module needs (type tags and external memory accounting: 8).
pub const NAPI_VERSION: i32 = 8;

// napi_typedarray_type
pub const UINT8_ARRAY: i32 = 1;
pub const UINT32_ARRAY: i32 = 6;

#[repr(C)]
pub struct TypeTag {
    pub lower: u64,
    pub upper: u64,
}

extern "C" {
    fn napi_create_function(
        env: Env,
        name: *const c_char,
        length: usize,
        cb: Option<Callback>,
        data: *mut c_void,
        result: *mut Value,
    ) -> Status;
    fn napi_set_named_property(env: Env, object: Value, name: *const c_char, value: Value) -> Status;
    fn napi_get_cb_info(
        env: Env,
        info: CallbackInfo,
        argc: *mut usize,
        argv: *mut Value,
        this_arg: *mut Value,
        data: *mut *mut c_void,
    ) -> Status;
    fn napi_get_typedarray_info(
        env: Env,
        typedarray: Value,
        kind: *mut i32,
        length: *mut usize,
        data: *mut *mut c_void,
        arraybuffer: *mut Value,
        byte_offset: *mut usize,
    ) -> Status;
    fn napi_create_external(
        env: Env,
        data: *mut c_void,
        finalize: Option<Finalize>,
        hint: *mut c_void,
        result: *mut Value,
    ) -> Status;
    fn napi_get_value_external(env: Env, value: Value, result: *mut *mut c_void) -> Status;
    fn napi_type_tag_object(env: Env, value: Value, tag: *const TypeTag) -> Status;
    fn napi_check_object_type_tag(env: Env, value: Value, tag: *const TypeTag, result: *mut bool) -> Status;
    fn napi_adjust_external_memory(env: Env, change: i64, result: *mut i64) -> Status;
    fn napi_create_external_arraybuffer(
        env: Env,
        data: *mut c_void,
        byte_length: usize,
        finalize: Option<Finalize>,
        hint: *mut c_void,
        result: *mut Value,
    ) -> Status;
    fn napi_throw_error(env: Env, code: *const c_char, msg: *const c_char) -> Status;
    fn napi_is_exception_pending(env: Env, result: *mut bool) -> Status;
    fn napi_get_undefined(env: Env, result: *mut Value) -> Status;
    fn napi_create_object(env: Env, result: *mut Value) -> Status;
    fn napi_get_boolean(env: Env, value: bool, result: *mut Value) -> Status;
    fn napi_create_int32(env: Env, value: i32, result: *mut Value) -> Status;
    fn napi_create_double(env: Env, value: f64, result: *mut Value) -> Status;
    fn napi_get_value_uint32(env: Env, value: Value, result: *mut u32) -> Status;
    fn napi_get_value_double(env: Env, value: Value, result: *mut f64) -> Status;
    fn napi_create_string_utf8(env: Env, s: *const c_char, len: usize, result: *mut Value) -> Status;
    fn napi_create_array(env: Env, result: *mut Value) -> Status;
    fn napi_get_value_bool(env: Env, value: Value, result: *mut bool) -> Status;
    fn napi_set_element(env: Env, object: Value, index: u32, value: Value) -> Status;
}

pub unsafe fn string(env: Env, s: &str) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_create_string_utf8(env, s.as_ptr().cast(), s.len(), &mut out), "napi_create_string_utf8")?;
    Ok(out)
}

pub unsafe fn get_bool(env: Env, value: Value, what: &str) -> Result<bool, JsError> {
    let mut out = false;
    if napi_get_value_bool(env, value, &mut out) != NAPI_OK {
        return Err(JsError::backend(format!("{what} must be a boolean")));
    }
    Ok(out)
}

pub unsafe fn array(env: Env) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_create_array(env, &mut out), "napi_create_array")?;
    Ok(out)
}

pub unsafe fn set_element(env: Env, arr: Value, i: u32, v: Value) -> Result<(), JsError> {
    check(napi_set_element(env, arr, i, v), "napi_set_element")
}

fn check(status: Status, what: &'static str) -> Result<(), JsError> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(JsError::backend(format!("Node-API {what} failed with status {status}")))
    }
}

/// A typed array's memory as raw parts. Raw pointers, not slices: JS may hand us views that
/// alias each other (same ArrayBuffer), which Rust references must never do.
#[derive(Clone, Copy)]
pub struct RawBytes {
    pub ptr: *mut u8,
    /// Length in bytes.
    pub len: usize,
}

/// Reads the call's arguments; fewer than N arguments is an error (never read an undefined slot
/// as a buffer).
pub unsafe fn args<const N: usize>(env: Env, info: CallbackInfo) -> Result<[Value; N], JsError> {
    let mut argv: [Value; N] = [core::ptr::null_mut(); N];
    let mut argc = N;
    check(
        napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), core::ptr::null_mut(), core::ptr::null_mut()),
        "napi_get_cb_info",
    )?;
    if argc < N {
        return Err(JsError::backend(format!("expected {N} arguments, got {argc}")));
    }
    Ok(argv)
}

unsafe fn typed_array(env: Env, value: Value, want: i32, elem: usize, what: &str) -> Result<RawBytes, JsError> {
    let mut kind = -1i32;
    let mut length = 0usize;
    let mut data: *mut c_void = core::ptr::null_mut();
    let status = napi_get_typedarray_info(
        env,
        value,
        &mut kind,
        &mut length,
        &mut data,
        core::ptr::null_mut(),
        core::ptr::null_mut(),
    );
    if status != NAPI_OK || kind != want {
        let name = if want == UINT8_ARRAY { "Uint8Array" } else { "Uint32Array" };
        return Err(JsError::backend(format!("{what} must be a {name}")));
    }
    let len = length
        .checked_mul(elem)
        .ok_or_else(|| JsError::backend(format!("{what} is too large")))?;
    if data.is_null() && len != 0 {
        return Err(JsError::backend(format!("{what} has no backing store")));
    }
    Ok(RawBytes { ptr: data.cast(), len })
}

pub unsafe fn u8_array(env: Env, value: Value, what: &str) -> Result<RawBytes, JsError> {
    typed_array(env, value, UINT8_ARRAY, 1, what)
}

/// Returns the array's memory; `len` is in bytes (4 per element).
pub unsafe fn u32_array(env: Env, value: Value, what: &str) -> Result<RawBytes, JsError> {
    typed_array(env, value, UINT32_ARRAY, 4, what)
}

pub unsafe fn get_u32(env: Env, value: Value, what: &str) -> Result<u32, JsError> {
    let mut out = 0u32;
    if napi_get_value_uint32(env, value, &mut out) != NAPI_OK {
        return Err(JsError::backend(format!("{what} must be a number")));
    }
    Ok(out)
}

pub unsafe fn get_f64(env: Env, value: Value, what: &str) -> Result<f64, JsError> {
    let mut out = 0f64;
    if napi_get_value_double(env, value, &mut out) != NAPI_OK {
        return Err(JsError::backend(format!("{what} must be a number")));
    }
    Ok(out)
}

pub unsafe fn int32(env: Env, v: i32) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_create_int32(env, v, &mut out), "napi_create_int32")?;
    Ok(out)
}

pub unsafe fn double(env: Env, v: f64) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_create_double(env, v, &mut out), "napi_create_double")?;
    Ok(out)
}

pub unsafe fn boolean(env: Env, v: bool) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_get_boolean(env, v, &mut out), "napi_get_boolean")?;
    Ok(out)
}

pub unsafe fn undefined(env: Env) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_get_undefined(env, &mut out), "napi_get_undefined")?;
    Ok(out)
}

pub unsafe fn object(env: Env) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(napi_create_object(env, &mut out), "napi_create_object")?;
    Ok(out)
}

pub unsafe fn set_named(env: Env, obj: Value, name: &CStr, value: Value) -> Result<(), JsError> {
    check(napi_set_named_property(env, obj, name.as_ptr(), value), "napi_set_named_property")
}

pub unsafe fn export_function(env: Env, exports: Value, name: &CStr, cb: Callback) -> Result<(), JsError> {
    let mut f = core::ptr::null_mut();
    check(
        napi_create_function(env, name.as_ptr(), name.to_bytes().len(), Some(cb), core::ptr::null_mut(), &mut f),
        "napi_create_function",
    )?;
    set_named(env, exports, name, f)
}

/// Wraps `data` in a tagged external; `finalize` runs when the external is collected.
/// Ownership of `data` always passes: if the external cannot be created, `finalize` runs now.
pub unsafe fn tagged_external(
    env: Env,
    data: *mut c_void,
    finalize: Finalize,
    tag: &TypeTag,
) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    if let Err(e) = check(
        napi_create_external(env, data, Some(finalize), core::ptr::null_mut(), &mut out),
        "napi_create_external",
    ) {
        finalize(env, data, core::ptr::null_mut());
        return Err(e);
    }
    // From here on the finalizer owns `data`; a failed tag leaves an external that no call accepts.
    check(napi_type_tag_object(env, out, tag), "napi_type_tag_object")?;
    Ok(out)
}

/// The external's data pointer, only when it carries `tag` (a foreign external is never
/// reinterpreted as ours).
pub unsafe fn tagged_external_data(env: Env, value: Value, tag: &TypeTag, what: &str) -> Result<*mut c_void, JsError> {
    let mut ok = false;
    if napi_check_object_type_tag(env, value, tag, &mut ok) != NAPI_OK || !ok {
        return Err(JsError::backend(format!("{what} is not a sealkv native key context")));
    }
    let mut data: *mut c_void = core::ptr::null_mut();
    check(napi_get_value_external(env, value, &mut data), "napi_get_value_external")?;
    if data.is_null() {
        return Err(JsError::backend(format!("{what} is empty")));
    }
    Ok(data)
}

/// Tells V8 about native memory held by JS-owned objects so GC pressure reflects it.
/// Best effort: accounting failure is not an error of the operation.
pub unsafe fn adjust_external_memory(env: Env, change: i64) {
    let mut total = 0i64;
    let _ = napi_adjust_external_memory(env, change, &mut total);
}

/// Like `adjust_external_memory`, for callers that can report the failure.
pub unsafe fn adjust_external_memory_checked(env: Env, change: i64) -> Result<(), JsError> {
    let mut total = 0i64;
    check(napi_adjust_external_memory(env, change, &mut total), "napi_adjust_external_memory")
}

/// An ArrayBuffer of `len` bytes over `data`; `finalize(env, data, hint)` runs once V8 collected
/// it. On failure it is unspecified whether `finalize` will still run, so the caller must treat
/// `data` as given away either way (never reuse or free it).
pub unsafe fn external_arraybuffer(
    env: Env,
    data: *mut c_void,
    len: usize,
    finalize: Finalize,
    hint: *mut c_void,
) -> Result<Value, JsError> {
    let mut out = core::ptr::null_mut();
    check(
        napi_create_external_arraybuffer(env, data, len, Some(finalize), hint, &mut out),
        "napi_create_external_arraybuffer",
    )?;
    Ok(out)
}

/// Throws `err` as a JS Error with `code` set. Never throws over a pending exception.
pub unsafe fn throw(env: Env, err: &JsError) {
    let mut pending = false;
    if napi_is_exception_pending(env, &mut pending) == NAPI_OK && pending {
        return;
    }
    // Messages are built by this crate and never contain NUL; fall back to a fixed text if one did.
    let msg = CString::new(err.message.as_str()).unwrap_or_else(|_| CString::from(c"native error"));
    let _ = napi_throw_error(env, err.code.as_ptr(), msg.as_ptr());
}
