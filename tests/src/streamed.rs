//! Operands past device memory (issue 10, item 2): with the device memory clamped
//! (`Engine::set_max_device_bytes`), a dense operand that does not fit beside `X` and `Y` stays on
//! the host and is streamed through the engine in row panels. The results equal the resident
//! ones (each row of `Y` is the same dot products: equal to rounding, bit for bit where the
//! kernel's reduction order does not depend on the panel's height), `explain()` says so, the
//! GPU pool's peak stays under the clamp, and what cannot fit is a typed `DeviceLimit`.

use crate::support::{Rng, magnitude, report};
use faer::Mat;
use linops::{DeviceOptions, Engine, Error, GpuDevice};

/// `|y − y_ref| ≤ 2·γ_{n+2}·(|A||X|)` entrywise: both results are length-`n` dot products
/// (Higham, Thm. 3.5), scaled once. Returns the number of entries that differ at all.
fn check_close(
    what: &str,
    y: &Mat<f64>,
    yref: &Mat<f64>,
    mag: &Mat<f64>,
    n: usize,
    u: f64,
) -> usize {
    let g = (n + 2) as f64 * u;
    let mut differ = 0;
    for j in 0..y.ncols() {
        for i in 0..y.nrows() {
            let d = (y[(i, j)] - yref[(i, j)]).abs();
            differ += usize::from(d != 0.0);
            let bound = 2.0 * g * mag[(i, j)];
            assert!(
                d <= bound,
                "{what}: Y[{i},{j}] = {:e}, resident {:e}, |diff| {d:e} > {bound:e}",
                y[(i, j)],
                yref[(i, j)]
            );
        }
    }
    differ
}

/// The CPU engine streams a 300×200 f64 operand (480 kB) through a 64 KiB "device", from the
/// host and from a resident `X`, plain and scaled.
#[test]
fn cpu_streams_a_dense_operand_past_the_clamp() {
    let (m, n, c) = (300, 200, 3);
    let mut rng = Rng::new(71);
    let a = rng.dense_op(m, n);
    let x = rng.mat(n, c);
    for (name, op) in [
        ("dense", a.clone()),
        ("scaled dense", a.scaled(-0.75).unwrap()),
    ] {
        let resident = Engine::cpu();
        let yref = resident.apply(&op, x.as_ref()).unwrap();
        let e = Engine::cpu();
        e.set_max_device_bytes(Some(64 * 1024)).unwrap();
        let t = e.tiled_plan::<f64>(&op, n, c).unwrap();
        let st = t
            .streaming()
            .expect("the operand is over the clamp")
            .clone();
        let text = t.explain();
        assert!(
            text.contains(&format!("streamed from the host in {} panels", st.panels)),
            "{name}: explain() does not state the streaming:\n{text}"
        );
        assert!(st.panels > 1 && st.panel_rows * st.panels >= m);
        assert!(
            resident
                .tiled_plan::<f64>(&op, n, c)
                .unwrap()
                .explain()
                .contains("resident: on the device"),
            "{name}: the unclamped plan does not say it is resident"
        );
        let before = e.transfers();
        let y = e.apply(&op, x.as_ref()).unwrap();
        let t = e.transfers().since(&before);
        assert_eq!(
            t.bulk_uploads,
            1 + st.panels as u64,
            "{name}: X once and each panel once: {t:?}"
        );
        let mag = magnitude(&op, x.as_ref());
        let d = check_close(name, &y, &yref, &mag, n, f64::EPSILON / 2.0);
        // From a resident X (the path of the iterative drivers).
        let xm = e.upload(x.as_ref()).unwrap();
        let yr = e.download::<f64>(&e.apply_to(&op, &xm).unwrap()).unwrap();
        let dr = check_close(name, &yr, &yref, &mag, n, f64::EPSILON / 2.0);
        report(&format!(
            "streamed cpu {name}: {} panels of {} rows ({} bytes); {d} and {dr} of {} entries \
             differ from the resident apply",
            st.panels,
            st.panel_rows,
            st.panel_bytes,
            m * c
        ));
    }
}

