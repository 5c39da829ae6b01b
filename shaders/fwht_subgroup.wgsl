// fwht_subgroup.wgsl — fwht_local and srht_local (see fwht_block.wgsl and fwht.wgsl) with the stages below the
// subgroup size done by subgroupShuffleXor in registers instead of workgroup memory: log₂(size)
// fewer barriers per transform. Compiled only when the device has Features::SUBGROUP (naga 30
// gates the subgroup builtins by that capability and rejects `enable subgroups;` as not yet
// implemented, so the file has no enable directive); the
// subgroup size is the adapter's (read from the builtin, never assumed).
//
// Thread (subgroup s, lane l) owns the entries i = s·size + l + k·WG; since WG is a multiple of the
// subgroup size whenever the subgroups tile the workgroup (checked: subgroups · size == WG, else
// every stage falls back to workgroup memory), entry i's lane is i mod size and its partner at
// stride h < size is lane l ^ h. A butterfly (u, v) -> (u + v, u - v) becomes, in the lane of u,
// u + partner and, in the lane of v, partner - v: the same operations as in workgroup memory, so
// both paths give the same bits. Dispatch as fwht_local.

fn low_stages(b: u32, sg: vec4<u32>) -> u32 {
    let size = sg.z;
    if (size == 0u || sg.w * size != WG) {
        return 1u;
    }
    let top = min(size, b);
    let lane = sg.y;
    for (var base = sg.x * size; base < b; base += WG) {
        let i = base + lane;
        var v = 0.0;
        if (i < b) {
            v = buf[i];
        }
        for (var h = 1u; h < top; h <<= 1u) {
            let p = subgroupShuffleXor(v, h);
            v = select(v + p, p - v, (lane & h) != 0u);
        }
        if (i < b) {
            buf[i] = v;
        }
    }
    workgroupBarrier();
    return top;
}

@compute @workgroup_size(WG, 1, 1)
fn fwht_local_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(num_subgroups) sgs: u32,
) {
    local_body(wid, nwg, lidx, vec4<u32>(sg_id, lane, size, sgs));
}

@compute @workgroup_size(WG, 1, 1)
fn srht_local_subgroup(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lidx: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) size: u32,
    @builtin(num_subgroups) sgs: u32,
) {
    local_body(wid, nwg, lidx, vec4<u32>(sg_id, lane, size, sgs));
}
