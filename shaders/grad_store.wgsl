fn add_gradients(s: u32, a: vec4<f32>, b: vec2<f32>, c: vec3<f32>) {
    let base = s * 9u;
    atomic_add_f32(base, a.x);
    atomic_add_f32(base + 1u, a.y);
    atomic_add_f32(base + 2u, a.z);
    atomic_add_f32(base + 3u, a.w);
    atomic_add_f32(base + 4u, b.x);
    atomic_add_f32(base + 5u, b.y);
    atomic_add_f32(base + 6u, c.x);
    atomic_add_f32(base + 7u, c.y);
    atomic_add_f32(base + 8u, c.z);
}
