//! The fast path is enabled only on OpenSSL versions the test suite has verified it on
//! (test/crypto/native.test.ts runs the vectors through it there). Any other version, or one that
//! cannot be read, keeps every message on EVP. To add a version: run the native tests on it, then
//! add it here.

use core::ffi::{c_char, c_ulong, c_void, CStr};

/// OPENSSL_VERSION_NUMBER values (3.x: major<<28 | minor<<20 | patch<<4) and their text form,
/// which equals node's process.versions.openssl.
pub const VERIFIED: [(c_ulong, &str); 1] = [(0x3000_0130, "3.0.19")];

type VersionNum = unsafe extern "C" fn() -> c_ulong;
type VersionText = unsafe extern "C" fn(t: i32) -> *const c_char;

/// OpenSSL_version_num(), when exported.
pub fn number() -> Option<c_ulong> {
    let p = crate::dl::find(c"OpenSSL_version_num")?;
    // SAFETY: `unsigned long OpenSSL_version_num(void)` since OpenSSL 1.1.0.
    Some(unsafe { core::mem::transmute::<*mut c_void, VersionNum>(p.as_ptr())() })
}

/// OpenSSL_version(OPENSSL_VERSION), e.g. "OpenSSL 3.0.19 1 Jul 2025", when exported.
pub fn text() -> String {
    let Some(p) = crate::dl::find(c"OpenSSL_version") else { return String::new() };
    // SAFETY: `const char *OpenSSL_version(int t)`, a static NUL-terminated string.
    unsafe {
        let s = core::mem::transmute::<*mut c_void, VersionText>(p.as_ptr())(0);
        if s.is_null() { String::new() } else { CStr::from_ptr(s).to_string_lossy().into_owned() }
    }
}

/// Ok when this process's OpenSSL is a verified version, else why not.
pub fn check() -> Result<(), String> {
    let n = number().ok_or_else(|| "OpenSSL_version_num is not exported; version unknown".to_string())?;
    if VERIFIED.iter().any(|(v, _)| *v == n) {
        Ok(())
    } else {
        Err(format!("OpenSSL {} (0x{n:08x}) is not a version the test suite verified the fast path on", text()))
    }
}
