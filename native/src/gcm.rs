//! The direct GCM path: OpenSSL's own GCM128 mode code (`CRYPTO_gcm128_*`, public API) driven
//! with the AES-NI primitives that OpenSSL's AES-GCM provider itself plugs into it
//! (`aesni_set_encrypt_key`, `aesni_encrypt`, `aesni_ctr32_encrypt_blocks`). For a short message
//! this is the provider's work minus the EVP and provider dispatch around it (parameter lookups,
//! state checks, four calls through function tables): measured ≈55 ns cheaper per 256-byte seal,
//! ≈40 ns per open, on this host's OpenSSL 3.0. The bytes are the same GCM code's bytes; the
//! load-time self-test (selftest.rs) compares them with the EVP path before enabling it.
//!
//! The AES-NI entry points are not part of OpenSSL's API, so they are looked up at run time
//! (`dlsym`) and never linked: a node whose OpenSSL does not export them (a shared system
//! libcrypto, another CPU architecture) simply keeps the EVP path. The path is also off when
//! the AES instructions are masked (cpu.rs) and when OpenSSL's default properties ask for FIPS,
//! since this path would bypass the FIPS provider.
//!
//! Large messages stay on EVP (see DIRECT_MAX_LEN): there the provider's stitched
//! AES-NI + GHASH loop, which needs GCM128 internals, is faster.

use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};

use crate::context::TAG_SIZE;
use crate::error::JsError;
use crate::evp::OPENSSL_cleanse;

/// Messages up to this length take the direct path; longer ones the EVP path. Measured on this
/// host (ns per message, EVP with the parameter calls vs direct, seal | open): 256 B 175/119 |
/// 153/115, 2 KiB 585/548 | 558/548, 3 KiB 786/783 | 763/784, 16 KiB 3668/3885 | 3640/3888:
/// from about 3 KiB the provider's stitched AES-NI + GHASH loop wins.
pub const DIRECT_MAX_LEN: usize = 2048;

/// Room for OpenSSL's `AES_KEY` (60 round-key words and the round count: 244 bytes today).
/// Four times that, so a future layout that grew could not write past our buffer before the
/// self-test compares anything; the layout itself is never read here.
#[repr(C, align(64))]
struct AesKey {
    bytes: [u8; 1024],
}

/// Opaque `GCM128_CONTEXT`, allocated and freed by OpenSSL.
#[repr(C)]
struct Gcm128 {
    _opaque: [u8; 0],
}

// OpenSSL's block128_f, ctr128_f and the AES-NI key setup (crypto/modes.h, crypto/aes/asm).
type BlockFn = unsafe extern "C" fn(input: *const u8, out: *mut u8, key: *const c_void);
type CtrFn = unsafe extern "C" fn(input: *const u8, out: *mut u8, blocks: usize, key: *const c_void, ivec: *const u8);
type SetKeyFn = unsafe extern "C" fn(user_key: *const u8, bits: c_int, key: *mut AesKey) -> c_int;
type NewFn = unsafe extern "C" fn(key: *mut c_void, block: BlockFn) -> *mut Gcm128;
type ReleaseFn = unsafe extern "C" fn(ctx: *mut Gcm128);
type SetIvFn = unsafe extern "C" fn(ctx: *mut Gcm128, iv: *const u8, len: usize);
type AadFn = unsafe extern "C" fn(ctx: *mut Gcm128, aad: *const u8, len: usize) -> c_int;
type CryptFn = unsafe extern "C" fn(ctx: *mut Gcm128, input: *const u8, out: *mut u8, len: usize, stream: CtrFn) -> c_int;
type FinishFn = unsafe extern "C" fn(ctx: *mut Gcm128, tag: *const u8, len: usize) -> c_int;
type TagFn = unsafe extern "C" fn(ctx: *mut Gcm128, tag: *mut u8, len: usize);

/// Every function the direct path calls, all resolved with dlsym (none is linked: a node whose
/// OpenSSL lacks one, e.g. BoringSSL without CRYPTO_gcm128_*, keeps EVP instead of failing to load).
#[derive(Clone, Copy)]
struct Primitives {
    set_key: SetKeyFn,
    block: BlockFn,
    ctr: CtrFn,
    new: NewFn,
    release: ReleaseFn,
    setiv: SetIvFn,
    aad: AadFn,
    encrypt: CryptFn,
    decrypt: CryptFn,
    finish: FinishFn,
    tag: TagFn,
}

/// Why the direct path is unavailable (reported by implementationInfo), or None when it is.
fn lookup() -> Result<Primitives, String> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        return Err("the direct path is built for Linux x86-64 only".into());
    }
    macro_rules! sym {
        ($name:literal, $t:ty) => {{
            let p = crate::dl::find($name).ok_or_else(|| format!("OpenSSL symbol {} is not exported by this process", $name.to_str().unwrap_or("?")))?;
            // SAFETY: the symbol has had exactly this C signature from OpenSSL 1.0.1 through 3.x;
            // the version gate and the self-test stand between a mismatch and any use.
            unsafe { core::mem::transmute::<*mut c_void, $t>(p.as_ptr()) }
        }};
    }
    Ok(Primitives {
        set_key: sym!(c"aesni_set_encrypt_key", SetKeyFn),
        block: sym!(c"aesni_encrypt", BlockFn),
        ctr: sym!(c"aesni_ctr32_encrypt_blocks", CtrFn),
        new: sym!(c"CRYPTO_gcm128_new", NewFn),
        release: sym!(c"CRYPTO_gcm128_release", ReleaseFn),
        setiv: sym!(c"CRYPTO_gcm128_setiv", SetIvFn),
        aad: sym!(c"CRYPTO_gcm128_aad", AadFn),
        encrypt: sym!(c"CRYPTO_gcm128_encrypt_ctr32", CryptFn),
        decrypt: sym!(c"CRYPTO_gcm128_decrypt_ctr32", CryptFn),
        finish: sym!(c"CRYPTO_gcm128_finish", FinishFn),
        tag: sym!(c"CRYPTO_gcm128_tag", TagFn),
    })
}

