// dct.wgsl — orthonormal DCT-II (and its transpose, the DCT-III) of each column of a column-major
// f32 block, by Makhoul's reordering around an n-point complex radix-2 FFT in workgroup memory.
//
// Two entry points over the same bindings and uniform:
// - `dct`: n a power of two, n ≤ CAP (2048: two f32 arrays of CAP entries, 16 KiB), the fast
//   path below;
// - `dct_direct`: every other length (the host picks; see the end of this file), the direct sum
//   y[o] = Σ_r w·cos(π·idx/2n)·x[r] in O(n) per output entry.
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
    log2n: u32,  // `dct` only
    cols: u32,
    inverse: u32,
    s0: f32,     // dct, DCT-II: alpha·√(1/n); dct, DCT-III: √n (= 1/s_0); dct_direct: alpha·√(1/n)
    sk: f32,     // dct, DCT-II: alpha·√(2/n); dct, DCT-III: √(n/2) (= 1/s_k); dct_direct: alpha·√(2/n)
    post: f32,   // dct, DCT-III: alpha/n
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

// ---------------------------------------------------------------------------------------------
// dct_direct — the DCT-II / DCT-III of any length as a direct sum, for the lengths `dct` cannot
// take (not a power of two, or longer than CAP).
//
// With s_0 = alpha·√(1/n), s_k = alpha·√(2/n) (params.s0, params.sk) and
// cos(π·m/2n) for any integer m read from the quarter-wave columns 2 and 3 of the table
// (m mod 4n = q·n + r: quadrant q = 0, 1, 2, 3 gives cos, −sin, −cos, sin of πr/2n):
//   DCT-II  (inverse == 0): y[k] = s_k · Σ_j cos(π(2j+1)k/2n) · x[j]
//   DCT-III (inverse == 1): y[j] = Σ_k s_k · cos(π(2j+1)k/2n) · x[k]
// The angle index (2j+1)k mod 4n advances by a fixed step along the sum (2k for DCT-II, 2j+1 for
// DCT-III) and is kept reduced, so it never overflows (the host requires 8n ≤ 2^32). The sum is
// pairwise (a binary counter over a stack of partial sums: level l holds the sum of 2^l
// consecutive terms), so its rounding error grows with ⌈log₂n⌉, like the FFT's, not with n.
// (Compensated summation is not used: without SPIR-V NoContraction, driver compilers may
// simplify its correction term away.)
//
// Bindings: as `dct` (x, table, y, params). Work decomposition: a workgroup computes WG output
// entries (one per invocation) of DCOLS = 4 consecutive columns (one vec4 lane per column); it
// stages WG reduction entries of those columns (pre-multiplied by their weight: 1 for DCT-II, s_k
// for DCT-III) in workgroup memory per round. Linear workgroup index g = wid.x + wid.y·nwg.x;
// tile = g mod ceil(n/WG), column group = g / ceil(n/WG). Dispatch: ceil(n/WG)·ceil(cols/4)
// workgroups, 2-D folded.

const DCOLS: u32 = 4u;

var<workgroup> xs: array<vec4<f32>, 256>; // WG staged reduction entries (the host sets WG ≤ 256)

fn quarter_cos(m: u32, n: u32) -> f32 {
    let q = m / n;
    let r = m - q * n;
    if (q == 0u) {
        return table[2u * n + r];
    }
    if (q == 1u) {
        return -table[3u * n + r];
    }
    if (q == 2u) {
        return -table[2u * n + r];
    }
    return table[3u * n + r];
}

@compute @workgroup_size(WG, 1, 1)
fn dct_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    let n = params.n;
    let tiles = (n + WG - 1u) / WG;
    let g = wid.x + wid.y * nwg.x;
    let group = g / tiles;
    let col0 = group * DCOLS;
    if (col0 >= params.cols) {
        return; // uniform: the whole workgroup shares g
    }
    let o = (g - group * tiles) * WG + lidx; // output entry of this invocation
    let four_n = 4u * n;
    var idx = 0u;
    var step = 0u;
    if (params.inverse == 0u) {
        idx = o % four_n; // j = 0: (2·0+1)·o
        step = (2u * o) % four_n;
    } else {
        step = (2u * o + 1u) % four_n; // k = 0: angle 0
    }
    var stack: array<vec4<f32>, 32>;
    var count = 0u;
    for (var r0 = 0u; r0 < n; r0 += WG) {
        let r = r0 + lidx;
        var v = vec4<f32>(0.0);
        if (r < n) {
            for (var c = 0u; c < DCOLS; c++) {
                if (col0 + c < params.cols) {
                    v[c] = x[(col0 + c) * n + r];
                }
            }
            if (params.inverse == 1u) {
                v = select(params.sk, params.s0, r == 0u) * v;
            }
        }
        xs[lidx] = v;
        workgroupBarrier();
        let len = min(WG, n - r0);
        for (var l = 0u; l < len; l++) {
            var t = quarter_cos(idx, n) * xs[l];
            // Pairwise: merge with every complete level below the lowest clear bit of count.
            var lvl = 0u;
            var bits = count;
            while ((bits & 1u) == 1u) {
                t = stack[lvl] + t;
                lvl++;
                bits >>= 1u;
            }
            stack[lvl] = t;
            count++;
            idx += step;
            if (idx >= four_n) {
                idx -= four_n;
            }
        }
        workgroupBarrier();
    }
    if (o >= n) {
        return;
    }
    var acc = vec4<f32>(0.0);
    for (var lvl = 0u; lvl < 32u; lvl++) {
        if (((count >> lvl) & 1u) == 1u) {
            acc = stack[lvl] + acc;
        }
    }
    var scale = 1.0;
    if (params.inverse == 0u) {
        scale = select(params.sk, params.s0, o == 0u);
    }
    for (var c = 0u; c < DCOLS; c++) {
        let col = col0 + c;
        if (col < params.cols) {
            var t = scale * acc[c];
            if (params.beta != 0.0) {
                t = t + params.beta * y[col * n + o];
            }
            y[col * n + o] = t;
        }
    }
}
