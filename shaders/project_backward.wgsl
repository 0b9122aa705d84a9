// Backward of stage 1: one invocation per Gaussian. For every view of the chunk it recomputes the
// slice + projection and pulls that view's 9 projected gradients back to the raw parameters (mirrors
// `project_backward` in src/gaussians/math.rs). Views are summed in registers, so the result is
// deterministic; the 4D covariance's gradient is accumulated over views and pulled back once.

@group(0) @binding(8) var<storage, read> proj_grads: array<f32>;
@group(0) @binding(9) var<storage, read_write> grad_means: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> grad_log_scales: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> grad_rot_left: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> grad_rot_right: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read_write> grad_opacity: array<f32>;
@group(0) @binding(14) var<storage, read_write> grad_sh: array<f32>;

// Σ_i w_i ∇basis_i(d): the direction gradient of the SH colour.
fn sh_direction_grad(d: vec3<f32>, k: u32, w: array<f32, 16>) -> vec3<f32> {
    var g = vec3<f32>(0.0);
    if k > 1u {
        g += SH_C1 * vec3<f32>(-w[3], -w[1], w[2]);
    }
    if k > 4u {
        let x = d.x; let y = d.y; let z = d.z;
        let c0 = 1.0925484305920792; let c1 = -1.0925484305920792; let c2 = 0.31539156525252005;
        let c3 = -1.0925484305920792; let c4 = 0.5462742152960396;
        g += w[4] * vec3<f32>(c0 * y, c0 * x, 0.0);
        g += w[5] * vec3<f32>(0.0, c1 * z, c1 * y);
        g += w[6] * vec3<f32>(-2.0 * c2 * x, -2.0 * c2 * y, 4.0 * c2 * z);
        g += w[7] * vec3<f32>(c3 * z, 0.0, c3 * x);
        g += w[8] * vec3<f32>(2.0 * c4 * x, -2.0 * c4 * y, 0.0);
        if k > 9u {
            let xx = x * x; let yy = y * y; let zz = z * z;
            let e0 = -0.5900435899266435; let e1 = 2.890611442640554; let e2 = -0.4570457994644658;
            let e3 = 0.3731763325901154; let e4 = -0.4570457994644658; let e5 = 1.445305721320277;
            let e6 = -0.5900435899266435;
            g += w[9] * vec3<f32>(6.0 * e0 * x * y, e0 * (3.0 * xx - 3.0 * yy), 0.0);
            g += w[10] * vec3<f32>(e1 * y * z, e1 * x * z, e1 * x * y);
            g += w[11] * vec3<f32>(-2.0 * e2 * x * y, e2 * (4.0 * zz - xx - 3.0 * yy), 8.0 * e2 * y * z);
            g += w[12] * vec3<f32>(-6.0 * e3 * x * z, -6.0 * e3 * y * z, e3 * (6.0 * zz - 3.0 * xx - 3.0 * yy));
            g += w[13] * vec3<f32>(e4 * (4.0 * zz - 3.0 * xx - yy), -2.0 * e4 * x * y, 8.0 * e4 * x * z);
            g += w[14] * vec3<f32>(2.0 * e5 * x * z, -2.0 * e5 * y * z, e5 * (xx - yy));
            g += w[15] * vec3<f32>(e6 * (3.0 * xx - 3.0 * yy), -6.0 * e6 * x * y, 0.0);
        }
    }
    return g;
}

