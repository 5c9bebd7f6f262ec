//! Whether OpenSSL's default properties ask for FIPS, asked every time a context is used (node's
//! crypto.setFips(true) can switch it on at run time). Resolved with dlsym: OpenSSL 3's
//! EVP_default_properties_is_fips_enabled, else OpenSSL 1.1's FIPS_mode.

use core::ffi::{c_int, c_void};

type Is3 = unsafe extern "C" fn(libctx: *mut c_void) -> c_int;
type Is11 = unsafe extern "C" fn() -> c_int;

#[derive(Clone, Copy)]
enum Query {
    V3(Is3),
    V11(Is11),
}

fn query() -> Option<Query> {
    static Q: std::sync::OnceLock<Option<Query>> = std::sync::OnceLock::new();
    *Q.get_or_init(|| {
        // SAFETY: both symbols have had these signatures since they were introduced.
        if let Some(p) = crate::dl::find(c"EVP_default_properties_is_fips_enabled") {
            return Some(Query::V3(unsafe { core::mem::transmute::<*mut c_void, Is3>(p.as_ptr()) }));
        }
        crate::dl::find(c"FIPS_mode").map(|p| Query::V11(unsafe { core::mem::transmute::<*mut c_void, Is11>(p.as_ptr()) }))
    })
}

/// Some(true) when FIPS mode is on, Some(false) when off, None when it cannot be asked (the
/// caller then treats the fast path as unavailable).
pub fn enabled() -> Option<bool> {
    // SAFETY: plain reads of OpenSSL's default-properties / FIPS flag.
    query().map(|q| unsafe {
        match q {
            Query::V3(f) => f(core::ptr::null_mut()) != 0,
            Query::V11(f) => f() != 0,
        }
    })
}
