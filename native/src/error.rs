//! The one error type of the crate: a stable code (one of sealkv's CryptoError codes) and a
//! message. The export layer throws it as a JS Error whose `code` the TS wrapper maps back to a
//! typed error. Messages never contain key bytes.

use core::ffi::CStr;

pub struct JsError {
    pub code: &'static CStr,
    pub message: String,
}

impl JsError {
    /// Misuse of the binding, a Node-API failure or an EVP failure.
    pub fn backend(message: String) -> Self {
        JsError { code: c"CRYPTO_BACKEND", message }
    }

    pub fn bad_key_size(len: usize) -> Self {
        JsError { code: c"BAD_KEY_SIZE", message: format!("AES-256-GCM key must be 32 bytes, got {len}") }
    }
}
