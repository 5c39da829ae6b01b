//! linops-tests: the correctness suite of linops, built as one test binary.
//!
//! - `shaders`: naga parses and validates every WGSL file of the registry with the capabilities we
//!   request;
//! - `market`: the cross-backend differential market (every op × {cpu f64, cpu f32, gpu f32} ×
//!   awkward shapes) under the tolerance rule "GPU f32 error ≤ 2× CPU f32 error vs the f64
//!   reference, plus one f32 ulp of the magnitude |op|·|X|", and checked-vs-trusted shader
//!   bit-identity on the GPU;
//! - `properties`: proptest over random operator trees (apply = dense·X, the adjoint identity);
//! - `bad_input`: every class of bad input returns a typed error on every backend;
//! - `planner`: normalization rewrites and plan structure;
//! - `cost`: the cost model's structured-vs-materialized choice and calibration;
//! - `rewrite_normal_form`: the normalizer expands rewriting leaves (sketches, samplers,
//!   butterflies): permutations fold into their CSR factors, products flatten, the cost model
//!   still decides on each leaf whole;
//! - `cpu_parallel`: every CPU kernel gives the same bits with `Par::Seq` and with several workers;
//! - `rng`: Philox known answers, CPU/GPU bit identity of random streams, statistical tests and
//!   dense sketches;
//! - `gpu_kernels`: each GPU kernel against its definition;
//! - `index_params`: `u32` index parameters: a permutation and a CSR operator past 2²⁴ rows on
//!   the CPU and the GPU, argument kinds and index bytes in the planner;
//! - `randnla`: the randomized drivers against faer's exact SVD on a spectrum zoo (theory bounds);
//! - `resident`: `Engine::gemm`/`Engine::axpby` on resident matrices against faer on every backend;
//! - `structured`: permutation, low-rank, block-diagonal and Monarch families (market cases, the
//!   adjoint identity, bad input, folded permutations in `explain()`, the Monarch projection);
//! - `sketch_sparse`: sparse sign (CountSketch/OSNAP), very sparse projection and SRHT (structure,
//!   CPU/GPU bit identity, subspace embedding bounds, SRHT orthogonality, bad input).
//! - `sampling`: row samplers (chi-square frequencies, `E[SᵀS] = I`, CPU/GPU bits), approximate
//!   leverage scores, the streaming sketch accumulator, approximate matrix products.
//! - `batched`: batched operators, the resident batched GEMM, batched CholeskyQR2 and the
//!   batched Newton–Schulz polar factor against each matrix's definition (issue 13).
//! - `butterfly`: butterfly, block butterfly, flat block butterfly and Pixelated butterfly.
//! - `families`: Walsh–Hadamard of length `m·2^k` (`m ∈ {12, 20, 28}`), the GPU DCT of every
//!   length, rectangular Monarch and its projection (issue 13 item 3; market lines included).
//! - `fused_norms`: `orthonormalize` reads its scale off the first Gram matrix's diagonal (no
//!   separate column-norm pass for ordinary input), with the unfused route's bits.
//! - `gemm_diag`: diagonal plus low rank in one output pass (issue 16 item 2): plan structure and
//!   the two-pass bytes floor, market lines, CPU bits for every thread count, the GPU entry point.
//! - `one_pass`: the one-pass kernels of issue 16 item 2 (Walsh–Hadamard of length `m·2^k`,
//!   fused small-block Monarch) against their definitions and their byte budgets.
//! - `kronecker_gemm`: dense Kronecker products as one mode GEMM per factor, against the definition.
//! - `reliability_drivers`: the randomized drivers on extreme input (issue 15): checked sizes and
//!   documented size limits, homogeneity under `A → 2^e·A` across the exponent range, no silent
//!   wrong answer (scaled norms, CholeskyQR2 pre-scaling, re-projection, CG breakdown).
//! - `reliability_core`: no panic, abort or silent wrong answer in the operator algebra, planner,
//!   backends and engine (issue 15): Monarch projection and column norms at any magnitude, the
//!   outcome independent of the cost model, f32 range checks, `gemm` with `alpha = 0`, huge sizes.
//! - `fuzz`: our own fuzzer of the public API: random operator trees over every constructor
//!   (broken structure, extreme and non-finite values) against independent dense models, random
//!   driver calls with random options, and huge sizes in child processes; it runs for
//!   `LINOPS_FUZZ_SECS` (default 20) and fails on any panic, abort, hang, silent wrong answer,
//!   non-finite result from finite in-range input or invalid input accepted.
//! - `estimates`: every driver's certified error estimate bounds the true error in ≥ 99% of
//!   seeded trials over a spectrum zoo and is within 2× of it in the median (cpu f64/f32, GPU);
//!   the strong RRQR meets Gu–Eisenstat's bounds on Kahan's matrix (issue 14).
//! - `tiling`: plans past the binding limit (issue 10): exact parameter splits, every buffer
//!   within the limit, typed errors for what cannot be split, sketch bits unchanged, a clamped
//!   GPU device, and a 6000×6000 operand over lavapipe's binding; `market` runs every case
//!   tiled as well (`differential_market_tiled`).
//! - `resident_estimates`: the certified estimates (Golub–Kahan) keep their bases on the engine:
//!   the same bulk traffic and plan builds for 5 and 20 steps, agreement with a host f64 run.
//! - `resident_f32`, `streamed`: resident iterative drivers on f32 engines; operands past device
//!   memory streamed in row panels (issue 10).
//! - `host_views`: `Engine::apply` from owned matrices, columns in place, strided columns and
//!   transposes: the resident apply's bits, one upload and one download, NaNs where the view
//!   has them.
//! - `scale_invariance`: every driver, `Monarch::project`, `orthonormalize` and `col_norms` on
//!   inputs scaled by `2^e` across each precision's exponent range give the scaled answer.
//!
//! GPU cases need a Vulkan (or Metal/DX12) adapter. Without one they print a loud `SKIPPED` line;
//! with `LINOPS_REQUIRE_GPU=1` (set by `.ci/run`) a missing adapter fails them instead.

