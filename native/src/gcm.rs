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
use crate::evp::{EVP_default_properties_is_fips_enabled, OPENSSL_cleanse};

/// Messages up to this length take the direct path; longer ones the EVP path. Measured on this
/// host (ns per message, EVP with the parameter calls vs direct, seal | open): 256 B 175/119 |
/// 153/115, 2 KiB 585/548 | 558/548, 3 KiB 786/783 | 763/784, 16 KiB 3668/3885 | 3640/3888:
/// from about 3 KiB the provider's stitched AES-NI + GHASH loop wins.
pub const DIRECT_MAX_LEN: usize = 2048;

/// OpenSSL's `AES_KEY` (public layout): up to 15 round keys and the round count.
#[repr(C, align(16))]
struct AesKey {
    rd_key: [u32; 60],
    rounds: c_int,
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

extern "C" {
    fn CRYPTO_gcm128_new(key: *mut c_void, block: BlockFn) -> *mut Gcm128;
    fn CRYPTO_gcm128_release(ctx: *mut Gcm128);
    fn CRYPTO_gcm128_setiv(ctx: *mut Gcm128, iv: *const u8, len: usize);
    fn CRYPTO_gcm128_aad(ctx: *mut Gcm128, aad: *const u8, len: usize) -> c_int;
    fn CRYPTO_gcm128_encrypt_ctr32(ctx: *mut Gcm128, input: *const u8, out: *mut u8, len: usize, stream: CtrFn) -> c_int;
    fn CRYPTO_gcm128_decrypt_ctr32(ctx: *mut Gcm128, input: *const u8, out: *mut u8, len: usize, stream: CtrFn) -> c_int;
    fn CRYPTO_gcm128_finish(ctx: *mut Gcm128, tag: *const u8, len: usize) -> c_int;
    fn CRYPTO_gcm128_tag(ctx: *mut Gcm128, tag: *mut u8, len: usize);
}

/// The AES-NI primitives, when this process's OpenSSL exports them.
#[derive(Clone, Copy)]
struct Primitives {
    set_key: SetKeyFn,
    block: BlockFn,
    ctr: CtrFn,
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn lookup() -> Option<Primitives> {
    use core::ffi::c_char;
    extern "C" {
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }
    // RTLD_DEFAULT is the null handle on glibc and musl: search the global scope (node's exports).
    // SAFETY: dlsym only reads the NUL-terminated names.
    let find = |name: &core::ffi::CStr| NonNull::new(unsafe { dlsym(ptr::null_mut(), name.as_ptr()) });
    let set_key = find(c"aesni_set_encrypt_key")?;
    let block = find(c"aesni_encrypt")?;
    let ctr = find(c"aesni_ctr32_encrypt_blocks")?;
    // SAFETY: these OpenSSL symbols have had exactly these C signatures since AES-NI support
    // landed (OpenSSL 1.0.1) through 3.x; the self-test checks their output before first use.
    unsafe {
        Some(Primitives {
            set_key: core::mem::transmute::<*mut c_void, SetKeyFn>(set_key.as_ptr()),
            block: core::mem::transmute::<*mut c_void, BlockFn>(block.as_ptr()),
            ctr: core::mem::transmute::<*mut c_void, CtrFn>(ctr.as_ptr()),
        })
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn lookup() -> Option<Primitives> {
    None
}

fn primitives() -> Option<Primitives> {
    static FOUND: std::sync::OnceLock<Option<Primitives>> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| if crate::cpu::hardware_aes() { lookup() } else { None })
}

/// Whether a direct context can be built now (checked per context: FIPS can be switched on at
/// run time, e.g. by node's crypto.setFips).
pub fn available() -> bool {
    // SAFETY: a read of OpenSSL's default-properties flag for the default library context.
    primitives().is_some() && unsafe { EVP_default_properties_is_fips_enabled(ptr::null_mut()) } == 0
}

/// One keyed GCM128 context: the AES key schedule and the GHASH key tables, computed once.
/// Per message, `CRYPTO_gcm128_setiv` resets all message state (counter, lengths, hash).
pub struct DirectGcm {
    /// Boxed so its address is stable: the GCM128 context keeps a pointer to it.
    ks: Box<AesKey>,
    gcm: NonNull<Gcm128>,
    ctr: CtrFn,
}

impl DirectGcm {
    /// Keys a direct context from KEY_SIZE bytes at `key`; None when the path is unavailable.
    pub unsafe fn new(key: *const u8) -> Option<DirectGcm> {
        if !available() {
            return None;
        }
        let p = primitives()?;
        let mut ks = Box::new(AesKey { rd_key: [0; 60], rounds: 0 });
        if (p.set_key)(key, 256, &mut *ks) != 0 {
            OPENSSL_cleanse((&mut *ks as *mut AesKey).cast(), core::mem::size_of::<AesKey>());
            return None;
        }
        let Some(gcm) = NonNull::new(CRYPTO_gcm128_new((&mut *ks as *mut AesKey).cast(), p.block)) else {
            OPENSSL_cleanse((&mut *ks as *mut AesKey).cast(), core::mem::size_of::<AesKey>());
            return None;
        };
        Some(DirectGcm { ks, gcm, ctr: p.ctr })
    }

    /// Seals `len` bytes at `pt` into `out` (ciphertext ‖ tag). `out` may equal `pt`. The caller
    /// has bounded every length by the EVP limit (< 2^31), far below GCM's 2^36 − 32 bytes.
    pub unsafe fn seal(&mut self, nonce: *const u8, aad: *const u8, aad_len: usize, pt: *const u8, len: usize, out: *mut u8) -> Result<(), JsError> {
        let g = self.gcm.as_ptr();
        CRYPTO_gcm128_setiv(g, nonce, crate::context::NONCE_SIZE);
        if aad_len > 0 && CRYPTO_gcm128_aad(g, aad, aad_len) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_aad failed".into()));
        }
        if len > 0 && CRYPTO_gcm128_encrypt_ctr32(g, pt, out, len, self.ctr) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_encrypt_ctr32 failed".into()));
        }
        CRYPTO_gcm128_tag(g, out.add(len), TAG_SIZE);
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
        CRYPTO_gcm128_setiv(g, nonce, crate::context::NONCE_SIZE);
        if aad_len > 0 && CRYPTO_gcm128_aad(g, aad, aad_len) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_aad failed".into()));
        }
        if ct_len > 0 && CRYPTO_gcm128_decrypt_ctr32(g, ct, out, ct_len, self.ctr) != 0 {
            return Err(JsError::backend("CRYPTO_gcm128_decrypt_ctr32 failed".into()));
        }
        Ok(CRYPTO_gcm128_finish(g, tag_copy.as_ptr(), TAG_SIZE) == 0)
    }
}

impl Drop for DirectGcm {
    fn drop(&mut self) {
        // SAFETY: `gcm` came from CRYPTO_gcm128_new and is released once (release wipes the
        // hash key tables); the key schedule is ours to wipe.
        unsafe {
            CRYPTO_gcm128_release(self.gcm.as_ptr());
            OPENSSL_cleanse((&mut *self.ks as *mut AesKey).cast(), core::mem::size_of::<AesKey>());
        }
    }
}
