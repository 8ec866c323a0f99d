//! The instruction set every kernel runs on, detected once.

use std::sync::OnceLock;

/// An instruction set a kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpu {
    /// Plain Rust, on any CPU.
    Native,
    /// AVX2 with BMI1, BMI2, LZCNT and POPCNT (x86-64-v3: every x86-64 CPU since 2013):
    /// 256-bit vectors for the pixel work, variable shifts and bit counts for the entropy
    /// coders.
    Avx2,
}

impl Cpu {
    /// Every path, fastest last.
    pub const ALL: [Cpu; 2] = [Cpu::Native, Cpu::Avx2];

    /// The fastest path this CPU runs, detected once.
    pub fn detect() -> Self {
        static DETECTED: OnceLock<Cpu> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            if Cpu::Avx2.is_supported() {
                Cpu::Avx2
            } else {
                Cpu::Native
            }
        })
    }

    /// Whether this CPU runs the path.
    pub fn is_supported(self) -> bool {
        match self {
            Cpu::Native => true,
            #[cfg(target_arch = "x86_64")]
            Cpu::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("bmi1")
                    && std::arch::is_x86_feature_detected!("bmi2")
                    && std::arch::is_x86_feature_detected!("lzcnt")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Cpu::Avx2 => false,
        }
    }
}
