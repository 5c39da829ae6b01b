//! The WGSL registry: every shader of linops, included at compile time from `shaders/`.
//!
//! Each `.wgsl` file in the workspace's `shaders/` folder appears here exactly once, through
//! `include_str!` (a missing file is a compile error). Shared WGSL snippets (`philox.wgsl`:
//! Philox4x32-10 and the distributions; `gemm_tile.wgsl`: the register-blocked tile loop of the
//! GEMM family; `gemm_stage.wgsl`: staging of the A and B slices; `gemm_operands.wgsl`: the stored A and B of
//! `gemm` and `block_gemm`) are prepended by [`assemble`], the only place where shader
//! text is combined. Pipelines, tests and tools all read shader text through this module.

/// One WGSL source file, assembled and ready for `create_shader_module`.
#[derive(Debug, Clone)]
pub struct ShaderSource {
    /// Stem of the file in `shaders/` (also the pipeline label prefix), e.g. `"gemm"`.
    pub name: &'static str,
    /// Full WGSL text after [`assemble`] prepended the shared snippets it needs.
    pub source: String,
    /// The `@compute` entry points the file defines.
    pub entry_points: Vec<&'static str>,
}

/// Raw file: (name, text, entry points, shared snippets it needs).
struct RawShader {
    name: &'static str,
    text: &'static str,
    entry_points: &'static [&'static str],
    shared: &'static [&'static str],
}

/// Every shader file of the crate, in one table.
const RAW: &[RawShader] = &[
    RawShader {
        name: "gemm",
        text: include_str!("../../../shaders/gemm.wgsl"),
        entry_points: &["gemm", "gemm_diag"],
        shared: &["gemm_tile", "gemm_stage", "gemm_operands"],
    },
    RawShader {
        name: "elementwise",
        text: include_str!("../../../shaders/elementwise.wgsl"),
        entry_points: &[
            "axpby",
            "scale",
            "diag_scale_left",
            "diag_scale_right",
            "fill",
            "copy_cols",
        ],
        shared: &[],
    },
    RawShader {
        name: "transpose",
        text: include_str!("../../../shaders/transpose.wgsl"),
        entry_points: &["transpose"],
        shared: &[],
    },
    RawShader {
        name: "reduce",
        text: include_str!("../../../shaders/reduce.wgsl"),
        entry_points: &["col_norms", "col_dots"],
        shared: &[],
    },
    RawShader {
        name: "block_gemm",
        text: include_str!("../../../shaders/block_gemm.wgsl"),
        entry_points: &["block_gemm"],
        shared: &["gemm_tile", "gemm_stage", "gemm_operands"],
    },
    RawShader {
        name: "batched_gemm",
        text: include_str!("../../../shaders/batched_gemm.wgsl"),
        entry_points: &["batched_gemm"],
        shared: &["gemm_tile", "gemm_stage", "gemm_operands"],
    },
    RawShader {
        name: "butterfly",
        text: include_str!("../../../shaders/butterfly.wgsl"),
        entry_points: &["butterfly"],
        shared: &[],
    },
    RawShader {
        name: "kronecker_gemm",
        text: include_str!("../../../shaders/kronecker_gemm.wgsl"),
        entry_points: &["kronecker_gemm"],
        shared: &[],
    },
    RawShader {
        name: "gather",
        text: include_str!("../../../shaders/gather.wgsl"),
        entry_points: &["gather"],
        shared: &[],
    },
    RawShader {
        name: "random_fill",
        text: include_str!("../../../shaders/random_fill.wgsl"),
        entry_points: &["philox_bits", "random_fill", "random_matrix"],
        shared: &["philox"],
    },
    RawShader {
        name: "sketch_gemm",
        text: include_str!("../../../shaders/sketch_gemm.wgsl"),
        entry_points: &["sketch_gemm"],
        shared: &["philox", "gemm_tile", "gemm_stage"],
    },
    RawShader {
        name: "fwht",
        text: include_str!("../../../shaders/fwht.wgsl"),
        entry_points: &["fwht_local", "fwht_strided", "srht_local", "srht_strided"],
        shared: &["fwht_block"],
    },
    RawShader {
        name: "monarch",
        text: include_str!("../../../shaders/monarch.wgsl"),
        entry_points: &["monarch"],
        shared: &[],
    },
    RawShader {
        name: "fwht_base",
        text: include_str!("../../../shaders/fwht_base.wgsl"),
        entry_points: &["fwht_base"],
        shared: &[],
    },
    RawShader {
        name: "fwht_subgroup",
        text: include_str!("../../../shaders/fwht_subgroup.wgsl"),
        entry_points: &["fwht_local_subgroup", "srht_local_subgroup"],
        shared: &["fwht_block"],
    },
    RawShader {
        name: "coop_convert",
        text: include_str!("../../../shaders/coop_convert.wgsl"),
        entry_points: &["coop_absmax", "coop_convert"],
        shared: &["coop_half"],
    },
    RawShader {
        name: "dct",
        text: include_str!("../../../shaders/dct.wgsl"),
        entry_points: &["dct", "dct_direct"],
        shared: &[],
    },
    RawShader {
        name: "batch_transpose",
        text: include_str!("../../../shaders/batch_transpose.wgsl"),
        entry_points: &["batch_transpose"],
        shared: &[],
    },
    RawShader {
        name: "spmm",
        text: include_str!("../../../shaders/spmm.wgsl"),
        entry_points: &["spmm"],
        shared: &[],
    },
];

