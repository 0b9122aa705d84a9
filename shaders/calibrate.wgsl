// A fixed workload that measures a device, not a feature: every invocation chases 256 pseudo-random
// reads through a 4 MiB buffer with a multiply-add chain on each, as the rasterizer's tile walk mixes
// scattered loads with arithmetic. `machine::Fingerprint` times it so figures from two machines can be
// scaled to each other. The result is written so no compiler can drop the work.

@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> result: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    var hash = id.x * 747796405u + 2891336453u;
    var acc = f32(id.x) * 1e-6;
    let n = arrayLength(&source);
    for (var i = 0u; i < 256u; i = i + 1u) {
        hash = hash * 747796405u + 2891336453u;
        acc = fma(acc, 0.999, source[(hash >> 8u) % n]);
    }
    result[id.x] = acc;
}
