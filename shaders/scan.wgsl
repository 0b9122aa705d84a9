// Exclusive prefix sum of u32, in place, in blocks of 1024 (256 threads x 4 values); each block's
// total goes to `block_sums`, which the host scans recursively and adds back with `add_offsets`.

struct ScanParams {
    n: u32,
    // Dispatch width in workgroups (2D dispatch for large arrays).
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: ScanParams;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> block_sums: array<u32>;

const BLOCK: u32 = 1024u;
var<workgroup> partial: array<u32, 256>;

@compute @workgroup_size(256)
fn scan_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let block = wid.x + wid.y * params.groups_x;
    // Surplus workgroups of a 2D dispatch (uniform per workgroup, so returning is safe).
    if block * BLOCK >= params.n {
        return;
    }
    let base = block * BLOCK + lid * 4u;
    var v: array<u32, 4>;
    var sum = 0u;
    for (var k = 0u; k < 4u; k++) {
        let idx = base + k;
        v[k] = select(0u, data[min(idx, params.n - 1u)], idx < params.n);
        sum += v[k];
    }
    partial[lid] = sum;
    workgroupBarrier();
    // Hillis-Steele inclusive scan over the 256 thread sums.
    for (var offset = 1u; offset < 256u; offset *= 2u) {
        var add = 0u;
        if lid >= offset {
            add = partial[lid - offset];
        }
        workgroupBarrier();
        partial[lid] += add;
        workgroupBarrier();
    }
    var running = partial[lid] - sum;
    for (var k = 0u; k < 4u; k++) {
        let idx = base + k;
        if idx < params.n {
            data[idx] = running;
        }
        running += v[k];
    }
    if lid == 255u {
        block_sums[block] = partial[255];
    }
}

@compute @workgroup_size(256)
fn add_offsets(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let block = wid.x + wid.y * params.groups_x;
    if block * BLOCK >= params.n {
        return;
    }
    let offset = block_sums[block];
    for (var k = 0u; k < 4u; k++) {
        let idx = block * BLOCK + lid * 4u + k;
        if idx < params.n {
            data[idx] += offset;
        }
    }
}
