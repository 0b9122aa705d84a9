// Stage 2: gather the visible (view, Gaussian) pairs, in index order, with their depth as the sort
// key (positive floats order like their bit patterns). `positions` is the exclusive scan of the
// visibility flags.

struct CompactParams {
    total: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: CompactParams;
@group(0) @binding(1) var<storage, read> tile_counts: array<u32>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> proj_mean_depth_opacity: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> depth_keys: array<u32>;
@group(0) @binding(5) var<storage, read_write> depth_values: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.groups_x * 256u;
    if i < params.total && tile_counts[i] > 0u {
        let pos = positions[i];
        depth_keys[pos] = bitcast<u32>(proj_mean_depth_opacity[i].z);
        depth_values[pos] = i;
    }
}
