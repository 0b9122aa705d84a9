// Stable LSD radix sort of (key, value) pairs by 4-bit digits. Each workgroup owns a block of
// 2048 pairs, 16 consecutive ones per thread; threads walk their pairs in order, which is what makes
// the scatter stable. Per pass: `count` (digit histogram per block, digit-major for the scan),
// an exclusive scan of the histograms, then `scatter`.

struct SortParams {
    n: u32,
    shift: u32,
    num_blocks: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: SortParams;
@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
@group(0) @binding(2) var<storage, read> values_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(4) var<storage, read_write> values_out: array<u32>;
// 16 x num_blocks, digit-major: histogram counts, then (after the scan) global offsets.
@group(0) @binding(5) var<storage, read_write> block_histograms: array<u32>;

const THREADS: u32 = 128u;
const PER_THREAD: u32 = 16u;
const BLOCK: u32 = 2048u;
const DIGITS: u32 = 16u;

// thread_counts[digit * THREADS + thread]
var<workgroup> thread_counts: array<u32, 2048>;

fn digit_of(key: u32) -> u32 {
    return (key >> params.shift) & 15u;
}

fn count_own(block: u32, lid: u32) {
    var counts: array<u32, 16>;
    let base = block * BLOCK + lid * PER_THREAD;
    for (var k = 0u; k < PER_THREAD; k++) {
        let idx = base + k;
        if idx < params.n {
            counts[digit_of(keys_in[idx])] += 1u;
        }
    }
    for (var d = 0u; d < DIGITS; d++) {
        thread_counts[d * THREADS + lid] = counts[d];
    }
}

@compute @workgroup_size(128)
fn count(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let block = wid.x + wid.y * params.groups_x;
    count_own(block, lid);
    workgroupBarrier();
    if lid < DIGITS && block < params.num_blocks {
        var total = 0u;
        for (var t = 0u; t < THREADS; t++) {
            total += thread_counts[lid * THREADS + t];
        }
        block_histograms[lid * params.num_blocks + block] = total;
    }
}

@compute @workgroup_size(128)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let block = wid.x + wid.y * params.groups_x;
    count_own(block, lid);
    workgroupBarrier();
    // Exclusive scan of each digit's row over the threads, offset by the block's global start.
    if lid < DIGITS && block < params.num_blocks {
        var running = block_histograms[lid * params.num_blocks + block];
        for (var t = 0u; t < THREADS; t++) {
            let c = thread_counts[lid * THREADS + t];
            thread_counts[lid * THREADS + t] = running;
            running += c;
        }
    }
    workgroupBarrier();
    var next: array<u32, 16>;
    for (var d = 0u; d < DIGITS; d++) {
        next[d] = thread_counts[d * THREADS + lid];
    }
    let base = block * BLOCK + lid * PER_THREAD;
    for (var k = 0u; k < PER_THREAD; k++) {
        let idx = base + k;
        if idx < params.n {
            let key = keys_in[idx];
            let d = digit_of(key);
            let dst = next[d];
            next[d] = dst + 1u;
            keys_out[dst] = key;
            values_out[dst] = values_in[idx];
        }
    }
}
