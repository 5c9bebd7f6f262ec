//! One keyed EVP context pair (encrypt + decrypt) per DEK, created once and reused for every
//! message: per message only the IV is set, so the AES key schedule and GHASH tables are never
//! recomputed (node's createCipheriv rebuilds both per message — that is the cost we avoid).
//! Where available, short messages skip EVP and run OpenSSL's GCM code directly (gcm.rs).

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::error::JsError;
use crate::evp::*;
use crate::gcm::{DirectGcm, DIRECT_MAX_LEN};

pub const KEY_SIZE: usize = 32;
pub const NONCE_SIZE: usize = 12;
pub const TAG_SIZE: usize = 16;
/// EVP takes `int` lengths; anything larger is refused up front, never truncated.
pub const MAX_LEN: usize = (i32::MAX as usize) - TAG_SIZE;

/// Which calls seal or open one message. The first two are EVP call sequences (they set the
/// per-message IV and read (seal) or set (open) the tag); `Direct` bypasses EVP.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallStyle {
    /// OpenSSL 3 parameters: the IV through `EVP_CIPHER_CTX_set_params` with "tlsivfixed" of
    /// length -1 (the documented "whole IV" form of EVP_CTRL_GCM_SET_IV_FIXED, which copies the IV
    /// and re-arms the context just as EVP_EncryptInit_ex(iv) does; for open the tag rides in the
    /// same call), and the tag through `EVP_CIPHER_CTX_get_params`. On OpenSSL 3.0 this is
    /// ≈50 ns cheaper per message than the textbook calls, which re-query the IV length and
    /// build parameters inside `EVP_CIPHER_CTX_ctrl`. The tests check byte-identity with node:crypto.
    Params,
    /// `EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv)` + `EVP_CIPHER_CTX_ctrl(GET_TAG / SET_TAG)`:
    /// the textbook sequence, kept for the reference loop the benchmark reports against.
    Textbook,
    /// OpenSSL's GCM128 functions with the AES-NI primitives, no EVP (gcm.rs). Only on contexts
    /// built with the direct path; `seal`/`open` use it for messages up to DIRECT_MAX_LEN.
    Direct,
}

pub struct KeyContext {
    enc: *mut EvpCipherCtx,
    dec: *mut EvpCipherCtx,
    /// The same key in OpenSSL's GCM128 form, when the direct path is in use (gcm.rs).
    direct: Option<DirectGcm>,
    /// Copy of the key, only to confirm that the caller's key still equals the one this context
    /// was built from (a key buffer can be mutated in place). Wiped on dispose.
    key: [u8; KEY_SIZE],
}

/// Approximate native memory per context (two EVP contexts with their GCM state, plus the
/// direct path's key schedule and GCM128 context), reported to V8.
pub const APPROX_NATIVE_BYTES: i64 = 2816;

fn evp_failed(what: &str) -> JsError {
    // SAFETY: clearing this thread's OpenSSL error queue has no preconditions.
    unsafe { ERR_clear_error() };
    JsError::backend(format!("OpenSSL {what} failed"))
}

#[cold]
fn no_direct() -> JsError {
    JsError::backend("the direct GCM calls are not available on this context".into())
}

fn int_len(len: usize) -> Result<c_int, JsError> {
    if len > MAX_LEN {
        return Err(JsError::backend(format!("message of {len} bytes exceeds the {MAX_LEN}-byte limit")));
    }
    Ok(len as c_int)
}

impl KeyContext {
    /// Creates both contexts and keys them. `key` points to KEY_SIZE readable bytes. The direct
    /// path is added when the load-time self-test enabled it.
    pub unsafe fn new(key: *const u8) -> Result<Box<KeyContext>, JsError> {
        Self::new_with(key, crate::selftest::direct_ok())
    }

