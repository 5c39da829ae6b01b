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
