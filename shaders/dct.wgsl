// dct.wgsl — orthonormal DCT-II (and its transpose, the DCT-III) of each column of a column-major
// f32 block, by Makhoul's reordering around an n-point complex radix-2 FFT in workgroup memory.
//
// Length: n a power of two, n ≤ CAP (2048: two f32 arrays of CAP entries, 16 KiB). The host
// refuses other lengths (Error::Unsupported) before dispatching.
//
// DCT-II (inverse == 0), column x of n entries:
//   v[makhoul(j)] = x[j]; V = FFT(v); y[k] = s_k * (cos(πk/2n)·Re V_k + sin(πk/2n)·Im V_k)
// DCT-III (inverse == 1), the transpose:
//   Z_k = x[k] / s_k (Z_n = 0); V_k = e^{iπk/2n}(Z_k − i·Z_{n−k}); v = unnormalized inverse FFT(V);
//   y[j] = (alpha/n) · Re v[makhoul(j)]
// with makhoul(j) = j/2 for even j, n − 1 − j/2 for odd j. The FFT is decimation in time: the input
// is stored at bit-reversed positions, then stages h = 1, 2, …, n/2 combine pairs h apart with the
// twiddle e^{∓2πi·t/n}, t = (q mod h)·n/(2h). All trigonometric factors come from the n×4 table
// (column-major: cos 2πk/n, sin 2πk/n, cos πk/2n, sin πk/2n), computed in f64 on the host.
//
// Bindings (group 0):
//   0: x      storage, read        — n×cols input
//   1: table  storage, read        — n×4 twiddle table
//   2: y      storage, read_write  — n×cols output (read only when beta != 0)
//   3: params uniform              — DctParams
//
// Work decomposition: one workgroup per column (linear workgroup index wid.x + wid.y·nwg.x over a
// 2-D grid; workgroups past `cols` return at once, a uniform branch). Dispatch: grid of `cols`.

struct DctParams {
    n: u32,
    log2n: u32,
    cols: u32,
    inverse: u32,
    s0: f32,     // DCT-II: alpha·√(1/n); DCT-III: √n (= 1/s_0)
    sk: f32,     // DCT-II: alpha·√(2/n); DCT-III: √(n/2) (= 1/s_k)
    post: f32,   // DCT-III: alpha/n
    beta: f32,
}

override WG: u32 = 256u;
const CAP: u32 = 2048u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: DctParams;

var<workgroup> re: array<f32, CAP>;
var<workgroup> im: array<f32, CAP>;

fn bitrev(k: u32, log2n: u32) -> u32 {
    if (log2n == 0u) {
        return 0u;
    }
    return reverseBits(k) >> (32u - log2n);
}

fn makhoul(n: u32, j: u32) -> u32 {
    if ((j & 1u) == 0u) {
        return j >> 1u;
    }
    return n - 1u - (j >> 1u);
}

@compute @workgroup_size(WG, 1, 1)
fn dct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let col = wid.x + wid.y * nwg.x;
    if (col >= params.cols) {
        return;
    }
    let n = params.n;
    let base = col * n;
    if (params.inverse == 0u) {
        for (var i = lidx; i < n; i += WG) {
            let p = bitrev(makhoul(n, i), params.log2n);
            re[p] = x[base + i];
            im[p] = 0.0;
        }
    } else {
        for (var k = lidx; k < n; k += WG) {
            var a = params.sk * x[base + k];
            var b = 0.0;
            if (k == 0u) {
                a = params.s0 * x[base];
            } else {
                b = params.sk * x[base + n - k];
            }
            let c = table[2u * n + k];
            let s = table[3u * n + k];
            let p = bitrev(k, params.log2n);
            re[p] = c * a + s * b;
            im[p] = s * a - c * b;
        }
    }
    workgroupBarrier();
    // Forward FFT twiddle e^{-iθ}, inverse e^{+iθ}.
    var sign = -1.0;
    if (params.inverse == 1u) {
        sign = 1.0;
    }
    for (var h = 1u; h < n; h <<= 1u) {
        let step = n / (2u * h);
        for (var q = lidx; q < n / 2u; q += WG) {
            let lo = q & (h - 1u);
            let i = ((q - lo) << 1u) + lo;
            let t = lo * step;
            let wr = table[t];
            let wi = sign * table[n + t];
            let xr = re[i + h];
            let xi = im[i + h];
            let br = xr * wr - xi * wi;
            let bi = xr * wi + xi * wr;
            let ar = re[i];
            let ai = im[i];
            re[i] = ar + br;
            im[i] = ai + bi;
            re[i + h] = ar - br;
            im[i + h] = ai - bi;
        }
        workgroupBarrier();
    }
    if (params.inverse == 0u) {
        for (var k = lidx; k < n; k += WG) {
            let v = table[2u * n + k] * re[k] + table[3u * n + k] * im[k];
            var t = params.sk * v;
            if (k == 0u) {
                t = params.s0 * v;
            }
            if (params.beta != 0.0) {
                t = t + params.beta * y[base + k];
            }
            y[base + k] = t;
        }
    } else {
        for (var i = lidx; i < n; i += WG) {
            var t = params.post * re[makhoul(n, i)];
            if (params.beta != 0.0) {
                t = t + params.beta * y[base + i];
            }
            y[base + i] = t;
        }
    }
}
