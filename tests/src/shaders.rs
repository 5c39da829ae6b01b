//! naga parses and validates every shader of the registry, with exactly the capabilities linops
//! requests (not `Capabilities::all()`), and every declared entry point exists as a compute stage.

use naga::valid::{Capabilities, ValidationFlags, Validator};

fn requested_capabilities() -> Capabilities {
    let mut caps = Capabilities::empty();
    for name in linops_gpu::shaders::required_capabilities() {
        caps |= Capabilities::from_name(name)
            .unwrap_or_else(|| panic!("unknown naga capability {name:?} in the shader registry"));
    }
    caps
}

#[test]
fn every_shader_parses_and_validates() {
    let all = linops_gpu::shaders::all();
    assert!(
        all.len() >= 4,
        "the registry lists only {} shaders",
        all.len()
    );
    let caps = requested_capabilities();
    let mut entry_points = 0;
    for shader in &all {
        let module = naga::front::wgsl::parse_str(&shader.source).unwrap_or_else(|e| {
            panic!(
                "{}.wgsl does not parse:\n{}",
                shader.name,
                e.emit_to_string(&shader.source)
            )
        });
        Validator::new(ValidationFlags::all(), caps)
            .validate(&module)
            .unwrap_or_else(|e| panic!("{}.wgsl does not validate: {e:?}", shader.name));
        assert!(
            !shader.entry_points.is_empty(),
            "{} declares no entry points",
            shader.name
        );
        for ep in &shader.entry_points {
            let found = module.entry_points.iter().find(|e| e.name == *ep);
            let found =
                found.unwrap_or_else(|| panic!("{}.wgsl lacks entry point {ep}", shader.name));
            assert_eq!(
                found.stage,
                naga::ShaderStage::Compute,
                "{}::{ep} is not a compute entry point",
                shader.name
            );
            entry_points += 1;
        }
        // Every compute entry point in the file is declared in the registry (none is unreachable).
        for e in &module.entry_points {
            assert!(
                shader.entry_points.contains(&e.name.as_str()),
                "{}.wgsl defines {} which the registry does not list",
                shader.name,
                e.name
            );
        }
    }
    crate::support::report(&format!(
        "naga validated {} shaders, {entry_points} entry points",
        all.len()
    ));
}

#[test]
fn every_file_in_shaders_dir_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shaders");
    let names = linops_gpu::shaders::names();
    let shared = linops_gpu::shaders::shared_names();
    for entry in std::fs::read_dir(dir).expect("shaders/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("wgsl") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_string();
            assert!(
                names.contains(&stem.as_str()) || shared.contains(&stem.as_str()),
                "shaders/{stem}.wgsl is not in the registry"
            );
        }
    }
}

/// A WGSL or Rust field type reduced to what the byte layout depends on: scalar kind and count.
fn rust_field_kind(ty: &str) -> (&'static str, u32) {
    let scalar = |s: &str| match s.trim() {
        "u32" => "u32",
        "i32" => "i32",
        "f32" => "f32",
        other => panic!("uniform field type {other:?} has no WGSL counterpart in this test"),
    };
    match ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(inner) => {
            let (s, n) = inner.split_once(';').expect("array type [T; N]");
            (scalar(s), n.trim().parse().expect("array length"))
        }
        None => (scalar(ty), 1),
    }
}

fn wgsl_field_kind(inner: &naga::TypeInner) -> (&'static str, u32) {
    let scalar = |s: &naga::Scalar| match (s.kind, s.width) {
        (naga::ScalarKind::Uint, 4) => "u32",
        (naga::ScalarKind::Sint, 4) => "i32",
        (naga::ScalarKind::Float, 4) => "f32",
        other => panic!("uniform member of scalar {other:?} is not expected"),
    };
    match inner {
        naga::TypeInner::Scalar(s) => (scalar(s), 1),
        naga::TypeInner::Vector { size, scalar: s } => (scalar(s), *size as u32),
        other => panic!("uniform member of type {other:?} is not expected"),
    }
}