#[cfg(test)]
mod bad_input;
#[cfg(test)]
mod batched;
#[cfg(test)]
mod butterfly;
#[cfg(test)]
mod coop_gemm;
#[cfg(test)]
mod coop_half;
#[cfg(test)]
mod cost;
#[cfg(test)]
mod cpu_parallel;
#[cfg(test)]
mod estimates;
#[cfg(test)]
mod families;
#[cfg(test)]
mod fused_norms;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod gemm_diag;
#[cfg(test)]
mod gpu_kernels;
#[cfg(test)]
mod host_views;
#[cfg(test)]
mod index_params;
#[cfg(test)]
mod kronecker_gemm;
#[cfg(test)]
mod lstsq;
#[cfg(test)]
mod market;
#[cfg(test)]
mod matfun;
#[cfg(test)]
mod one_pass;
#[cfg(test)]
mod planner;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod randnla;
#[cfg(test)]
mod reliability_core;
#[cfg(test)]
mod reliability_drivers;
#[cfg(test)]
mod resident;
#[cfg(test)]
mod resident_estimates;
#[cfg(test)]
mod resident_f32;
#[cfg(test)]
mod resident_solvers;
#[cfg(test)]
mod rewrite_normal_form;
#[cfg(test)]
mod rng;
#[cfg(test)]
mod sampling;
#[cfg(test)]
mod scale_invariance;
#[cfg(test)]
mod shaders;
#[cfg(test)]
mod sketch_sparse;
#[cfg(test)]
mod streamed;
#[cfg(test)]
mod streaming;
#[cfg(test)]
mod structured;
#[cfg(test)]
mod structured_more;
#[cfg(test)]
mod support;
#[cfg(test)]
mod tiling;
#[cfg(test)]
mod trace;
#[cfg(test)]
mod transforms;
