// Fallback where f32 atomics are missing: a compare-and-swap loop on the bit pattern.
fn atomic_add_f32(i: u32, v: f32) {
    var old = atomicLoad(&proj_grads[i]);
    loop {
        let result = atomicCompareExchangeWeak(&proj_grads[i], old, bitcast<u32>(bitcast<f32>(old) + v));
        if result.exchanged {
            break;
        }
        old = result.old_value;
    }
}
