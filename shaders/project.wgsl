// Stage 1: slice every Gaussian at its view's time, project it (EWA), cull it, and count the tiles
// its ellipse touches. One invocation per (view, Gaussian) of the chunk: i = view * N + gaussian.

@group(0) @binding(8) var<storage, read_write> proj_mean_depth_opacity: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> proj_conic_radius: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> proj_color: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> tile_counts: array<u32>;
@group(0) @binding(12) var<storage, read_write> visible_flags: array<u32>;
// [visible splats, tile intersections] of the chunk, accumulated per workgroup.
@group(0) @binding(13) var<storage, read_write> counters: array<atomic<u32>>;

var<workgroup> wg_visible: atomic<u32>;
var<workgroup> wg_intersections: atomic<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    let n = globals.num_gaussians;
    let total = n * globals.num_views;
    var count = 0u;
    if i < total {
        let view = views[globals.view_offset + i / n];
        let p = project_gaussian(i % n, view);
        if p.visible {
            let bounds = tile_bounds(p.mean2d, p.radius);
            for (var ty = bounds.y; ty < bounds.w; ty++) {
                for (var tx = bounds.x; tx < bounds.z; tx++) {
                    let rect = tile_pixel_rect(tx, ty);
                    if ellipse_touches_rect(p.mean2d, p.conic, p.power_limit, rect.xy, rect.zw) {
                        count++;
                    }
                }
            }
        }
        proj_mean_depth_opacity[i] = vec4<f32>(p.mean2d, p.depth, select(0.0, p.opacity, count > 0u));
        proj_conic_radius[i] = vec4<f32>(p.conic, p.radius);
        proj_color[i] = vec4<f32>(p.color, p.power_limit);
        tile_counts[i] = count;
        visible_flags[i] = select(0u, 1u, count > 0u);
        if count > 0u {
            atomicAdd(&wg_visible, 1u);
            atomicAdd(&wg_intersections, count);
        }
    }
    workgroupBarrier();
    if lid == 0u {
        atomicAdd(&counters[0], atomicLoad(&wg_visible));
        atomicAdd(&counters[1], atomicLoad(&wg_intersections));
    }
}