fn normalize_backward(q: vec4<f32>, d: vec4<f32>) -> vec4<f32> {
    let n = length(q);
    let qh = q / n;
    return (d - qh * dot(qh, d)) / n;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = gid.x + gid.y * nwg.x * 256u;
    let n = globals.num_gaussians;
    if g >= n {
        return;
    }
    let k = globals.sh_coeffs;
    let mean4 = means[g];
    let raw_ql = rot_left[g];
    let raw_qr = rot_right[g];
    let ml = left_matrix(normalize(raw_ql));
    let mr = right_matrix(normalize(raw_qr));
    let r = ml * mr;
    let s = exp(log_scales[g]);
    let l = mat4x4<f32>(r[0] * s.x, r[1] * s.y, r[2] * s.z, r[3] * s.w);
    let sigma = l * transpose(l);
    let var_t = sigma[3][3];
    let cross = sigma[3].xyz;
    let sig_o = sigmoid(opacity_logits[g]);

    var acc_mean = vec4<f32>(0.0);
    var acc_opacity = 0.0;
    var acc_sh: array<f32, 48>;
    var g_sigma = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var any_grad = false;

    for (var b = 0u; b < globals.num_views; b++) {
        let gi = (b * n + g) * 9u;
        let g_mean2 = vec2<f32>(proj_grads[gi], proj_grads[gi + 1u]);
        let g_conic = vec3<f32>(proj_grads[gi + 2u], proj_grads[gi + 3u], proj_grads[gi + 4u]);
        let g_op = proj_grads[gi + 5u];
        let g_col = vec3<f32>(proj_grads[gi + 6u], proj_grads[gi + 7u], proj_grads[gi + 8u]);
        if all(g_mean2 == vec2<f32>(0.0)) && all(g_conic == vec3<f32>(0.0)) && g_op == 0.0 && all(g_col == vec3<f32>(0.0)) {
            continue;
        }
        let v = views[globals.view_offset + b];
        // Forward again (the same steps as project_gaussian).
        let dt = v.position_time.w - mean4.w;
        let wt = exp(-0.5 * dt * dt / var_t);
        let mean3 = mean4.xyz + cross * (dt / var_t);
        let cov3 = mat3x3<f32>(sigma[0].xyz, sigma[1].xyz, sigma[2].xyz) - outer3(cross, cross) * (1.0 / var_t);
        let w = view_rotation(v);
        let p = w * mean3 + v.world_to_camera[3].xyz;
        let fx = v.intrinsics.x; let fy = v.intrinsics.y;
        let lim_x = FRUSTUM_GUARD * 0.5 * f32(globals.width) / fx;
        let lim_y = FRUSTUM_GUARD * 0.5 * f32(globals.height) / fy;
        let rx = p.x / p.z; let ry = p.y / p.z;
        let txz = clamp(rx, -lim_x, lim_x);
        let tyz = clamp(ry, -lim_y, lim_y);
        let z = p.z;
        let j = mat3x2<f32>(vec2<f32>(fx / z, 0.0), vec2<f32>(0.0, fy / z), vec2<f32>(-fx * txz / z, -fy * tyz / z));
        let t = j * w;
        let c2 = t * cov3 * transpose(t);
        let a = c2[0][0] + LOW_PASS; let bb = c2[0][1]; let c = c2[1][1] + LOW_PASS;
        let det = a * c - bb * bb;
        let conic = mat2x2<f32>(vec2<f32>(c / det, -bb / det), vec2<f32>(-bb / det, a / det));
        let to_mean = mean3 - v.position_time.xyz;
        let dir_len = length(to_mean);
        let dir = to_mean / dir_len;
        any_grad = true;

        // Colour → SH coefficients and view direction.
        let basis = sh_basis(dir, k);
        let raw = sh_color(g, dir);
        let gc = select(g_col, vec3<f32>(0.0), raw < vec3<f32>(0.0));
        var wdir: array<f32, 16>;
        for (var i = 0u; i < k; i++) {
            let base = (g * k + i) * 3u;
            acc_sh[i * 3u] += basis[i] * gc.x;
            acc_sh[i * 3u + 1u] += basis[i] * gc.y;
            acc_sh[i * 3u + 2u] += basis[i] * gc.z;
            wdir[i] = dot(vec3<f32>(sh[base], sh[base + 1u], sh[base + 2u]), gc);
        }
        let d_dir = sh_direction_grad(dir, k, wdir);
        var d_mean3 = (d_dir - dir * dot(dir, d_dir)) / dir_len;

        // Conic = inverse(cov2).
        let gm = mat2x2<f32>(vec2<f32>(g_conic.x, 0.5 * g_conic.y), vec2<f32>(0.5 * g_conic.y, g_conic.z));
        let d_cov2 = (conic * gm * conic) * -1.0;
        let d_cov3 = transpose(t) * d_cov2 * t;
        let d_t = 2.0 * (d_cov2 * t * cov3);
        let d_j = d_t * transpose(w);
        var d_p = vec3<f32>(0.0);
        d_p.z += d_j[0][0] * (-fx / (z * z)) + d_j[1][1] * (-fy / (z * z));
        d_p.z += d_j[2][0] * fx * txz / (z * z) + d_j[2][1] * fy * tyz / (z * z);
        if rx == txz {
            d_p.x += d_j[2][0] * (-fx / z) / z;
            d_p.z += d_j[2][0] * (-fx / z) * (-p.x / (z * z));
        }
        if ry == tyz {
            d_p.y += d_j[2][1] * (-fy / z) / z;
            d_p.z += d_j[2][1] * (-fy / z) * (-p.y / (z * z));
        }
        d_p.x += g_mean2.x * fx / z;
        d_p.y += g_mean2.y * fy / z;
        d_p.z += -g_mean2.x * fx * p.x / (z * z) - g_mean2.y * fy * p.y / (z * z);
        d_mean3 += transpose(w) * d_p;

        // Opacity = sigmoid(o) · exp(−½ dt²/Σtt).
        acc_opacity += g_op * wt * sig_o * (1.0 - sig_o);
        let d_wt = g_op * sig_o;
        var d_dt = d_wt * wt * (-dt / var_t);
        var d_var_t = d_wt * wt * 0.5 * dt * dt / (var_t * var_t);
        var d_cross = d_mean3 * (dt / var_t);
        d_dt += dot(d_mean3, cross) / var_t;
        d_var_t += -dot(d_mean3, cross) * dt / (var_t * var_t);
        let sym = 0.5 * (d_cov3 + transpose(d_cov3));
        d_cross += -(sym * cross) * (2.0 / var_t);
        d_var_t += dot(cross, sym * cross) / (var_t * var_t);
        acc_mean += vec4<f32>(d_mean3, -d_dt);
        g_sigma += mat4x4<f32>(
            vec4<f32>(sym[0], 0.5 * d_cross.x),
            vec4<f32>(sym[1], 0.5 * d_cross.y),
            vec4<f32>(sym[2], 0.5 * d_cross.z),
            vec4<f32>(0.5 * d_cross, d_var_t));
    }
    if !any_grad {
        return;
    }

    // Σ = L Lᵀ, L = R diag(s), R = Ml Mr.
    let d_l = (g_sigma + transpose(g_sigma)) * l;
    let d_r = mat4x4<f32>(d_l[0] * s.x, d_l[1] * s.y, d_l[2] * s.z, d_l[3] * s.w);
    let d_ls = vec4<f32>(dot(d_l[0], r[0]), dot(d_l[1], r[1]), dot(d_l[2], r[2]), dot(d_l[3], r[3])) * s;
    // m[c][r] is row r, column c.
    let dm = d_r * transpose(mr);
    let d_ql = vec4<f32>(
        dm[0][0] + dm[1][1] + dm[2][2] + dm[3][3],
        -dm[1][0] + dm[0][1] - dm[3][2] + dm[2][3],
        -dm[2][0] + dm[3][1] + dm[0][2] - dm[1][3],
        -dm[3][0] - dm[2][1] + dm[1][2] + dm[0][3]);
    let dn = transpose(ml) * d_r;
    let d_qr = vec4<f32>(
        dn[0][0] + dn[1][1] + dn[2][2] + dn[3][3],
        dn[1][0] - dn[0][1] - dn[3][2] + dn[2][3],
        dn[2][0] + dn[3][1] - dn[0][2] - dn[1][3],
        dn[3][0] - dn[2][1] + dn[1][2] - dn[0][3]);

    grad_means[g] += acc_mean;
    grad_log_scales[g] += d_ls;
    grad_rot_left[g] += normalize_backward(raw_ql, d_ql);
    grad_rot_right[g] += normalize_backward(raw_qr, d_qr);
    grad_opacity[g] += acc_opacity;
    for (var i = 0u; i < k * 3u; i++) {
        grad_sh[g * k * 3u + i] += acc_sh[i];
    }
}
