// Shared by every rasterizer stage: the batch layout, the per-view camera, and the slice + EWA
// projection of one 4D Gaussian (mirrors src/gaussians/math.rs, the f64 specification).

const TILE: u32 = 16u;
const MIN_TEMPORAL_WEIGHT: f32 = 0.05;
const NEAR_PLANE: f32 = 0.01;
const LOW_PASS: f32 = 0.3;
const MIN_ALPHA: f32 = 0.00392156862745098; // 1 / 255
const MAX_ALPHA: f32 = 0.99;
const MIN_TRANSMITTANCE: f32 = 0.0001;
const FRUSTUM_GUARD: f32 = 1.3;
const SH_C0: f32 = 0.28209479177387814;
const SH_C1: f32 = 0.4886025119029199;

// The pixel of a 16x16 tile that workgroup lane `lid` handles, in Morton order: any aligned run of
// lanes (a subgroup) covers a compact block (8 lanes 4x2, 32 lanes 8x4), which fewer splats reach than a
// row strip.
fn tile_pixel(lid: u32) -> vec2<u32> {
    var p = vec2<u32>(0u);
    for (var b = 0u; b < 4u; b++) {
        p.x |= ((lid >> (2u * b)) & 1u) << b;
        p.y |= ((lid >> (2u * b + 1u)) & 1u) << b;
    }
    return p;
}

struct Globals {
    num_gaussians: u32,
    num_views: u32,
    // SH coefficients per channel (1, 4, 9 or 16).
    sh_coeffs: u32,
    width: u32,
    height: u32,
    tiles_x: u32,
    tiles_y: u32,
    // Index of the first view of this chunk within the whole batch.
    view_offset: u32,
}

struct View {
    // OpenCV world-to-camera.
    world_to_camera: mat4x4<f32>,
    // Camera centre in world space (xyz), time (w).
    position_time: vec4<f32>,
    // fx, fy, cx, cy in pixels.
    intrinsics: vec4<f32>,
    // Background colour (rgb), unused (w).
    background: vec4<f32>,
}

// The outcome of slicing + projecting one Gaussian into one view. `visible` is false when culled.
struct Projection {
    visible: bool,
    mean2d: vec2<f32>,
    conic: vec3<f32>,
    opacity: f32,
    color: vec3<f32>,
    depth: f32,
    // ln(255 · opacity): a pixel is touched when its power is at most this.
    power_limit: f32,
    radius: f32,
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// Left-isoclinic matrix of (a, b, c, d); WGSL matrices are column-major, so write rows and transpose.
fn left_matrix(q: vec4<f32>) -> mat4x4<f32> {
    let a = q.x; let b = q.y; let c = q.z; let d = q.w;
    return transpose(mat4x4<f32>(
        vec4<f32>(a, -b, -c, -d),
        vec4<f32>(b, a, -d, c),
        vec4<f32>(c, d, a, -b),
        vec4<f32>(d, -c, b, a)));
}

fn right_matrix(q: vec4<f32>) -> mat4x4<f32> {
    let p = q.x; let qq = q.y; let r = q.z; let s = q.w;
    return transpose(mat4x4<f32>(
        vec4<f32>(p, qq, r, s),
        vec4<f32>(-qq, p, -s, r),
        vec4<f32>(-r, s, p, -qq),
        vec4<f32>(-s, -r, qq, p)));
}

// R · diag(s): columns of R scaled.
fn scaled_rotation(ql: vec4<f32>, qr: vec4<f32>, s: vec4<f32>) -> mat4x4<f32> {
    let r = left_matrix(ql) * right_matrix(qr);
    return mat4x4<f32>(r[0] * s.x, r[1] * s.y, r[2] * s.z, r[3] * s.w);
}

// SH basis for a unit direction (up to `k` coefficients; the rest are zero).
fn sh_basis(d: vec3<f32>, k: u32) -> array<f32, 16> {
    var b: array<f32, 16>;
    b[0] = SH_C0;
    if k > 1u {
        b[1] = -SH_C1 * d.y;
        b[2] = SH_C1 * d.z;
        b[3] = -SH_C1 * d.x;
    }
    if k > 4u {
        let xx = d.x * d.x; let yy = d.y * d.y; let zz = d.z * d.z;
        b[4] = 1.0925484305920792 * d.x * d.y;
        b[5] = -1.0925484305920792 * d.y * d.z;
        b[6] = 0.31539156525252005 * (2.0 * zz - xx - yy);
        b[7] = -1.0925484305920792 * d.x * d.z;
        b[8] = 0.5462742152960396 * (xx - yy);
        if k > 9u {
            b[9] = -0.5900435899266435 * d.y * (3.0 * xx - yy);
            b[10] = 2.890611442640554 * d.x * d.y * d.z;
            b[11] = -0.4570457994644658 * d.y * (4.0 * zz - xx - yy);
            b[12] = 0.3731763325901154 * d.z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
            b[13] = -0.4570457994644658 * d.x * (4.0 * zz - xx - yy);
            b[14] = 1.445305721320277 * d.z * (xx - yy);
            b[15] = -0.5900435899266435 * d.x * (xx - 3.0 * yy);
        }
    }
    return b;
}

fn all_finite3(v: vec3<f32>) -> bool {
    // NaN fails every comparison; ±Inf fails the bound.
    return all(abs(v) <= vec3<f32>(3.0e38));
}

fn finite(x: f32) -> bool {
    return abs(x) <= 3.0e38;
}
