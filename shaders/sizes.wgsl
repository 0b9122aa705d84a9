// GPU-driven sizing: in a forward pass that reads nothing back, the passes after the projection
// (sorts, scans, emit, tile ranges) take their element counts and workgroup counts from the counts
// the projection left on the GPU. One thread runs a short program the host recorded while encoding
// those passes:
// - LOAD:   values[dst] = min(counters[src], cap)          (a count, clamped to its buffers' size)
// - DERIVE: values[dst] = min(ceil(values[src] / div) * mul, cap)   (e.g. a scan's block count)
// - PARAMS: for n = values[src] and ceil(n / div) workgroups, write one pass's parameter block at
//   params[dst] (layout `mul`: COUNT [n, groups_x], SORT [n, shift, blocks, groups_x], EMIT
//   [n, groups_x, capacity, 0], with `cap` as shift or capacity) and its indirect dispatch
//   arguments at indirect[at] (x, y, 1; x = 0 when there is no work).

struct Instruction {
    op: u32,
    dst: u32,
    src: u32,
    div: u32,
    mul: u32,
    cap: u32,
    at: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> counters: array<u32>;
@group(0) @binding(1) var<storage, read> program: array<Instruction>;
@group(0) @binding(2) var<storage, read_write> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> params: array<u32>;
@group(0) @binding(4) var<storage, read_write> indirect: array<u32>;

const LOAD: u32 = 0u;
const DERIVE: u32 = 1u;

const LAYOUT_COUNT: u32 = 0u;
const LAYOUT_SORT: u32 = 1u;

fn div_ceil(a: u32, b: u32) -> u32 {
    return (a + b - 1u) / b;
}

@compute @workgroup_size(1)
fn main() {
    for (var i = 0u; i < arrayLength(&program); i++) {
        let p = program[i];
        if p.op == LOAD {
            values[p.dst] = min(counters[p.src], p.cap);
        } else if p.op == DERIVE {
            values[p.dst] = min(div_ceil(values[p.src], p.div) * p.mul, p.cap);
        } else {
            let n = values[p.src];
            let groups = div_ceil(n, p.div);
            let gx = clamp(groups, 1u, 65535u);
            let gy = max(div_ceil(groups, gx), 1u);
            params[p.dst] = n;
            if p.mul == LAYOUT_COUNT {
                params[p.dst + 1u] = gx;
            } else if p.mul == LAYOUT_SORT {
                params[p.dst + 1u] = p.cap;
                params[p.dst + 2u] = groups;
                params[p.dst + 3u] = gx;
            } else {
                params[p.dst + 1u] = gx;
                params[p.dst + 2u] = p.cap;
                params[p.dst + 3u] = 0u;
            }
            indirect[p.at] = select(gx, 0u, groups == 0u);
            indirect[p.at + 1u] = gy;
            indirect[p.at + 2u] = 1u;
        }
    }
}
