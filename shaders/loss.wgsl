// The fused confidence-aware loss: (1 − λ)·mean(C·|I − Î|) + λ·(1 − mean SSIM_C) + w·mean(|α − α̂|)
// and its gradient with respect to the rendered image, in one sequence of passes:
// products → blur (h, v) → ssim_terms (loss partial sums + SSIM gradient maps) → blur (h, v) →
// gradient → reduce. The SSIM statistics are C-weighted Gaussian-window averages (11 taps, σ 1.5).

struct LossParams {
    views: u32,
    width: u32,
    height: u32,
    // Maps per pixel in the buffers being blurred (16 or 9).
    maps: u32,
    ssim_weight: f32,
    mask_weight: f32,
    groups_x: u32,
    partial_count: u32,
}

@group(0) @binding(0) var<uniform> params: LossParams;
@group(0) @binding(1) var<storage, read_write> rendered: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> target_image: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> confidence: array<f32>;
// Per-pixel statistics (16 maps) and, later, SSIM gradient maps (9 maps).
@group(0) @binding(4) var<storage, read_write> maps_a: array<f32>;
@group(0) @binding(5) var<storage, read_write> maps_b: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
@group(0) @binding(7) var<storage, read_write> grad_out: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> loss_out: array<f32>;
// The total alone (a separate one-element tensor for autodiff).
@group(0) @binding(9) var<storage, read_write> total_out: array<f32>;

const C1: f32 = 0.0001;
const C2: f32 = 0.0009;
const RADIUS: i32 = 5;
const WINDOW = array<f32, 11>(
    0.0010283801, 0.0075987581, 0.0360007721, 0.1093606895, 0.2130055377, 0.2660117250,
    0.2130055377, 0.1093606895, 0.0360007721, 0.0075987581, 0.0010283801);

fn pixel_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * params.groups_x * 256u;
}

fn pixel_count() -> u32 {
    return params.views * params.width * params.height;
}

// Per pixel: C, then per channel C·x, C·y, C·x², C·y², C·x·y (x rendered, y target).
@compute @workgroup_size(256)
fn products(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = pixel_index(gid);
    if p >= pixel_count() {
        return;
    }
    let x = rendered[p].xyz;
    let y = target_image[p].xyz;
    let c = confidence[p];
    let o = p * 16u;
    maps_a[o] = c;
    for (var k = 0u; k < 3u; k++) {
        maps_a[o + 1u + k] = c * x[k];
        maps_a[o + 4u + k] = c * y[k];
        maps_a[o + 7u + k] = c * x[k] * x[k];
        maps_a[o + 10u + k] = c * y[k] * y[k];
        maps_a[o + 13u + k] = c * x[k] * y[k];
    }
}

// Zero-padded 11-tap blur along x (maps_a → maps_b) or y (maps_b → maps_a). Each invocation walks
// SEGMENT outputs of one map along one line, sliding the 11 inputs through registers: one load per
// output instead of eleven (on CPU drivers every divergent load is a per-lane loop).
const SEGMENT: u32 = 32u;

fn blur_segment(t: u32, horizontal: bool) {
    let w = params.width;
    let h = params.height;
    let m = params.maps;
    var lines = params.views * w;
    var length = h;
    if horizontal {
        lines = params.views * h;
        length = w;
    }
    let segments = (length + SEGMENT - 1u) / SEGMENT;
    let k = t % m;
    let segment = (t / m) % segments;
    let line = t / (m * segments);
    if line >= lines {
        return;
    }
    // First pixel of the line and the pixel step along it.
    var base = (line / w) * w * h + line % w;
    var stride = w;
    if horizontal {
        base = line * w;
        stride = 1u;
    }
    let first = i32(segment * SEGMENT);
    let last = i32(min((segment + 1u) * SEGMENT, length));
    // x0..x10 hold the inputs at i − 10 ..= i.
    var x0 = 0.0; var x1 = 0.0; var x2 = 0.0; var x3 = 0.0; var x4 = 0.0; var x5 = 0.0;
    var x6 = 0.0; var x7 = 0.0; var x8 = 0.0; var x9 = 0.0; var x10 = 0.0;
    for (var i = first - RADIUS; i < last + RADIUS; i++) {
        x0 = x1; x1 = x2; x2 = x3; x3 = x4; x4 = x5; x5 = x6; x6 = x7; x7 = x8; x8 = x9; x9 = x10;
        x10 = 0.0;
        if i >= 0 && i < i32(length) {
            let q = (base + u32(i) * stride) * m + k;
            if horizontal {
                x10 = maps_a[q];
            } else {
                x10 = maps_b[q];
            }
        }
        let o = i - RADIUS;
        if o >= first {
            // The window is symmetric: pair the taps.
            let v = WINDOW[0] * (x0 + x10) + WINDOW[1] * (x1 + x9) + WINDOW[2] * (x2 + x8) + WINDOW[3] * (x3 + x7)
                + WINDOW[4] * (x4 + x6) + WINDOW[5] * x5;
            let q = (base + u32(o) * stride) * m + k;
            if horizontal {
                maps_b[q] = v;
            } else {
                maps_a[q] = v;
            }
        }
    }
}

