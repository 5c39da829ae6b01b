// fwht.wgsl — orthonormal Walsh–Hadamard transform of each column of a column-major f32 block,
// and the fused SRHT (`srht` kernel), with workgroup memory only (every adapter). The shared part
// (bindings, modes, the block transform) is fwht_block.wgsl; fwht_subgroup.wgsl is the same
// fwht_local with the low stages in subgroup shuffles.
//
// Entry points (the srht_* ones are the same code under the SRHT's name, with its load and store
// modes, so that traces and pipeline labels name the operation):
//   fwht_local, srht_local: see local_body in fwht_block.wgsl. Dispatch: groups = cols · (N / B), B =
//     min(N, CAP); when B == N this is the whole transform in one pass.
//   fwht_strided, srht_strided: the stages h, 2h, …, h·span/2 (h ≥ B, so they cross chunks) in one pass over an
//     N×cols scratch x. A line is the `span` entries base + k·h (k < span); one workgroup loads
//     T = b / span lines of consecutive bases (so each of its `span` reads is T consecutive
//     floats) into buf[k·T + t], runs the stages T, 2T, …, T·span/2 there, and stores them (store
//     mode 0/1: the final output, mode 3: the scratch y). Dispatch: groups = cols · N / b.
//   With N ≤ CAP one fwht_local pass; else one fwht_local pass and ⌈log₂(N/B) / log₂(CAP/T)⌉
//   strided passes (one for N ≤ CAP²/T).
// The linear workgroup index is wid.x + wid.y · num_workgroups.x (2-D grid, so more than 65535
// workgroups fit); workgroups past `groups` return at once (a uniform branch). The host checks
// every index range against the buffer lengths before dispatching.

// No subgroup operations here: every stage runs in workgroup memory.
fn low_stages(b: u32, sg: vec4<u32>) -> u32 {
    return 1u;
}


@compute @workgroup_size(WG, 1, 1)
fn fwht_local(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    local_body(wid, nwg, lidx, vec4<u32>(0u));
}

@compute @workgroup_size(WG, 1, 1)
fn fwht_strided(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    strided_body(wid, nwg, lidx);
}

@compute @workgroup_size(WG, 1, 1)
fn srht_local(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    local_body(wid, nwg, lidx, vec4<u32>(0u));
}

@compute @workgroup_size(WG, 1, 1)
fn srht_strided(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
) {
    strided_body(wid, nwg, lidx);
}
