// Backward of stage 5: per tile, walk each pixel's contributing splats back to front, recovering the
// transmittance in front of each one from the final one, and accumulate dL/d(mean2d, conic, opacity,
// colour) of every splat (9 floats) with atomics, reduced per subgroup first where subgroups exist.

// Bindings 0-6 (the tiles' sorted splats and their projections): raster_inputs.wgsl.
@group(0) @binding(7) var<storage, read> out_final_t: array<f32>;
@group(0) @binding(8) var<storage, read> out_last: array<u32>;
// dL/d(r, g, b, alpha) per pixel of every view of the batch.
@group(0) @binding(9) var<storage, read> d_color: array<vec4<f32>>;
// 9 per (view, Gaussian) of the chunk: d mean2d (2), d conic (3), d opacity, d colour (3).
@group(0) @binding(10) var<storage, read_write> proj_grads: array<GRAD_ATOMIC>;

const BATCH: u32 = 256u;
var<workgroup> batch_index: array<u32, 256>;
var<workgroup> batch_mean_opacity: array<vec4<f32>, 256>;
var<workgroup> batch_conic: array<vec4<f32>, 256>;
var<workgroup> batch_color: array<vec4<f32>, 256>;
var<workgroup> max_walked: atomic<u32>;
var<workgroup> max_walked_snapshot: u32;
// This invocation's index in the workgroup (read by `accumulate`).
var<private> thread_index: u32;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    thread_index = lid;
    let view = wid.z;
    let in_tile = tile_pixel(lid);
    let px = wid.x * TILE + in_tile.x;
    let py = wid.y * TILE + in_tile.y;
    let inside = px < globals.width && py < globals.height;
    let pixel = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    let tile = (view * globals.tiles_y + wid.y) * globals.tiles_x + wid.x;
    let range = ranges[tile];
    let out = (globals.view_offset + view) * globals.width * globals.height + min(py, globals.height - 1u) * globals.width + min(px, globals.width - 1u);

    var walked = 0u;
    var t = 1.0;
    var g_rgb = vec3<f32>(0.0);
    var g_alpha = 0.0;
    var behind = vec3<f32>(0.0);
    if inside {
        walked = out_last[out];
        t = out_final_t[out];
        let g = d_color[out];
        g_rgb = g.xyz;
        g_alpha = g.w;
        behind = t * views[globals.view_offset + view].background.xyz;
    }
    let t_final = t;
    atomicMax(&max_walked, walked);
    workgroupBarrier();
    if lid == 0u {
        max_walked_snapshot = atomicLoad(&max_walked);
    }
    let tile_walked = workgroupUniformLoad(&max_walked_snapshot);
    let batches = (tile_walked + BATCH - 1u) / BATCH;
    for (var b = 0u; b < batches; b++) {
        let end = tile_walked - b * BATCH;
        let begin = select(0u, end - BATCH, end > BATCH);
        workgroupBarrier();
        let e = begin + lid;
        if e < end {
            let s = tile_values[range.x + e];
            batch_index[lid] = s;
            let mdo = proj_mean_depth_opacity[s];
            // w: the largest exponent at which the splat still reaches MIN_ALPHA (plus a margin, so
            // the skip test below is conservative; the exact test follows it).
            batch_mean_opacity[lid] = vec4<f32>(mdo.xy, mdo.w, log(mdo.w / MIN_ALPHA) + 1e-3);
            batch_conic[lid] = proj_conic_radius[s];
            batch_color[lid] = vec4<f32>(proj_color[s].xyz, 0.0);
        }
        workgroupBarrier();
        var k = end - begin;
        loop {
            // Skip the entries that reach no pixel of this subgroup with a cheap test (no exp). CPU
            // drivers run both sides of a divergent branch, so only a subgroup-uniform loop saves work.
            loop {
                if k == 0u {
                    break;
                }
                let mo = batch_mean_opacity[k - 1u];
                let conic = batch_conic[k - 1u].xyz;
                let d = pixel - mo.xy;
                let power = 0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) + conic.y * d.x * d.y;
                if any_in_subgroup(begin + k - 1u < walked && power <= mo.w) {
                    break;
                }
                k -= 1u;
            }
            if k == 0u {
                break;
            }
            k -= 1u;
            let slot = k;
            let entry = begin + slot;
            let mo = batch_mean_opacity[slot];
            let conic = batch_conic[slot].xyz;
            let c = batch_color[slot].xyz;
            let d = pixel - mo.xy;
            let power = 0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) + conic.y * d.x * d.y;
            let gauss = exp(-power);
            let raw_alpha = mo.z * gauss;
            let alpha = min(MAX_ALPHA, raw_alpha);
            var g_mean_conic = vec4<f32>(0.0);
            var g_conic_c_opacity = vec2<f32>(0.0);
            var g_col = vec3<f32>(0.0);
            if entry < walked && alpha >= MIN_ALPHA {
                let t_before = t / (1.0 - alpha);
                g_col = (t_before * alpha) * g_rgb;
                var g_a = dot(g_rgb, t_before * c - behind / (1.0 - alpha)) + g_alpha * t_final / (1.0 - alpha);
                behind += (t_before * alpha) * c;
                t = t_before;
                if raw_alpha > MAX_ALPHA {
                    g_a = 0.0;
                }
                let g_power = -g_a * alpha;
                g_mean_conic = vec4<f32>(
                    -g_power * (conic.x * d.x + conic.y * d.y),
                    -g_power * (conic.y * d.x + conic.z * d.y),
                    g_power * 0.5 * d.x * d.x,
                    g_power * d.x * d.y);
                g_conic_c_opacity = vec2<f32>(g_power * 0.5 * d.y * d.y, g_a * gauss);
            }
            accumulate(batch_index[slot], g_mean_conic, g_conic_c_opacity, g_col);
        }
    }
}