/// The Rust and WGSL sides of every uniform struct agree: same members in the same order, with the
/// same names, scalar types, offsets and sizes, and the same total size (naga's layout is the one
/// the shader compiler uses). And every `var<uniform>` of every shader has a Rust record, so a new
/// uniform struct cannot skip this check.
#[test]
fn uniform_structs_match_their_rust_layouts() {
    let layouts = linops_gpu::uniform::layouts();
    let mut checked = 0;
    for shader in linops_gpu::shaders::all() {
        let module = naga::front::wgsl::parse_str(&shader.source).expect("parses (checked above)");
        let mut layouter = naga::proc::Layouter::default();
        layouter
            .update(module.to_ctx())
            .expect("naga lays out every type");
        for (_, var) in module.global_variables.iter() {
            if var.space != naga::AddressSpace::Uniform {
                continue;
            }
            let ty = &module.types[var.ty];
            let name = ty.name.as_deref().unwrap_or("<anonymous>");
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{}.wgsl: uniform {name} is not a struct", shader.name);
            };
            let rust = layouts
                .iter()
                .find(|l| l.shader == shader.name && l.name == name)
                .unwrap_or_else(|| {
                    panic!(
                        "{}.wgsl binds uniform struct {name} with no Rust record in \
                         linops_gpu::uniform::layouts()",
                        shader.name
                    )
                });
            assert_eq!(
                rust.size, *span as usize,
                "{}: {name} is {} bytes in Rust, {span} in WGSL",
                shader.name, rust.size
            );
            let wgsl: Vec<_> = members
                .iter()
                .map(|m| {
                    let (kind, n) = wgsl_field_kind(&module.types[m.ty].inner);
                    (
                        m.name.clone().unwrap_or_default(),
                        m.offset as usize,
                        layouter[m.ty].size as usize,
                        kind,
                        n,
                    )
                })
                .collect();
            let ours: Vec<_> = rust
                .fields
                .iter()
                .map(|f| {
                    let (kind, n) = rust_field_kind(f.ty);
                    (f.name.to_string(), f.offset, f.size, kind, n)
                })
                .collect();
            assert_eq!(
                ours, wgsl,
                "{}: {name} differs between Rust (left) and WGSL (right): \
                 (name, offset, size, scalar, count)",
                shader.name
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        layouts.len(),
        "every Rust uniform record is bound by its shader ({} records, {checked} matched)",
        layouts.len()
    );
    crate::support::report(&format!(
        "uniform layouts: {checked} structs agree between Rust and naga"
    ));
}

/// Every kind of plan kernel names a shader file or an entry-point family of the registry (the
/// stem followed through the layers: `KernelKind::label` ↔ WGSL ↔ pipeline label), so a kernel
/// added to core without a GPU home is caught here as well as by the exhaustive dispatch.
#[test]
fn every_kernel_kind_names_a_shader_or_entry_point() {
    let all = linops_gpu::shaders::all();
    for kind in linops::plan::KernelKind::ALL {
        let label = kind.label();
        let found = all.iter().any(|s| {
            s.name == label
                || s.entry_points
                    .iter()
                    .any(|e| *e == label || e.starts_with(&format!("{label}_")))
        });
        assert!(
            found,
            "kernel {kind:?} (`{label}`) has no shader or entry point of that name"
        );
    }
}

/// The subgroup capability is confined to the files that have a workgroup-memory counterpart:
/// every other shader validates without it (so it runs on a device without `Features::SUBGROUP`),
/// and each subgroup file fails without it (so it really uses subgroup operations, and the test
/// that compares its results with the fallback compares two different paths).
#[test]
fn only_the_subgroup_shaders_need_subgroups() {
    let subgroup = linops_gpu::shaders::SUBGROUP_SHADERS;
    assert!(!subgroup.is_empty());
    for shader in linops_gpu::shaders::all() {
        let module = naga::front::wgsl::parse_str(&shader.source).expect("parses (checked above)");
        let core = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module);
        if subgroup.contains(&shader.name) {
            assert!(
                core.is_err(),
                "{}.wgsl is listed as a subgroup shader but validates without SUBGROUP",
                shader.name
            );
        } else {
            core.unwrap_or_else(|e| {
                panic!(
                    "{}.wgsl needs a capability beyond core WGSL: {e:?}",
                    shader.name
                )
            });
        }
    }
    for name in subgroup {
        assert!(
            linops_gpu::shaders::names().contains(name),
            "SUBGROUP_SHADERS names {name}, which is not in the registry"
        );
    }
}
