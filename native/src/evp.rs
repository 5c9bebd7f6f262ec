//! OpenSSL EVP, declared by hand. The symbols come from the OpenSSL that the node executable
//! links statically and exports, so this library uses exactly the AES-GCM (AES-NI/VAES +
//! carry-less multiply) node itself uses, without linking a second libcrypto.

use core::ffi::{c_int, c_void};

#[repr(C)]
pub struct EvpCipherCtx {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct EvpCipher {
    _opaque: [u8; 0],
}

pub const EVP_CTRL_GCM_SET_IVLEN: c_int = 0x9;
pub const EVP_CTRL_GCM_GET_TAG: c_int = 0x10;
pub const EVP_CTRL_GCM_SET_TAG: c_int = 0x11;

extern "C" {
    pub fn EVP_aes_256_gcm() -> *const EvpCipher;
    pub fn EVP_CIPHER_CTX_new() -> *mut EvpCipherCtx;
    pub fn EVP_CIPHER_CTX_free(ctx: *mut EvpCipherCtx);
    pub fn EVP_CIPHER_CTX_ctrl(ctx: *mut EvpCipherCtx, kind: c_int, arg: c_int, ptr: *mut c_void) -> c_int;
    pub fn EVP_EncryptInit_ex(
        ctx: *mut EvpCipherCtx,
        cipher: *const EvpCipher,
        engine: *mut c_void,
        key: *const u8,
        iv: *const u8,
    ) -> c_int;
    pub fn EVP_EncryptUpdate(ctx: *mut EvpCipherCtx, out: *mut u8, outl: *mut c_int, input: *const u8, inl: c_int) -> c_int;
    pub fn EVP_EncryptFinal_ex(ctx: *mut EvpCipherCtx, out: *mut u8, outl: *mut c_int) -> c_int;
    pub fn EVP_DecryptInit_ex(
        ctx: *mut EvpCipherCtx,
        cipher: *const EvpCipher,
        engine: *mut c_void,
        key: *const u8,
        iv: *const u8,
    ) -> c_int;
    pub fn EVP_DecryptUpdate(ctx: *mut EvpCipherCtx, out: *mut u8, outl: *mut c_int, input: *const u8, inl: c_int) -> c_int;
    pub fn EVP_DecryptFinal_ex(ctx: *mut EvpCipherCtx, out: *mut u8, outl: *mut c_int) -> c_int;
    pub fn OPENSSL_cleanse(ptr: *mut c_void, len: usize);
    /// Failed EVP calls may leave entries in the thread's OpenSSL error queue; node's own crypto
    /// reads that queue, so we clear it after every failure we handle.
    pub fn ERR_clear_error();
}

/// OpenSSL 3 `OSSL_PARAM` (public, stable layout).
#[repr(C)]
pub struct OsslParam {
    pub key: *const core::ffi::c_char,
    pub data_type: u32,
    pub data: *mut c_void,
    pub data_size: usize,
    pub return_size: usize,
}

pub const OSSL_PARAM_OCTET_STRING: u32 = 5;
pub const OSSL_PARAM_UNMODIFIED: usize = usize::MAX;
/// OSSL_CIPHER_PARAM_AEAD_TAG
pub const OSSL_CIPHER_PARAM_AEAD_TAG: &core::ffi::CStr = c"tag";
/// OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED
pub const OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED: &core::ffi::CStr = c"tlsivfixed";

type GetParams = unsafe extern "C" fn(ctx: *mut EvpCipherCtx, params: *mut OsslParam) -> c_int;
type SetParams = unsafe extern "C" fn(ctx: *mut EvpCipherCtx, params: *const OsslParam) -> c_int;

/// OpenSSL 3's parameter calls, resolved with dlsym (absent before 3.0): missing ones make the
/// Params call style fail its self-test, so every context keeps the textbook calls.
fn params_fns() -> Option<(GetParams, SetParams)> {
    static F: std::sync::OnceLock<Option<(GetParams, SetParams)>> = std::sync::OnceLock::new();
    *F.get_or_init(|| {
        let g = crate::dl::find(c"EVP_CIPHER_CTX_get_params")?;
        let s = crate::dl::find(c"EVP_CIPHER_CTX_set_params")?;
        // SAFETY: the OpenSSL 3 signatures of these two functions.
        unsafe { Some((core::mem::transmute::<*mut c_void, GetParams>(g.as_ptr()), core::mem::transmute::<*mut c_void, SetParams>(s.as_ptr()))) }
    })
}

/// EVP_CIPHER_CTX_get_params, or 0 (failure) when this OpenSSL lacks it.
#[allow(non_snake_case)]
pub unsafe fn EVP_CIPHER_CTX_get_params(ctx: *mut EvpCipherCtx, params: *mut OsslParam) -> c_int {
    match params_fns() {
        Some((g, _)) => g(ctx, params),
        None => 0,
    }
}

/// EVP_CIPHER_CTX_set_params, or 0 (failure) when this OpenSSL lacks it.
#[allow(non_snake_case)]
pub unsafe fn EVP_CIPHER_CTX_set_params(ctx: *mut EvpCipherCtx, params: *const OsslParam) -> c_int {
    match params_fns() {
        Some((_, s)) => s(ctx, params),
        None => 0,
    }
}

const fn octets(key: &'static core::ffi::CStr, data: *mut u8, len: usize) -> OsslParam {
    OsslParam {
        key: key.as_ptr(),
        data_type: OSSL_PARAM_OCTET_STRING,
        data: data.cast(),
        data_size: len,
        return_size: OSSL_PARAM_UNMODIFIED,
    }
}

const END: OsslParam = OsslParam {
    key: core::ptr::null(),
    data_type: 0,
    data: core::ptr::null_mut(),
    data_size: 0,
    return_size: 0,
};

/// `[tag, end]` for reading or writing the GCM tag at `tag`.
pub fn tag_params(tag: *mut u8, len: usize) -> [OsslParam; 2] {
    [octets(OSSL_CIPHER_PARAM_AEAD_TAG, tag, len), END]
}

/// `[whole IV, end]`: "tlsivfixed" with length -1 copies the complete IV (OpenSSL reads the
/// context's IV length, 12, from `iv`) and marks it to be applied on the next update.
pub fn iv_params(iv: *const u8) -> [OsslParam; 2] {
    [octets(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, iv.cast_mut(), usize::MAX), END]
}

/// `[whole IV, tag, end]` for opening: one call instead of two.
pub fn iv_and_tag_params(iv: *const u8, tag: *mut u8, len: usize) -> [OsslParam; 3] {
    [
        octets(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, iv.cast_mut(), usize::MAX),
        octets(OSSL_CIPHER_PARAM_AEAD_TAG, tag, len),
        END,
    ]
}
