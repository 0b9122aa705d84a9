// Bindings 0-7 of every stage that reads the Gaussians, and the slice + projection of one Gaussian.
// PARAM_ACCESS is `read`, or `read_write` where the stage also writes buffers that may share a wgpu
// buffer with the parameters (burn packs tensors into shared pages, and wgpu forbids one buffer
// being both read-only and writable storage in a dispatch).

@group(0) @binding(0) var<uniform> globals: Globals;
@group(0) @binding(1) var<storage, read> views: array<View>;
@group(0) @binding(2) var<storage, PARAM_ACCESS> means: array<vec4<f32>>;
@group(0) @binding(3) var<storage, PARAM_ACCESS> log_scales: array<vec4<f32>>;
@group(0) @binding(4) var<storage, PARAM_ACCESS> rot_left: array<vec4<f32>>;
@group(0) @binding(5) var<storage, PARAM_ACCESS> rot_right: array<vec4<f32>>;
@group(0) @binding(6) var<storage, PARAM_ACCESS> opacity_logits: array<f32>;
@group(0) @binding(7) var<storage, PARAM_ACCESS> sh: array<f32>;

fn outer3(a: vec3<f32>, b: vec3<f32>) -> mat3x3<f32> {
    return mat3x3<f32>(a * b.x, a * b.y, a * b.z);
}

fn view_rotation(v: View) -> mat3x3<f32> {
    return mat3x3<f32>(v.world_to_camera[0].xyz, v.world_to_camera[1].xyz, v.world_to_camera[2].xyz);
}

// Raw SH colour (before the clamp at zero) of Gaussian g seen along unit direction `dir`.
fn sh_color(g: u32, dir: vec3<f32>) -> vec3<f32> {
    let k = globals.sh_coeffs;
    let basis = sh_basis(dir, k);
    var c = vec3<f32>(0.5);
    let base = g * k * 3u;
    for (var i = 0u; i < k; i++) {
        c += basis[i] * vec3<f32>(sh[base + i * 3u], sh[base + i * 3u + 1u], sh[base + i * 3u + 2u]);
    }
    return c;
}

fn project_gaussian(g: u32, v: View) -> Projection {
    var out: Projection;
    out.visible = false;
    let mean4 = means[g];
    let l = scaled_rotation(normalize(rot_left[g]), normalize(rot_right[g]), exp(log_scales[g]));
    let sigma = l * transpose(l);
    let var_t = sigma[3][3];
    let cross = sigma[3].xyz;
    let dt = v.position_time.w - mean4.w;
    let weight = exp(-0.5 * dt * dt / var_t);
    if !(weight >= MIN_TEMPORAL_WEIGHT) {
        return out;
    }
    let mean3 = mean4.xyz + cross * (dt / var_t);
    let cov3 = mat3x3<f32>(sigma[0].xyz, sigma[1].xyz, sigma[2].xyz) - outer3(cross, cross) * (1.0 / var_t);
    let w = view_rotation(v);
    let p = w * mean3 + v.world_to_camera[3].xyz;
    if !(p.z > NEAR_PLANE) {
        return out;
    }
    let fx = v.intrinsics.x; let fy = v.intrinsics.y;
    let lim_x = FRUSTUM_GUARD * 0.5 * f32(globals.width) / fx;
    let lim_y = FRUSTUM_GUARD * 0.5 * f32(globals.height) / fy;
    let rx = p.x / p.z; let ry = p.y / p.z;
    let txz = clamp(rx, -lim_x, lim_x);
    let tyz = clamp(ry, -lim_y, lim_y);
    // J (2x3) as a mat3x2: columns are J's columns.
    let j = mat3x2<f32>(vec2<f32>(fx / p.z, 0.0), vec2<f32>(0.0, fy / p.z), vec2<f32>(-fx * txz / p.z, -fy * tyz / p.z));
    let t = j * w;
    let c2 = t * cov3 * transpose(t);
    let a = c2[0][0] + LOW_PASS; let b = c2[0][1]; let c = c2[1][1] + LOW_PASS;
    let det = a * c - b * b;
    if !(det > 0.0) {
        return out;
    }
    let opacity = sigmoid(opacity_logits[g]) * weight;
    if !(opacity >= MIN_ALPHA) {
        return out;
    }
    let dir = normalize(mean3 - v.position_time.xyz);
    let raw_color = sh_color(g, dir);
    if !all_finite3(raw_color) {
        return out;
    }
    out.color = max(raw_color, vec3<f32>(0.0));
    out.mean2d = vec2<f32>(fx * rx + v.intrinsics.z, fy * ry + v.intrinsics.w);
    out.conic = vec3<f32>(c / det, -b / det, a / det);
    out.opacity = opacity;
    out.depth = p.z;
    out.power_limit = log(opacity / MIN_ALPHA);
    let mid = 0.5 * (a + c);
    let lambda_max = mid + sqrt(max(mid * mid - det, 0.0));
    out.radius = sqrt(2.0 * out.power_limit * lambda_max);
    out.visible = all_finite3(vec3<f32>(out.mean2d, out.radius)) && all_finite3(out.conic) && all_finite3(out.color) && finite(out.depth);
    return out;
}
