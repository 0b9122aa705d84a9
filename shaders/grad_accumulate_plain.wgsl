// Without subgroups every thread adds its own non-zero share.
fn accumulate(s: u32, a: vec4<f32>, b: vec2<f32>, c: vec3<f32>) {
    if any(a != vec4<f32>(0.0)) || any(b != vec2<f32>(0.0)) || any(c != vec3<f32>(0.0)) {
        add_gradients(s, a, b, c);
    }
}