/// Too small a device for even one-row panels beside `X` is a typed error naming the clamp.
#[test]
fn streaming_that_cannot_fit_is_a_device_limit() {
    let e = Engine::cpu();
    e.set_max_device_bytes(Some(4096)).unwrap();
    let a = Rng::new(3).dense_op(100, 1000);
    let x = Mat::<f64>::zeros(1000, 4); // X alone is 32 kB
    match e.apply(&a, x.as_ref()) {
        Err(Error::DeviceLimit {
            limit, limit_name, ..
        }) => {
            assert_eq!(limit, 4096);
            assert!(limit_name.contains("set_max_device_bytes"), "{limit_name}");
        }
        other => panic!("expected a DeviceLimit, got {other:?}"),
    }
    assert!(e.set_max_device_bytes(Some(100)).is_err());
}

/// On the GPU (lavapipe), a 600×300 f32 operand (720 kB) through a 256 KiB device: the result
/// equals the resident GPU apply and the CPU f32 one to rounding, and the pool's peak stays
/// under the clamp. A device of its own, so that other tests' buffers do not count.
#[test]
fn gpu_streams_a_dense_operand_within_the_clamp() {
    let dev = match GpuDevice::new(&DeviceOptions::from_env()) {
        Ok(d) => d,
        Err(err) => {
            if std::env::var("LINOPS_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("LINOPS_REQUIRE_GPU=1 but no GPU device: {err}");
            }
            report(&format!("SKIPPED (no GPU adapter: {err})"));
            return;
        }
    };
    let (m, n, c) = (600, 300, 4);
    let budget = 256 * 1024;
    let mut rng = Rng::new(72);
    let a = rng.dense_op(m, n);
    let x = rng.mat(n, c);
    let x32 = crate::support::to_f32(x.as_ref());
    let resident = Engine::from_device(dev.clone());
    let yref: Mat<f64> = {
        let y = resident.apply(&a, x32.as_ref()).unwrap();
        Mat::from_fn(m, c, |i, j| f64::from(y[(i, j)]))
    };
    drop(resident);
    let e = Engine::from_device(dev.clone());
    e.set_max_device_bytes(Some(budget)).unwrap();
    let t = e.tiled_plan::<f32>(&a, n, c).unwrap();
    let st = t
        .streaming()
        .expect("720 kB is over a 256 KiB device")
        .clone();
    assert!(
        t.explain().contains("streamed from the host in"),
        "{}",
        t.explain()
    );
    dev.trim_pool();
    dev.reset_peak_bytes();
    let y32 = e.apply(&a, x32.as_ref()).unwrap();
    let peak = dev.pool_stats().peak_bytes;
    let y = Mat::from_fn(m, c, |i, j| f64::from(y32[(i, j)]));
    let mag = magnitude(&a, x.as_ref());
    let u32r = f64::from(f32::EPSILON) / 2.0;
    let d = check_close("gpu streamed vs resident", &y, &yref, &mag, n, u32r);
    let ycpu = Engine::cpu().apply(&a, x32.as_ref()).unwrap();
    let ycpu = Mat::from_fn(m, c, |i, j| f64::from(ycpu[(i, j)]));
    check_close("gpu streamed vs cpu f32", &y, &ycpu, &mag, n, u32r);
    report(&format!(
        "streamed gpu: {} panels of {} rows ({} bytes), peak pool bytes {peak} (clamp {budget}); \
         {d} of {} entries differ from the resident GPU apply",
        st.panels,
        st.panel_rows,
        st.panel_bytes,
        m * c
    ));
    assert!(
        peak <= budget,
        "peak device bytes {peak} over the clamp {budget}"
    );
    assert!(
        peak >= st.panel_bytes,
        "peak {peak} below one panel ({}): nothing was counted",
        st.panel_bytes
    );
    // From a resident X (an iterative driver's path): the same rows.
    let xm = e.upload(x32.as_ref()).unwrap();
    let yr = e.download::<f32>(&e.apply_to(&a, &xm).unwrap()).unwrap();
    let yr = Mat::from_fn(m, c, |i, j| f64::from(yr[(i, j)]));
    check_close("gpu apply_to streamed", &yr, &yref, &mag, n, u32r);
    e.set_max_device_bytes(None).unwrap();
}
