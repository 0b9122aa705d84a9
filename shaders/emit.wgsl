// Stage 3: for the depth-sorted visible splats, write one (tile, splat) pair per touched tile.
// `gather_counts` lays the tile counts out in depth order; their exclusive scan gives each splat's
// first slot, so pairs come out depth-ordered and a stable sort by tile keeps that order per tile.

@group(0) @binding(0) var<uniform> globals: Globals;
@group(0) @binding(1) var<storage, read> sorted_splats: array<u32>;
@group(0) @binding(2) var<storage, read> tile_counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts_in_order: array<u32>;
@group(0) @binding(4) var<storage, read> proj_mean_depth_opacity: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> proj_conic_radius: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> proj_color: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> tile_keys: array<u32>;
@group(0) @binding(8) var<storage, read_write> tile_values: array<u32>;

struct EmitParams {
    visible: u32,
    groups_x: u32,
    // Slots in the pair buffers: pairs past it are dropped (the farthest splats' first; only a
    // GPU-driven pass, sized by a budget rather than the exact count, can run out).
    capacity: u32,
    pad: u32,
}
@group(0) @binding(9) var<uniform> params: EmitParams;

@compute @workgroup_size(256)
fn gather_counts(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x + gid.y * params.groups_x * 256u;
    if j < params.visible {
        counts_in_order[j] = tile_counts[sorted_splats[j]];
    }
}

@compute @workgroup_size(256)
fn emit(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x + gid.y * params.groups_x * 256u;
    if j >= params.visible {
        return;
    }
    let i = sorted_splats[j];
    let view = i / globals.num_gaussians;
    let mean = proj_mean_depth_opacity[i].xy;
    let conic_radius = proj_conic_radius[i];
    let power_limit = proj_color[i].w;
    let bounds = tile_bounds(mean, conic_radius.w);
    let tiles_per_view = globals.tiles_x * globals.tiles_y;
    var slot = counts_in_order[j];
    let end = slot + tile_counts[i];
    for (var ty = bounds.y; ty < bounds.w; ty++) {
        for (var tx = bounds.x; tx < bounds.z; tx++) {
            let rect = tile_pixel_rect(tx, ty);
            if slot < end && slot < params.capacity && ellipse_touches_rect(mean, conic_radius.xyz, power_limit, rect.xy, rect.zw) {
                tile_keys[slot] = view * tiles_per_view + ty * globals.tiles_x + tx;
                tile_values[slot] = i;
                slot++;
            }
        }
    }
}
