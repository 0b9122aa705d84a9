// Stage 5: one workgroup per 16x16 tile of one view. The tile's depth-sorted splats are fetched in
// batches of 256 into workgroup memory; each thread blends its pixel front to back and the workgroup
// stops once every pixel is saturated.

struct RasterParams {
    // Views in the whole batch; outputs are indexed by globals.view_offset + local view.
    total_views: u32,
    write_depth: u32,
}

// Bindings 0-6 (the tiles' sorted splats and their projections): raster_inputs.wgsl.
// rgb + alpha per pixel of every view of the batch.
@group(0) @binding(7) var<storage, read_write> out_color: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> out_depth: array<f32>;
// Number of pair-list entries (from the tile's start) each pixel walked, for the backward pass.
@group(0) @binding(9) var<storage, read_write> out_last: array<u32>;
@group(0) @binding(10) var<uniform> params: RasterParams;
// Final transmittance per pixel (kept apart from alpha = 1 - T to keep its precision near 0).
@group(0) @binding(11) var<storage, read_write> out_final_t: array<f32>;

const BATCH: u32 = 256u;
var<workgroup> batch_mean_opacity: array<vec4<f32>, 256>;
var<workgroup> batch_conic: array<vec4<f32>, 256>;
var<workgroup> batch_color_depth: array<vec4<f32>, 256>;
var<workgroup> done_count: atomic<u32>;
var<workgroup> done_snapshot: u32;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let view = wid.z;
    let in_tile = tile_pixel(lid);
    let px = wid.x * TILE + in_tile.x;
    let py = wid.y * TILE + in_tile.y;
    let inside = px < globals.width && py < globals.height;
    let pixel = vec2<f32>(f32(px) + 0.5, f32(py) + 0.5);
    let tile = (view * globals.tiles_y + wid.y) * globals.tiles_x + wid.x;
    let range = ranges[tile];

    var t = 1.0;
    var color = vec3<f32>(0.0);
    var depth = 0.0;
    var walked = 0u;
    var done = !inside;
    if done {
        atomicAdd(&done_count, 1u);
    }
    let batches = (range.y - range.x + BATCH - 1u) / BATCH;
    for (var b = 0u; b < batches; b++) {
        // Stop early once every pixel of the tile is saturated (uniform across the workgroup).
        workgroupBarrier();
        if lid == 0u {
            done_snapshot = atomicLoad(&done_count);
        }
        if workgroupUniformLoad(&done_snapshot) == 256u {
            break;
        }
        let start = range.x + b * BATCH;
        let idx = start + lid;
        if idx < range.y {
            let s = tile_values[idx];
            let mdo = proj_mean_depth_opacity[s];
            batch_mean_opacity[lid] = vec4<f32>(mdo.xy, mdo.w, 0.0);
            batch_conic[lid] = proj_conic_radius[s];
            batch_color_depth[lid] = vec4<f32>(proj_color[s].xyz, mdo.z);
        }
        workgroupBarrier();
        let count = min(BATCH, range.y - start);
        for (var k = 0u; k < count && !done; k++) {
            let mo = batch_mean_opacity[k];
            let d = pixel - mo.xy;
            let conic = batch_conic[k].xyz;
            let power = 0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) + conic.y * d.x * d.y;
            let alpha = min(MAX_ALPHA, mo.z * exp(-power));
            if alpha < MIN_ALPHA {
                continue;
            }
            let next_t = t * (1.0 - alpha);
            if next_t < MIN_TRANSMITTANCE {
                done = true;
                atomicAdd(&done_count, 1u);
                break;
            }
            let cd = batch_color_depth[k];
            color += (t * alpha) * cd.xyz;
            depth += (t * alpha) * cd.w;
            t = next_t;
            walked = start - range.x + k + 1u;
        }
    }
    if inside {
        let out = (globals.view_offset + view) * globals.width * globals.height + py * globals.width + px;
        let bg = views[globals.view_offset + view].background.xyz;
        out_color[out] = vec4<f32>(color + t * bg, 1.0 - t);
        if params.write_depth != 0u {
            out_depth[out] = depth;
        }
        out_last[out] = walked;
        out_final_t[out] = t;
    }
}