fn primitives() -> &'static Result<Primitives, String> {
    static FOUND: std::sync::OnceLock<Result<Primitives, String>> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        if !crate::cpu::hardware_aes() {
            return Err("AES instructions unavailable or masked (OPENSSL_ia32cap)".into());
        }
        crate::version::check()?;
        lookup()
    })
}

/// None when the direct path can be used (symbols found, version verified), else why not.
pub fn unavailable_reason() -> Option<String> {
    match primitives() {
        Ok(_) => crate::fips::enabled().map_or(Some("cannot tell whether FIPS mode is on (no FIPS query symbol)".into()), |on| on.then(|| "FIPS mode is on".into())),
        Err(e) => Some(e.clone()),
    }
}

/// Whether a direct context can be built now (checked per context: FIPS can be switched on at
/// run time, e.g. by node's crypto.setFips).
pub fn available() -> bool {
    primitives().is_ok() && crate::fips::enabled() == Some(false)
}

/// One keyed GCM128 context: the AES key schedule and the GHASH key tables, computed once.
/// Per message, `CRYPTO_gcm128_setiv` resets all message state (counter, lengths, hash).
pub struct DirectGcm {
    /// Boxed so its address is stable: the GCM128 context keeps a pointer to it.
    ks: Box<AesKey>,
    gcm: NonNull<Gcm128>,
    p: Primitives,
}

impl DirectGcm {
    /// Keys a direct context from KEY_SIZE bytes at `key`; None when the path is unavailable.
    pub unsafe fn new(key: *const u8) -> Option<DirectGcm> {
        if !available() {
            return None;
        }
        let p = *primitives().as_ref().ok()?;
        let mut ks = Box::new(AesKey { bytes: [0; 1024] });
        if (p.set_key)(key, 256, &mut *ks) != 0 {
            OPENSSL_cleanse((&mut *ks as *mut AesKey).cast(), core::mem::size_of::<AesKey>());
            return None;
        }
        let Some(gcm) = NonNull::new((p.new)((&mut *ks as *mut AesKey).cast(), p.block)) else {
            OPENSSL_cleanse((&mut *ks as *mut AesKey).cast(), core::mem::size_of::<AesKey>());
            return None;
        };
        Some(DirectGcm { ks, gcm, p })
    }

    /// Seals `len` bytes at `pt` into `out` (ciphertext ‖ tag). `out` may equal `pt`. The caller
    /// has bounded every length by the EVP limit (< 2^31), far below GCM's 2^36 − 32 bytes.
    pub unsafe fn seal(&mut self, nonce: *const u8, aad: *const u8, aad_len: usize, pt: *const u8, len: usize, out: *mut u8) -> Result<(), JsError> {
        let g = self.gcm.as_ptr();
        let p = &self.p;
        (p.setiv)(g, nonce, crate::context::NONCE_SIZE);
        if aad_len > 0 && (p.aad)(g, aad, aad_len) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_aad failed".into()));
        }
        if len > 0 && (p.encrypt)(g, pt, out, len, p.ctr) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_encrypt_ctr32 failed".into()));
        }
        (p.tag)(g, out.add(len), TAG_SIZE);
        Ok(())
    }

    /// Opens `ct_len` bytes at `ct` with the tag at `tag` into `out`. Ok(false) when the tag
    /// does not verify (constant-time compare inside OpenSSL). `out` is left as written: the
    /// caller wipes it on anything but Ok(true).
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
        // The tag is copied first because `out` may overlap the caller's input.
        let mut tag_copy = [0u8; TAG_SIZE];
        ptr::copy_nonoverlapping(tag, tag_copy.as_mut_ptr(), TAG_SIZE);
        let g = self.gcm.as_ptr();
        let p = &self.p;
        (p.setiv)(g, nonce, crate::context::NONCE_SIZE);
        if aad_len > 0 && (p.aad)(g, aad, aad_len) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_aad failed".into()));
        }
        if ct_len > 0 && (p.decrypt)(g, ct, out, ct_len, p.ctr) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_decrypt_ctr32 failed".into()));
        }
        Ok((p.finish)(g, tag_copy.as_ptr(), TAG_SIZE) == 0)
    }
}

impl Drop for DirectGcm {
    fn drop(&mut self) {
        // SAFETY: `gcm` came from CRYPTO_gcm128_new and is released once (release wipes the
        // hash key tables); the key schedule is ours to wipe.
        unsafe {
            (self.p.release)(self.gcm.as_ptr());
            OPENSSL_cleanse((&mut *self.ks as *mut AesKey).cast(), core::mem::size_of::<AesKey>());
        }
    }
}
