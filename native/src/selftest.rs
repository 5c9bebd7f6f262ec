//! Load-time check of the cheaper `CallStyle::Params` EVP calls. They rely on how OpenSSL 3's
//! GCM provider treats a whole-IV "tlsivfixed" parameter; if a future OpenSSL inside node
//! treated it differently, this check fails and every context falls back to the textbook calls.
//! (An unapplied IV could never pass silently anyway: GCM refuses to run without a fresh IV.)

use core::sync::atomic::{AtomicBool, Ordering};

use crate::context::{CallStyle, KeyContext, TAG_SIZE};

static PARAMS_OK: AtomicBool = AtomicBool::new(false);

// McGrew & Viega AES-256 test case 16 (96-bit IV, AAD) and a second message on the same
// context with another nonce, compared against the textbook calls.
const KEY: [u8; 32] = [
    0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08, 0xfe, 0xff, 0xe9, 0x92,
    0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
];
const IV: [u8; 12] = [0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88];
const AAD: [u8; 20] = [
    0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2,
];
const PT: [u8; 60] = [
    0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26, 0x9a, 0x86, 0xa7, 0xa9, 0x53,
    0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31, 0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53,
    0x2f, 0xcf, 0x0e, 0x24, 0x49, 0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39,
];
const TAG16: [u8; 16] = [
    0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68, 0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b,
];

unsafe fn check() -> bool {
    let Ok(mut ctx) = KeyContext::new(KEY.as_ptr()) else { return false };
    let mut a = [0u8; 60 + TAG_SIZE];
    let mut b = [0u8; 60 + TAG_SIZE];
    let mut opened = [0u8; 60];
    let iv2 = [7u8; 12];
    for (iv, want_tag) in [(IV, Some(TAG16)), (iv2, None), (IV, Some(TAG16))] {
        let seal = |ctx: &mut KeyContext, style, out: &mut [u8; 76]| {
            ctx.seal_with(style, iv.as_ptr(), AAD.as_ptr(), AAD.len(), PT.as_ptr(), PT.len(), out.as_mut_ptr()).is_ok()
        };
        if !seal(&mut ctx, CallStyle::Params, &mut a) || !seal(&mut ctx, CallStyle::Textbook, &mut b) || a != b {
            return false;
        }
        if want_tag.is_some_and(|t| a[60..] != t) {
            return false;
        }
        let opens = |ctx: &mut KeyContext, style, opened: &mut [u8; 60]| {
            matches!(
                ctx.open_with(style, iv.as_ptr(), AAD.as_ptr(), AAD.len(), a.as_ptr(), 60, a.as_ptr().add(60), opened.as_mut_ptr()),
                Ok(true)
            )
        };
        if !opens(&mut ctx, CallStyle::Params, &mut opened) || opened != PT {
            return false;
        }
        // A wrong tag must fail through the Params calls too.
        a[75] ^= 1;
        let forged = ctx.open_with(CallStyle::Params, iv.as_ptr(), AAD.as_ptr(), AAD.len(), a.as_ptr(), 60, a.as_ptr().add(60), opened.as_mut_ptr());
        a[75] ^= 1;
        if !matches!(forged, Ok(false)) {
            return false;
        }
    }
    true
}

/// Runs the check once (at module registration) and records the outcome.
pub fn run() {
    // SAFETY: uses only its own buffers and a context it creates.
    let ok = unsafe { check() };
    PARAMS_OK.store(ok, Ordering::Relaxed);
}

/// The call style every context uses.
pub fn default_style() -> CallStyle {
    if PARAMS_OK.load(Ordering::Relaxed) {
        CallStyle::Params
    } else {
        CallStyle::Textbook
    }
}

/// Whether the Params calls passed the load-time check (reported to JS for the benchmark).
pub fn params_ok() -> bool {
    PARAMS_OK.load(Ordering::Relaxed)
}