/// Shared WGSL snippets that [`assemble`] may prepend: (name, text).
const SHARED: &[(&str, &str)] = &[
    ("philox", include_str!("../../../shaders/philox.wgsl")),
    ("gemm_tile", include_str!("../../../shaders/gemm_tile.wgsl")),
    (
        "gemm_stage",
        include_str!("../../../shaders/gemm_stage.wgsl"),
    ),
    (
        "gemm_operands",
        include_str!("../../../shaders/gemm_operands.wgsl"),
    ),
    (
        "fwht_block",
        include_str!("../../../shaders/fwht_block.wgsl"),
    ),
    ("coop_half", include_str!("../../../shaders/coop_half.wgsl")),
];

/// Names of the `naga::valid::Capabilities` flags the shaders need (as spelled by naga's
/// bitflags, usable with `Capabilities::from_name`): `SUBGROUP` for the files in
/// [`SUBGROUP_SHADERS`], which are compiled only on a device with `Features::SUBGROUP` (the
/// device requests it whenever the adapter has it); every other shader is core WGSL.
///
/// # Examples
/// ```
/// assert_eq!(linops_gpu::shaders::REQUIRED_CAPABILITIES, &["SUBGROUP"]);
/// ```
pub const REQUIRED_CAPABILITIES: &[&str] = &["SUBGROUP"];

/// The shader files that use subgroup operations, compiled only on a
/// device with `Features::SUBGROUP`; each has a workgroup-memory counterpart for other devices.
///
/// # Examples
/// ```
/// assert!(linops_gpu::shaders::SUBGROUP_SHADERS.contains(&"fwht_subgroup"));
/// ```
pub const SUBGROUP_SHADERS: &[&str] = &["fwht_subgroup"];

/// The naga capability names the shaders need; see [`REQUIRED_CAPABILITIES`].
///
/// # Examples
/// ```
/// assert_eq!(linops_gpu::shaders::required_capabilities(), &["SUBGROUP"]);
/// ```
#[must_use]
pub fn required_capabilities() -> &'static [&'static str] {
    REQUIRED_CAPABILITIES
}

/// Names of all shader files, in registry order (the optional ones of [`optional`] last).
///
/// # Examples
/// ```
/// assert!(linops_gpu::shaders::names().contains(&"gemm"));
/// assert!(linops_gpu::shaders::names().contains(&"coop_gemm"));
/// ```
#[must_use]
pub fn names() -> Vec<&'static str> {
    RAW.iter()
        .map(|r| r.name)
        .chain(OPTIONAL.iter().map(|o| o.name))
        .collect()
}

