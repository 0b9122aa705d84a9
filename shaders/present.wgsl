// The viewport's last pass: one rendered view (r, g, b, alpha in f32, already over the background)
// written into an RGBA8 texture that egui draws directly, so the image never leaves the GPU.

struct PresentParams {
    width: u32,
    height: u32,
    // First pixel of the view inside the colour buffer (view index × width × height).
    offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: PresentParams;
@group(0) @binding(1) var<storage, read> color: array<vec4<f32>>;
@group(0) @binding(2) var target_image: texture_storage_2d<rgba8unorm, write>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= params.width || id.y >= params.height {
        return;
    }
    let c = color[params.offset + id.y * params.width + id.x];
    // Opaque, as `render::opaque_rgba8` makes the read-back image: the same bytes either way.
    textureStore(target_image, vec2<i32>(id.xy), vec4<f32>(clamp(c.rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0));
}
