//! Load-time check of the two cheaper call styles against the textbook EVP calls:
//! - `CallStyle::Params` relies on how OpenSSL 3's GCM provider treats a whole-IV "tlsivfixed"
//!   parameter; if a future OpenSSL inside node treated it differently, this check fails and
//!   every context falls back to the textbook calls. (An unapplied IV could never pass silently
//!   anyway: GCM refuses to run without a fresh IV.)
//! - `CallStyle::Direct` (gcm.rs) relies on AES-NI entry points that are not OpenSSL API; if
//!   they are missing or disagree, contexts are built without the direct path.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::context::{CallStyle, KeyContext, TAG_SIZE};

static PARAMS_OK: AtomicBool = AtomicBool::new(false);
static DIRECT_OK: AtomicBool = AtomicBool::new(false);

// McGrew & Viega AES-256 test case 16 (96-bit IV, AAD), then every length of LENGTHS with and
// without AAD on the same context, compared against the textbook calls.
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

/// Plaintext lengths the self-test covers: empty, sub-block, block edges, the ≥ 128-byte bulk
/// loop of the CTR routine and its edge, and the direct path's upper limit (issue 8 item 3).
const LENGTHS: [usize; 8] = [0, 1, 15, 16, 17, 128, 129, 2048];
const MAX: usize = 2048;

/// True when `style` seals byte-identically to the textbook EVP calls (and to the published tag
/// for the 60-byte vector), opens its own output, and rejects a flipped tag, for every length in
/// LENGTHS with and without AAD (length 0 with AAD is the AAD-only case), on one context.
unsafe fn agrees(ctx: &mut KeyContext, style: CallStyle) -> bool {
    // The published vector first.
    let mut a = vec![0u8; MAX + TAG_SIZE];
    let mut b = vec![0u8; MAX + TAG_SIZE];
    let mut opened = vec![0u8; MAX];
    if !ctx.seal_with(style, IV.as_ptr(), AAD.as_ptr(), AAD.len(), PT.as_ptr(), 60, a.as_mut_ptr()).is_ok() || a[60..76] != TAG16 {
        return false;
    }
    let pt: Vec<u8> = (0..MAX).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect();
    let mut iv = [7u8; 12];
    for (n, &len) in LENGTHS.iter().enumerate() {
        for aad_len in [0usize, AAD.len()] {
            iv[11] = (n * 2 + aad_len) as u8;
            let seal = |ctx: &mut KeyContext, style, out: &mut [u8]| {
                ctx.seal_with(style, iv.as_ptr(), AAD.as_ptr(), aad_len, pt.as_ptr(), len, out.as_mut_ptr()).is_ok()
            };
            if !seal(ctx, style, &mut a) || !seal(ctx, CallStyle::Textbook, &mut b) || a[..len + TAG_SIZE] != b[..len + TAG_SIZE] {
                return false;
            }
            opened.fill(0);
            let r = ctx.open_with(style, iv.as_ptr(), AAD.as_ptr(), aad_len, a.as_ptr(), len, a.as_ptr().add(len), opened.as_mut_ptr());
            if !matches!(r, Ok(true)) || opened[..len] != pt[..len] {
                return false;
            }
            // The textbook calls open what this style sealed (cross-check of the tag).
            let r = ctx.open_with(CallStyle::Textbook, iv.as_ptr(), AAD.as_ptr(), aad_len, a.as_ptr(), len, a.as_ptr().add(len), opened.as_mut_ptr());
            if !matches!(r, Ok(true)) {
                return false;
            }
            // A wrong tag must fail through this style too.
            a[len + TAG_SIZE - 1] ^= 1;
            let forged = ctx.open_with(style, iv.as_ptr(), AAD.as_ptr(), aad_len, a.as_ptr(), len, a.as_ptr().add(len), opened.as_mut_ptr());
            if !matches!(forged, Ok(false)) {
                return false;
            }
        }
    }
    true
}

static REASON: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn set_reason(r: String) {
    *REASON.lock().unwrap_or_else(|p| p.into_inner()) = r;
}

/// Why the fast path is off ("" when it is on).
pub fn reason() -> String {
    REASON.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Runs the checks once (at module registration) and records the outcome. Never fails the
/// module: any problem leaves every message on EVP.
pub fn run() {
    // SAFETY: uses only its own buffers and a context it creates.
    unsafe {
        let Ok(mut ctx) = KeyContext::new_with(KEY.as_ptr(), false) else {
            set_reason("cannot create an EVP context".into());
            return;
        };
        PARAMS_OK.store(agrees(&mut ctx, CallStyle::Params), Ordering::Relaxed);
        drop(ctx);
        // Operators (and tests) can keep every message on the public EVP API.
        if std::env::var_os("SEALKV_NATIVE_EVP_ONLY").is_some_and(|v| v == "1") {
            set_reason("SEALKV_NATIVE_EVP_ONLY=1".into());
            return;
        }
        // Symbols, OpenSSL version and FIPS are checked before the direct path is ever keyed.
        if let Some(why) = crate::gcm::unavailable_reason() {
            set_reason(why);
            return;
        }
        let Ok(mut ctx) = KeyContext::new_with(KEY.as_ptr(), true) else {
            set_reason("cannot create a context".into());
            return;
        };
        if !ctx.has_direct() {
            set_reason("the direct GCM128 context could not be keyed".into());
            return;
        }
        let ok = agrees(&mut ctx, CallStyle::Direct);
        DIRECT_OK.store(ok, Ordering::Relaxed);
        if !ok {
            set_reason("the direct path disagreed with EVP in the load-time self-test".into());
        }
    }
}
/// Whether new contexts get the direct GCM path (gcm.rs) for short messages.
pub fn direct_ok() -> bool {
    DIRECT_OK.load(Ordering::Relaxed)
}

/// The EVP call style every context uses (for every message the direct path does not take).
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