/// A shader that needs naga capabilities beyond core WGSL: compiled only when a cargo feature
/// and the adapter allow it, never part of [`all`].
#[derive(Debug, Clone)]
pub struct OptionalShader {
    /// Stem of the file in `shaders/` (also the pipeline label).
    pub name: &'static str,
    /// Full WGSL text (no shared snippets).
    pub source: &'static str,
    /// The `@compute` entry points the file defines.
    pub entry_points: &'static [&'static str],
    /// The naga capability names it needs (as spelled by `Capabilities::from_name`).
    pub capabilities: &'static [&'static str],
}

/// Every optional shader, in one table.
/// The cooperative-matrix files are followed by the conversion snippet `coop_half.wgsl` (also in
/// [`shared_names`], for `coop_convert`): appended, not prepended, because their `enable`
/// directives must come first.
const OPTIONAL: &[OptionalShader] = &[
    OptionalShader {
        name: "coop_gemm",
        source: concat!(
            include_str!("../../../shaders/coop_gemm.wgsl"),
            include_str!("../../../shaders/coop_half.wgsl")
        ),
        entry_points: &["coop_gemm"],
        capabilities: &["SHADER_FLOAT16", "COOPERATIVE_MATRIX"],
    },
    OptionalShader {
        name: "coop_block_gemm",
        source: concat!(
            include_str!("../../../shaders/coop_block_gemm.wgsl"),
            include_str!("../../../shaders/coop_half.wgsl")
        ),
        entry_points: &["coop_block_gemm"],
        capabilities: &["SHADER_FLOAT16", "COOPERATIVE_MATRIX"],
    },
];

/// The shaders that need capabilities beyond core WGSL (see [`OptionalShader`]).
///
/// # Examples
/// ```
/// let o = linops_gpu::shaders::optional();
/// assert!(o.iter().any(|s| s.name == "coop_gemm" && s.capabilities.contains(&"COOPERATIVE_MATRIX")));
/// ```
#[must_use]
pub fn optional() -> &'static [OptionalShader] {
    OPTIONAL
}

/// The assembled WGSL of shader `name` (shared snippets first, then the file); an unknown name
/// gives an empty string.
///
/// # Examples
/// ```
/// assert!(linops_gpu::shaders::assemble("gemm").contains("fn gemm"));
/// assert!(linops_gpu::shaders::assemble("nope").is_empty());
/// ```
#[must_use]
pub fn assemble(name: &str) -> String {
    let Some(raw) = RAW.iter().find(|r| r.name == name) else {
        return String::new();
    };
    let mut out = String::new();
    for snippet in raw.shared {
        if let Some((_, text)) = SHARED.iter().find(|(n, _)| n == snippet) {
            out.push_str(text);
            out.push('\n');
        }
    }
    out.push_str(raw.text);
    out
}

/// Names of the shared snippets (files in `shaders/` that are prepended, not compiled alone).
///
/// # Examples
/// ```
/// assert!(linops_gpu::shaders::shared_names().contains(&"fwht_block"));
/// ```
#[must_use]
pub fn shared_names() -> Vec<&'static str> {
    SHARED.iter().map(|(n, _)| *n).collect()
}

/// Every shader, assembled.
///
/// # Examples
/// ```
/// let all = linops_gpu::shaders::all();
/// assert!(all.iter().any(|s| s.entry_points.contains(&"col_norms")));
/// ```
#[must_use]
pub fn all() -> Vec<ShaderSource> {
    RAW.iter()
        .map(|r| ShaderSource {
            name: r.name,
            source: assemble(r.name),
            entry_points: r.entry_points.to_vec(),
        })
        .collect()
}

/// The shader file that defines `entry_point`, if any.
pub(crate) fn file_of(entry_point: &str) -> Option<&'static str> {
    RAW.iter()
        .find(|r| r.entry_points.contains(&entry_point))
        .map(|r| r.name)
}
