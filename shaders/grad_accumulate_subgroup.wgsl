// Sum a splat's gradient over the subgroup, then one lane adds it to global memory.
fn accumulate(s: u32, a: vec4<f32>, b: vec2<f32>, c: vec3<f32>) {
    let sa = subgroupAdd(a);
    let sb = subgroupAdd(b);
    let sc = subgroupAdd(c);
    // The subgroup's first active lane writes (naga has no subgroupElect).
    if subgroupBroadcastFirst(thread_index) == thread_index && (any(sa != vec4<f32>(0.0)) || any(sb != vec2<f32>(0.0)) || any(sc != vec3<f32>(0.0))) {
        add_gradients(s, sa, sb, sc);
    }
}
