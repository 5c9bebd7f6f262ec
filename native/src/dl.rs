//! Run-time symbol lookup (dlsym over the process's global scope, which holds node's exports).
//! Every optional OpenSSL symbol goes through here, so a missing one turns a feature off instead
//! of failing the module at load (BIND_NOW). Tests can hide one symbol with
//! SEALKV_NATIVE_TEST_HIDE_SYMBOL=<name> to exercise the fallback.

use core::ffi::{c_char, c_void, CStr};
use core::ptr::NonNull;

extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// The address of `name` in the global scope, or None (also when tests hide it).
pub fn find(name: &CStr) -> Option<NonNull<c_void>> {
    if std::env::var_os("SEALKV_NATIVE_TEST_HIDE_SYMBOL").is_some_and(|v| v.as_encoded_bytes() == name.to_bytes()) {
        return None;
    }
    // RTLD_DEFAULT is the null handle on glibc and musl. SAFETY: dlsym only reads the name.
    NonNull::new(unsafe { dlsym(core::ptr::null_mut(), name.as_ptr()) })
}