    /// As `new`; `direct` asks for the direct path too (granted only where it is available).
    pub unsafe fn new_with(key: *const u8, direct: bool) -> Result<Box<KeyContext>, JsError> {
        let mut ctx =
            Box::new(KeyContext { enc: ptr::null_mut(), dec: ptr::null_mut(), direct: None, key: [0; KEY_SIZE] });
        ptr::copy_nonoverlapping(key, ctx.key.as_mut_ptr(), KEY_SIZE);
        // From here on, an early return drops `ctx`, which frees whatever was created.
        ctx.enc = EVP_CIPHER_CTX_new();
        if ctx.enc.is_null() {
            return Err(evp_failed("EVP_CIPHER_CTX_new"));
        }
        ctx.dec = EVP_CIPHER_CTX_new();
        if ctx.dec.is_null() {
            return Err(evp_failed("EVP_CIPHER_CTX_new"));
        }
        let cipher = EVP_aes_256_gcm();
        if cipher.is_null() {
            return Err(evp_failed("EVP_aes_256_gcm"));
        }
        if EVP_EncryptInit_ex(ctx.enc, cipher, ptr::null_mut(), ptr::null(), ptr::null()) != 1 {
            return Err(evp_failed("EVP_EncryptInit_ex(cipher)"));
        }
        if EVP_DecryptInit_ex(ctx.dec, cipher, ptr::null_mut(), ptr::null(), ptr::null()) != 1 {
            return Err(evp_failed("EVP_DecryptInit_ex(cipher)"));
        }
        // 12 is GCM's default; set it anyway so the contract does not rest on a default.
        for c in [ctx.enc, ctx.dec] {
            if EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_SIZE as c_int, ptr::null_mut()) != 1 {
                return Err(evp_failed("EVP_CTRL_GCM_SET_IVLEN"));
            }
        }
        if EVP_EncryptInit_ex(ctx.enc, ptr::null(), ptr::null_mut(), ctx.key.as_ptr(), ptr::null()) != 1 {
            return Err(evp_failed("EVP_EncryptInit_ex(key)"));
        }
        if EVP_DecryptInit_ex(ctx.dec, ptr::null(), ptr::null_mut(), ctx.key.as_ptr(), ptr::null()) != 1 {
            return Err(evp_failed("EVP_DecryptInit_ex(key)"));
        }
        if direct {
            ctx.direct = DirectGcm::new(ctx.key.as_ptr());
        }
        Ok(ctx)
    }

    pub fn is_disposed(&self) -> bool {
        self.enc.is_null()
    }

    /// Whether this context has the direct path.
    pub fn has_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Drops the direct path for good when FIPS mode is on now (or cannot be asked): a context
    /// built before crypto.setFips(true) must not keep bypassing the FIPS provider. Called on
    /// every use of the context from JS (once per call, not per message).
    pub fn recheck_fips(&mut self) {
        if self.direct.is_some() && crate::fips::enabled() != Some(false) {
            self.direct = None;
        }
    }

    /// The call style for a message of `len` bytes: direct when this context has it and the
    /// message is short, else the style the self-test chose for EVP.
    #[inline(always)]
    fn style_for(&self, len: usize) -> CallStyle {
        if len <= DIRECT_MAX_LEN && self.direct.is_some() {
            CallStyle::Direct
        } else {
            crate::selftest::default_style()
        }
    }

    /// True when `len` bytes at `key` equal this context's key. Not constant time on purpose:
    /// both operands are the same secret held by the same process; the comparison only detects
    /// a key buffer that was changed in place.
    pub unsafe fn matches(&self, key: *const u8, len: usize) -> bool {
        if len != KEY_SIZE || self.is_disposed() {
            return false;
        }
        let mut diff = 0u8;
        for i in 0..KEY_SIZE {
            diff |= *key.add(i) ^ self.key[i];
        }
        diff == 0
    }

    /// Seals `len` bytes at `pt` into `out` (len + TAG_SIZE bytes: ciphertext ‖ tag).
    /// `out` may equal `pt` (in place); all pointers are valid for their lengths (caller checked).
    pub unsafe fn seal(
        &mut self,
        nonce: *const u8,
        aad: *const u8,
        aad_len: usize,
        pt: *const u8,
        len: usize,
        out: *mut u8,
    ) -> Result<(), JsError> {
        self.seal_with(self.style_for(len), nonce, aad, aad_len, pt, len, out)
    }

    #[allow(clippy::too_many_arguments)]
    pub unsafe fn seal_with(
        &mut self,
        style: CallStyle,
        nonce: *const u8,
        aad: *const u8,
        aad_len: usize,
        pt: *const u8,
        len: usize,
        out: *mut u8,
    ) -> Result<(), JsError> {
        let c = self.enc;
        if c.is_null() {
            return Err(JsError::backend("key context was disposed".into()));
        }
        let aad_l = int_len(aad_len)?;
        let len_l = int_len(len)?;
        let mut outl: c_int = 0;
        let iv_set = match style {
            CallStyle::Params => EVP_CIPHER_CTX_set_params(c, iv_params(nonce).as_ptr()) == 1,
            CallStyle::Textbook => EVP_EncryptInit_ex(c, ptr::null(), ptr::null_mut(), ptr::null(), nonce) == 1,
            CallStyle::Direct => {
                let Some(d) = self.direct.as_mut() else { return Err(no_direct()) };
                return d.seal(nonce, aad, aad_len, pt, len, out);
            }
        };
        if !iv_set {
            return Err(evp_failed("setting the IV"));
        }
        if aad_len > 0 && EVP_EncryptUpdate(c, ptr::null_mut(), &mut outl, aad, aad_l) != 1 {
            return Err(evp_failed("EVP_EncryptUpdate(aad)"));
        }
        if len > 0 {
            if EVP_EncryptUpdate(c, out, &mut outl, pt, len_l) != 1 {
                return Err(evp_failed("EVP_EncryptUpdate"));
            }
            // GCM is a stream mode: the whole input is written at once.
            if outl != len_l {
                return Err(JsError::backend("EVP_EncryptUpdate wrote a short block".into()));
            }
        }
        let mut finl: c_int = 0;
        if EVP_EncryptFinal_ex(c, out.add(len), &mut finl) != 1 || finl != 0 {
            return Err(evp_failed("EVP_EncryptFinal_ex"));
        }
        let tag = out.add(len);
        let ok = match style {
            CallStyle::Params => EVP_CIPHER_CTX_get_params(c, tag_params(tag, TAG_SIZE).as_mut_ptr()) == 1,
            CallStyle::Textbook => EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_SIZE as c_int, tag.cast::<c_void>()) == 1,
            CallStyle::Direct => false,
        };
        if !ok {
            return Err(evp_failed("reading the GCM tag"));
        }
        Ok(())
    }

    /// Opens `ct_len` ciphertext bytes at `ct` followed by their tag at `tag` into `out`
    /// (`ct_len` bytes). Ok(false) when authentication fails; `out` is then zeroed, never partial
    /// plaintext. An Err is a backend failure (out is zeroed too).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn open(
        &mut self,
        nonce: *const u8,
        aad: *const u8,
        aad_len: usize,
        ct: *const u8,
        ct_len: usize,
        tag: *const u8,
        out: *mut u8,
    ) -> Result<bool, JsError> {
        self.open_with(self.style_for(ct_len), nonce, aad, aad_len, ct, ct_len, tag, out)
    }

    #[allow(clippy::too_many_arguments)]
    pub unsafe fn open_with(
        &mut self,
        style: CallStyle,
        nonce: *const u8,
        aad: *const u8,
        aad_len: usize,
        ct: *const u8,
        ct_len: usize,
        tag: *const u8,
        out: *mut u8,
    ) -> Result<bool, JsError> {
        let r = self.open_inner(style, nonce, aad, aad_len, ct, ct_len, tag, out);
        if !matches!(r, Ok(true)) && ct_len > 0 {
            OPENSSL_cleanse(out.cast::<c_void>(), ct_len);
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn open_inner(
        &mut self,
        style: CallStyle,
        nonce: *const u8,
        aad: *const u8,
        aad_len: usize,
        ct: *const u8,
        ct_len: usize,
        tag: *const u8,
        out: *mut u8,
    ) -> Result<bool, JsError> {
        let c = self.dec;
        if c.is_null() {
            return Err(JsError::backend("key context was disposed".into()));
        }
        let aad_l = int_len(aad_len)?;
        let len_l = int_len(ct_len)?;
        if style == CallStyle::Direct {
            let Some(d) = self.direct.as_mut() else { return Err(no_direct()) };
            return d.open(nonce, aad, aad_len, ct, ct_len, tag, out);
        }
        let mut outl: c_int = 0;
        // The tag is copied before decrypting because `out` may overlap the caller's input.
        let mut tag_copy = [0u8; TAG_SIZE];
        ptr::copy_nonoverlapping(tag, tag_copy.as_mut_ptr(), TAG_SIZE);
        let t = tag_copy.as_mut_ptr();
        let ok = match style {
            CallStyle::Params => EVP_CIPHER_CTX_set_params(c, iv_and_tag_params(nonce, t, TAG_SIZE).as_ptr()) == 1,
            CallStyle::Textbook => {
                EVP_DecryptInit_ex(c, ptr::null(), ptr::null_mut(), ptr::null(), nonce) == 1
                    && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_SIZE as c_int, t.cast::<c_void>()) == 1
            }
            CallStyle::Direct => false,
        };
        if !ok {
            return Err(evp_failed("setting the IV and tag"));
        }
        if aad_len > 0 && EVP_DecryptUpdate(c, ptr::null_mut(), &mut outl, aad, aad_l) != 1 {
            return Err(evp_failed("EVP_DecryptUpdate(aad)"));
        }
        if ct_len > 0 {
            if EVP_DecryptUpdate(c, out, &mut outl, ct, len_l) != 1 {
                return Err(evp_failed("EVP_DecryptUpdate"));
            }
            if outl != len_l {
                return Err(JsError::backend("EVP_DecryptUpdate wrote a short block".into()));
            }
        }
        let mut finl: c_int = 0;
        // Final fails exactly when the tag does not verify: an authentication failure, not an error.
        if EVP_DecryptFinal_ex(c, out.add(ct_len), &mut finl) != 1 {
            ERR_clear_error();
            return Ok(false);
        }
        Ok(true)
    }

    /// Frees both EVP contexts (OpenSSL clears the key schedule when freeing the GCM context)
    /// and the direct path (which wipes its own), and wipes our key copy. Idempotent.
    pub fn dispose(&mut self) {
        self.direct = None;
        // SAFETY: the pointers are either null or contexts we created and have not freed.
        unsafe {
            if !self.enc.is_null() {
                EVP_CIPHER_CTX_free(self.enc);
                self.enc = ptr::null_mut();
            }
            if !self.dec.is_null() {
                EVP_CIPHER_CTX_free(self.dec);
                self.dec = ptr::null_mut();
            }
            OPENSSL_cleanse(self.key.as_mut_ptr().cast::<c_void>(), KEY_SIZE);
        }
    }
}

impl Drop for KeyContext {
    fn drop(&mut self) {
        self.dispose();
    }
}
