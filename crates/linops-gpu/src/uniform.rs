//! Uniform blocks: one Rust declaration per WGSL `var<uniform>` struct, with its layout on record.
//!
//! Each kernel's parameters travel to its shader as a small uniform struct that exists twice: as a
//! `#[repr(C)]` Rust struct (written with `bytemuck`) and as a WGSL `struct` read by the shader. The
//! two must agree byte for byte, and nothing in either compiler checks that. So every Rust side is
//! declared through [`uniform_struct!`](crate::uniform_struct), which also records the shader it
//! belongs to and each field's name, offset and size; [`layouts`] lists them all, and the test suite
//! compares each with naga's layout of the WGSL struct of the same name (and checks that every
//! uniform of every shader has a record here).

/// One field of a uniform struct as Rust lays it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniformField {
    /// Field name (the WGSL member must have the same name).
    pub name: &'static str,
    /// Byte offset in the Rust struct.
    pub offset: usize,
    /// Byte size of the field.
    pub size: usize,
    /// The Rust type as written (`u32`, `f32`, `[u32; 4]`).
    pub ty: &'static str,
}

/// A uniform struct as Rust lays it out, and the shader it is bound in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniformLayout {
    /// Shader registry name (file stem in `shaders/`).
    pub shader: &'static str,
    /// Struct name, the same in Rust and WGSL.
    pub name: &'static str,
    /// `size_of` the Rust struct.
    pub size: usize,
    /// Fields in declaration order.
    pub fields: Vec<UniformField>,
}

/// Declares a uniform parameter struct (`#[repr(C)]`, `Pod`) and records its layout.
///
/// `uniform_struct! { /// docs  struct Name in "shader" { field: ty, ... } }` expands to the
/// struct and a `layout()` function returning its [`UniformLayout`].
#[macro_export]
#[doc(hidden)]
macro_rules! uniform_struct {
    ($(#[$meta:meta])* struct $name:ident in $shader:literal { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct $name {
            $($field: $ty),*
        }

        impl $name {
            /// This struct's Rust layout and the shader it belongs to.
            pub(crate) fn layout() -> $crate::uniform::UniformLayout {
                $crate::uniform::UniformLayout {
                    shader: $shader,
                    name: stringify!($name),
                    size: std::mem::size_of::<$name>(),
                    fields: vec![$($crate::uniform::UniformField {
                        name: stringify!($field),
                        offset: std::mem::offset_of!($name, $field),
                        size: std::mem::size_of::<$ty>(),
                        ty: stringify!($ty),
                    }),*],
                }
            }
        }
    };
}

impl UniformLayout {
    /// The same layout recorded for another shader that binds the same struct.
    ///
    /// # Examples
    /// ```
    /// let l = linops_gpu::uniform::layouts().remove(0).for_shader("x");
    /// assert_eq!(l.shader, "x");
    /// ```
    #[must_use]
    pub fn for_shader(mut self, shader: &'static str) -> Self {
        self.shader = shader;
        self
    }
}

/// Every uniform struct of every kernel, as Rust lays it out.
///
/// # Examples
/// ```
/// let all = linops_gpu::uniform::layouts();
/// let gemm = all.iter().find(|l| l.name == "GemmParams").unwrap();
/// assert_eq!((gemm.shader, gemm.size % 16), ("gemm", 0));
/// ```
pub fn layouts() -> Vec<UniformLayout> {
    use crate::kernels::*;
    vec![
        batch_transpose::BtParams::layout(),
        batched_gemm::BatchedGemmParams::layout(),
        block_gemm::BlockGemmParams::layout(),
        butterfly::ButterflyParams::layout(),
        coop_convert::CoopConvertParams::layout(),
        dct::DctParams::layout(),
        elementwise::EwParams::layout(),
        fwht::FwhtParams::layout(),
        fwht::FwhtBaseParams::layout(),
        // The same block, bound by the subgroup variant of the transform.
        fwht::FwhtParams::layout().for_shader("fwht_subgroup"),
        gemm::GemmParams::layout(),
        gather::GatherParams::layout(),
        kronecker_gemm::KronParams::layout(),
        monarch::MonarchParams::layout(),
        random_fill::FillParams::layout(),
        reduce::ReduceParams::layout(),
        sketch_gemm::SketchParams::layout(),
        spmm::SpmmParams::layout(),
        transpose::TransposeParams::layout(),
    ]
}
