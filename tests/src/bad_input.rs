//! Bad input gives a typed error, never a panic, identically on every backend.
//!
//! Policy for non-finite values (documented in the `linops` crate docs): NaN and ±Inf are rejected
//! where data enters linops — operator parameters when an op is built, X when it is applied or
//! uploaded — with `Error::NonFinite` naming the position, on the CPU and the GPU alike.

use crate::support::{gpu_engines, report};
use faer::Mat;
use linops::{Engine, Error, Op};

fn engines() -> Vec<Engine> {
    let mut v = vec![Engine::cpu()];
    if let Some((gpu, _)) = gpu_engines() {
        v.push(gpu);
    }
    v
}

#[test]
fn op_construction_rejects_bad_shapes_and_values() {
    let a = Op::dense(2, 3, vec![1.0; 6]).unwrap();
    assert!(matches!(
        Op::product(vec![a.clone(), a.clone()]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Op::sum(vec![a.clone(), a.t()]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Op::product(vec![]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(Op::sum(vec![]), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        Op::dense(2, 3, vec![1.0; 5]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Op::dense(0, 3, vec![]),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(
        Op::dense(3, 0, vec![]),
        Err(Error::EmptyDimension { .. })
    ));
    assert!(matches!(Op::identity(0), Err(Error::EmptyDimension { .. })));
    assert!(matches!(
        Op::diagonal(vec![]),
        Err(Error::EmptyDimension { .. })
    ));
    match Op::dense(2, 2, vec![1.0, 2.0, f64::NAN, 4.0]) {
        Err(Error::NonFinite { row: 0, col: 1, .. }) => {}
        other => panic!("expected NonFinite at (0, 1), got {other:?}"),
    }
    assert!(matches!(
        Op::diagonal(vec![1.0, f64::INFINITY]),
        Err(Error::NonFinite { row: 1, .. })
    ));
    assert!(matches!(
        a.clone().scaled(f64::NAN),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        a.scaled(f64::NEG_INFINITY),
        Err(Error::NonFinite { .. })
    ));
}

#[test]
fn apply_rejects_bad_inputs_on_every_backend() {
    let op = Op::dense(3, 4, (0..12).map(f64::from).collect()).unwrap();
    let mut kinds = Vec::new();
    for e in engines() {
        let name = e.name();
        // Shape mismatch: X must have op.cols() rows.
        let err = e.apply(&op, Mat::<f32>::zeros(3, 2).as_ref()).unwrap_err();
        assert!(
            matches!(err, Error::ShapeMismatch { .. }),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().contains("4 rows"),
            "{name}: message should say what was expected: {err}"
        );
        // Zero-sized X.
        let err = e.apply(&op, Mat::<f32>::zeros(4, 0).as_ref()).unwrap_err();
        assert!(
            matches!(err, Error::EmptyDimension { .. }),
            "{name}: {err:?}"
        );
        let err = e.apply(&op, Mat::<f32>::zeros(0, 3).as_ref()).unwrap_err();
        assert!(
            matches!(err, Error::EmptyDimension { .. }),
            "{name}: {err:?}"
        );
        // NaN and Inf in X, reported at their position.
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = Mat::<f32>::zeros(4, 2);
            x[(2, 1)] = bad;
            match e.apply(&op, x.as_ref()) {
                Err(Error::NonFinite { row: 2, col: 1, .. }) => {}
                other => panic!("{name}: expected NonFinite at (2, 1) for {bad}, got {other:?}"),
            }
        }
        // Matrices carry their dtype: downloading as another type is an error, not a cast.
        let m = e.upload(Mat::<f32>::zeros(2, 2).as_ref()).unwrap();
        assert!(
            matches!(e.download::<f64>(&m), Err(Error::InvalidArgument(_))),
            "{name}"
        );
        kinds.push(name);
    }
    report(&format!("bad-input suite ran on: {}", kinds.join(", ")));
}

#[test]
fn gpu_specific_errors_are_typed() {
    let Some((gpu, _)) = gpu_engines() else {
        return;
    };
    let cpu = Engine::cpu();
    // The GPU computes in f32: f64 data is refused, not silently rounded.
    let op = Op::identity(2).unwrap();
    assert!(matches!(
        gpu.apply(&op, Mat::<f64>::zeros(2, 1).as_ref()),
        Err(Error::Unsupported(_))
    ));
    // A matrix of one engine is not accepted by another.
    let on_cpu = cpu.upload(Mat::<f32>::zeros(2, 1).as_ref()).unwrap();
    assert!(matches!(
        gpu.apply_to(&op, &on_cpu),
        Err(Error::InvalidArgument(_))
    ));
    let on_gpu = gpu.upload(Mat::<f32>::zeros(2, 1).as_ref()).unwrap();
    assert!(matches!(
        cpu.apply_to(&op, &on_gpu),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn gpu_output_over_the_binding_limit_is_tiled_or_a_device_limit_error() {
    let Some((gpu, _)) = gpu_engines() else {
        return;
    };
    let limit = gpu
        .gpu_backend()
        .expect("gpu engine")
        .gpu()
        .max_binding_bytes();
    // A tall 65536×1 operator applied to a wide 1×b block: tiny inputs, an output over the limit.
    let n = 65536usize;
    let b = (limit / (4 * n as u64)) as usize + 1;
    let op = Op::dense(n, 1, vec![1.0; n]).unwrap();
    let x = Mat::<f32>::from_fn(1, b, |_, _| 1.0);
    // From the host, Y is computed and downloaded in column panels (issue 10): exact ones.
    let y = gpu
        .apply(&op, x.as_ref())
        .unwrap_or_else(|e| panic!("{n}x{b} output (limit {limit} bytes) from the host: {e}"));
    assert!(
        (0..b).all(|j| (0..n).all(|i| y[(i, j)] == 1.0)),
        "tiled {n}x{b} output is not all ones"
    );
    // A resident result is one buffer: over the limit it is a DeviceLimit naming Y.
    let xm = gpu.upload(x.as_ref()).unwrap();
    match gpu.apply_to(&op, &xm) {
        Err(Error::DeviceLimit {
            what,
            limit_name,
            limit: l,
            requested,
        }) => {
            assert!(
                requested > l,
                "requested {requested} should exceed the limit {l}"
            );
            assert!(what.contains("output block Y"), "{what}");
            assert!(!limit_name.is_empty());
        }
        other => panic!(
            "expected DeviceLimit for a resident {n}x{b} output (limit {limit} bytes), got {:?}",
            other.map(|m| m.shape())
        ),
    }
}