// Invocations in a 2-D grid of workgroups, flattened.
fn invocation_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}

@compute @workgroup_size(256)
fn blur_h(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    blur_segment(invocation_index(gid, groups), true);
}

@compute @workgroup_size(256)
fn blur_v(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    blur_segment(invocation_index(gid, groups), false);
}

var<workgroup> sums: array<vec3<f32>, 256>;

// Per pixel: SSIM (summed), L1 and mask terms (summed), and the SSIM gradient maps
// g1 = dL/dμx / W, g2 = dL/dE[x²] / W, g3 = dL/dE[xy] / W per channel (9 maps, into maps_b).
@compute @workgroup_size(256)
fn ssim_terms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let p = pixel_index(gid);
    var local = vec3<f32>(0.0);
    if p < pixel_count() {
        let o = p * 16u;
        let wsum = max(maps_a[o], 1e-6);
        let x = rendered[p];
        let y = target_image[p];
        let c = confidence[p];
        let n3 = f32(pixel_count() * 3u);
        let d_s = -params.ssim_weight / n3;
        for (var k = 0u; k < 3u; k++) {
            let mx = maps_a[o + 1u + k] / wsum;
            let my = maps_a[o + 4u + k] / wsum;
            let exx = maps_a[o + 7u + k] / wsum;
            let eyy = maps_a[o + 10u + k] / wsum;
            let exy = maps_a[o + 13u + k] / wsum;
            let sxx = exx - mx * mx;
            let syy = eyy - my * my;
            let sxy = exy - mx * my;
            let a1 = 2.0 * mx * my + C1;
            let a2 = 2.0 * sxy + C2;
            let b1 = mx * mx + my * my + C1;
            let b2 = sxx + syy + C2;
            let s = (a1 * a2) / (b1 * b2);
            local.y += s;
            // ∂S/∂μx, ∂S/∂σx², ∂S/∂σxy, then through σx² = E[x²] − μx², σxy = E[xy] − μx μy.
            let ds_dmx = (2.0 * my * a2) / (b1 * b2) - s * (2.0 * mx) / b1;
            let ds_dsxx = -s / b2;
            let ds_dsxy = 2.0 * a1 / (b1 * b2);
            let g_mx = ds_dmx - 2.0 * mx * ds_dsxx - my * ds_dsxy;
            maps_b[p * 9u + k] = d_s * g_mx / wsum;
            maps_b[p * 9u + 3u + k] = d_s * ds_dsxx / wsum;
            maps_b[p * 9u + 6u + k] = d_s * ds_dsxy / wsum;
            local.x += c * abs(x[k] - y[k]);
        }
        local.z = abs(x.w - y.w);
    }
    sums[lid] = local;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride /= 2u) {
        if lid < stride {
            sums[lid] += sums[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let g = wid.x + wid.y * params.groups_x;
        partials[g * 3u] = sums[0].x;
        partials[g * 3u + 1u] = sums[0].y;
        partials[g * 3u + 2u] = sums[0].z;
    }
}

// dL/d(rendered): L1 and mask terms directly, SSIM through the blurred gradient maps (the second
// blur runs v then h, maps_b → maps_a → maps_b, so they are in maps_b).
@compute @workgroup_size(256)
fn gradient(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = pixel_index(gid);
    if p >= pixel_count() {
        return;
    }
    let x = rendered[p];
    let y = target_image[p];
    let c = confidence[p];
    let n3 = f32(pixel_count() * 3u);
    let l1 = (1.0 - params.ssim_weight) / n3;
    var g = vec4<f32>(0.0);
    for (var k = 0u; k < 3u; k++) {
        let b1 = maps_b[p * 9u + k];
        let b2 = maps_b[p * 9u + 3u + k];
        let b3 = maps_b[p * 9u + 6u + k];
        g[k] = l1 * c * sign(x[k] - y[k]) + c * (b1 + 2.0 * x[k] * b2 + y[k] * b3);
    }
    g.w = params.mask_weight / f32(pixel_count()) * sign(x.w - y.w);
    grad_out[p] = g;
}

// One workgroup: loss_out = [total, l1, ssim, mask] from the partial sums.
@compute @workgroup_size(1)
fn reduce() {
    var acc = vec3<f32>(0.0);
    for (var i = 0u; i < params.partial_count; i++) {
        acc += vec3<f32>(partials[i * 3u], partials[i * 3u + 1u], partials[i * 3u + 2u]);
    }
    let n3 = f32(pixel_count() * 3u);
    let l1 = acc.x / n3;
    let ssim = acc.y / n3;
    let mask = acc.z / f32(pixel_count());
    let total = (1.0 - params.ssim_weight) * l1 + params.ssim_weight * (1.0 - ssim) + params.mask_weight * mask;
    loss_out[0] = total;
    total_out[0] = total;
    loss_out[1] = l1;
    loss_out[2] = ssim;
    loss_out[3] = mask;
}
