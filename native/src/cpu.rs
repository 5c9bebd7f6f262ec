//! Whether the CPU's AES instructions are in use. OpenSSL picks its AES-NI + PCLMULQDQ GCM code
//! from the same CPUID bits, unless the OPENSSL_ia32cap environment variable masks them, which
//! is honoured here too so the answer stays truthful.

#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
pub fn hardware_aes() -> bool {
    let cpu = std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq");
    cpu && !ia32cap_disables_aes(std::env::var("OPENSSL_ia32cap").ok().as_deref())
}

/// OPENSSL_ia32cap is "[~]<u64>[:...]": with `~` the bits are cleared from the detected
/// capabilities, without it they replace them. AES-NI is bit 57 and PCLMULQDQ bit 33 of the
/// first 64-bit word (CPUID.1:ECX bits 25 and 1).
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn ia32cap_disables_aes(var: Option<&str>) -> bool {
    const NEEDED: u64 = (1 << 57) | (1 << 33);
    let Some(v) = var else { return false };
    let first = v.split(':').next().unwrap_or("").trim();
    let (complement, digits) = match first.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, first),
    };
    if digits.is_empty() {
        return false;
    }
    let parsed = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    };
    // An unparsable value: OpenSSL's strtoull would read it as 0 (replace = disables, ~ = no-op).
    let value = parsed.unwrap_or(0);
    if complement {
        value & NEEDED != 0
    } else {
        value & NEEDED != NEEDED
    }
}

#[cfg(target_arch = "aarch64")]
pub fn hardware_aes() -> bool {
    std::arch::is_aarch64_feature_detected!("aes") && std::arch::is_aarch64_feature_detected!("pmull")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
pub fn hardware_aes() -> bool {
    false
}
