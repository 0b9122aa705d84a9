// Stage 4: after the sort by tile, each tile's [start, end) in the pair list (tiles with no pair
// keep the [0, 0) they were cleared to).

struct RangeParams {
    pairs: u32,
    groups_x: u32,
}

@group(0) @binding(0) var<uniform> params: RangeParams;
@group(0) @binding(1) var<storage, read> tile_keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> ranges: array<vec2<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * params.groups_x * 256u;
    if i >= params.pairs {
        return;
    }
    let tile = tile_keys[i];
    if i == 0u || tile_keys[i - 1u] != tile {
        ranges[tile].x = i;
    }
    if i + 1u == params.pairs || tile_keys[i + 1u] != tile {
        ranges[tile].y = i + 1u;
    }
}
