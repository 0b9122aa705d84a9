// Native f32 atomics (SHADER_FLOAT32_ATOMIC).
fn atomic_add_f32(i: u32, v: f32) {
    atomicAdd(&proj_grads[i], v);
}
