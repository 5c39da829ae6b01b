//! The input conversion of the cooperative-matrix tier (`shaders/coop_half.wgsl`, run on its own
//! by `shaders/coop_convert.wgsl`): what an f32 entry becomes before the tensor cores see it.
//!
//! Mathematics: [`HalfInput::F16`] rounds `x` to binary16 (11 significant bits, unit roundoff
//! `u_h = 2⁻¹¹`, subnormals below `2⁻¹⁴`, overflow to ±Inf beyond 65520). [`HalfInput::Bf16`]
//! rounds `x` to bfloat16 (8 significant bits, `u_b = 2⁻⁸`, f32's exponent range) and multiplies
//! it by `2^s`, one power of two per operand chosen from its largest bf16 magnitude `M` so that
//! `2^s·M ∈ [2¹⁵, 2¹⁶)`: every scaled entry then lies within f16's range and, unless it is below
//! f16's normal range (`2^s·|x| < 2⁻¹⁴`), is exactly an f16 value (8 ≤ 11 significant bits).
//! Smaller entries are rounded to the f16 subnormal grid `2⁻²⁴`, an absolute error of at most
//! `2⁻²⁵·2^{−s} ≤ 2⁻⁴⁰·M` in the original units. The GEMM multiplies its f32 result by `2^{−s_A−s_B}`.
//! All of it is integer arithmetic on the f32 bits (round to nearest, ties to even), so every
//! device gives the same bits.
//!
//! Storage: a column-major f32 matrix in; out, three `u32` words per entry and the scale.
//! Cost: two passes over the entries (the maximum, then the conversion), each one dispatch of at
//! most 256 workgroups of 256 invocations in grid-stride loops.

use linops_core::{Error, Result};

use crate::kernels::to_u32;
use crate::{GpuDevice, GpuMat};

/// The half-precision format the cooperative-matrix tier rounds its f32 inputs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HalfInput {
    /// IEEE binary16: 11 significant bits, range ±65504.
    #[default]
    F16,
    /// bfloat16: 8 significant bits, f32's range; carried to the tensor cores as f16 after an
    /// exact power-of-two scaling of each operand.
    Bf16,
}

impl HalfInput {
    /// The shader's mode word (0 f16, 1 bf16).
    pub(crate) fn mode(self) -> u32 {
        match self {
            Self::F16 => 0,
            Self::Bf16 => 1,
        }
    }
}

crate::uniform_struct! {
    /// Uniform block of `coop_convert.wgsl` (`CoopConvertParams`).
    struct CoopConvertParams in "coop_convert" {
        len: u32,
        mode: u32,
        slot: u32,
        _pad0: u32,
    }
}

impl CoopConvertParams {
    /// The parameters of one operand of `len` entries, counted into slot `slot` of the maxima.
    pub(crate) fn new(len: usize, input: HalfInput, slot: u32) -> Result<Self> {
        Ok(Self {
            len: to_u32("coop_convert entries", len)?,
            mode: input.mode(),
            slot,
            _pad0: 0,
        })
    }
}

/// Workgroup size and largest grid of the conversion passes.
pub(crate) const CONVERT_WG: u32 = 256;
const CONVERT_MAX_GROUPS: usize = 256;

/// Workgroups of a grid-stride pass over `len` entries.
pub(crate) fn convert_groups(len: usize) -> u32 {
    len.div_ceil(CONVERT_WG as usize)
        .clamp(1, CONVERT_MAX_GROUPS) as u32
}

/// What the tier makes of a matrix's entries: see [`half_codes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HalfCodes {
    /// The f32 bits of each entry after the first rounding (bf16-rounded for
    /// [`HalfInput::Bf16`], unchanged for [`HalfInput::F16`]).
    pub rounded: Vec<u32>,
    /// The binary16 bits of `2^s` times the rounded entry: what the tensor cores multiply.
    pub codes: Vec<u32>,
    /// The f32 bits of each code's value (as the kernels decode it).
    pub values: Vec<u32>,
    /// The power of two `s` (0 for f16 and for a zero, infinite or NaN maximum).
    pub scale_exp: i32,
}

/// The tier's conversion of every entry of `x` (column-major order), computed on `dev` by the
/// same WGSL the cooperative kernels stage with; it needs no f16 or cooperative-matrix support.
///
/// # Errors
/// [`Error::EmptyDimension`] for an empty `x`; [`Error::InvalidArgument`] for a matrix of another
/// device or more entries than the u32 indices hold (`3·len + 1`); [`Error::Backend`] on device
/// errors.
///
/// # Examples
/// ```
/// # let Ok(dev) = linops_gpu::GpuDevice::new(&Default::default()) else { return };
/// use linops_gpu::kernels::coop_convert::{half_codes, HalfInput};
/// // 1 + 2⁻⁸ is a bf16 tie: it rounds to 1 (even); the maximum 1 is scaled by 2¹⁵.
/// let x = dev.upload(1, 2, &[1.0 + 2f32.powi(-8), -0.5]).unwrap();
/// let h = half_codes(&dev, &x, HalfInput::Bf16).unwrap();
/// assert_eq!(h.scale_exp, 15);
/// assert_eq!(h.codes, vec![0x7800, 0xf400]); // 2¹⁵ and −2¹⁴ in binary16
/// ```
pub fn half_codes(
    dev: &std::sync::Arc<GpuDevice>,
    x: &GpuMat,
    input: HalfInput,
) -> Result<HalfCodes> {
    let len = x.len();
    if len == 0 {
        return Err(Error::EmptyDimension {
            context: "half_codes: x".into(),
            rows: x.rows(),
            cols: x.cols(),
        });
    }
    dev.check_owned("half_codes: x", x)?;
    let out_len = len
        .checked_mul(3)
        .and_then(|v| v.checked_add(1))
        .ok_or_else(|| Error::InvalidArgument(format!("half_codes: 3·{len} + 1 overflows")))?;
    to_u32("half_codes output entries", out_len)?;
    let params = CoopConvertParams::new(len, input, 0)?;
    let maxes = dev.upload(2, 1, &[0.0, 0.0])?;
    let dst = dev.alloc(out_len, 1)?;
    let groups = [convert_groups(len), 1, 1];
    let wg = [("WG", f64::from(CONVERT_WG))];
    let mut enc = dev.encoder();
    if input == HalfInput::Bf16 {
        enc.record(
            "coop_absmax",
            &wg,
            &[(0, x), (1, &maxes)],
            bytemuck::bytes_of(&params),
            3,
            groups,
        )?;
    }
    enc.record(
        "coop_convert",
        &wg,
        &[(0, x), (1, &maxes), (2, &dst)],
        bytemuck::bytes_of(&params),
        3,
        groups,
    )?;
    enc.submit()?;
    let words: Vec<u32> = dev.download(&dst)?.iter().map(|v| v.to_bits()).collect();
    Ok(HalfCodes {
        rounded: words[..len].to_vec(),
        codes: words[len..2 * len].to_vec(),
        values: words[2 * len..3 * len].to_vec(),
        scale_exp: words[3 * len] as i32,
    })
}
