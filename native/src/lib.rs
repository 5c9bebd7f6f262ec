//! sealkv's native AES-256-GCM backend: a Node-API module (declared by hand, zero crates) over
//! the OpenSSL EVP interface that the node executable exports.
//!
//! Modules: `napi` / `evp` (foreign declarations and checked helpers), `context` (one keyed
//! context pair per DEK), `gcm` (the direct GCM128 + AES-NI path for short messages), `packed`
//! (batch descriptor checks and loops), `outbuf` (recycled batch output blocks), `bench` (the reference loops), `cpu` (AES instruction
//! detection), `selftest` (load-time check of the call styles), `exports` (the JS-callable
//! functions).

mod bench;
mod context;
mod cpu;
mod dl;
mod error;
mod evp;
mod exports;
mod fips;
mod gcm;
mod napi;
mod outbuf;
mod packed;
mod selftest;
mod version;

use napi::{Env, Value};

/// Lets node check the Node-API version before registering the module.
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    napi::NAPI_VERSION
}

/// Entry point node looks up after dlopen.
///
/// # Safety
/// Called by node only, with a live `env` and the module's `exports` object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: Env, exports: Value) -> Value {
    selftest::run();
    match exports::register(env, exports) {
        Ok(()) => exports,
        Err(e) => {
            napi::throw(env, &e);
            core::ptr::null_mut()
        }
    }
}
