// Exact ellipse / tile overlap: does any pixel centre of the tile have alpha >= 1/255?

// power(d) = ½ (A dx² + C dy²) + B dx dy.
fn splat_power(conic: vec3<f32>, d: vec2<f32>) -> f32 {
    return 0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) + conic.y * d.x * d.y;
}

// Minimum of the power over the segment x = x0 (fixed), y in [y0, y1] (relative to the mean).
fn min_power_vertical(conic: vec3<f32>, x0: f32, y0: f32, y1: f32) -> f32 {
    let y = clamp(-conic.y * x0 / conic.z, y0, y1);
    return splat_power(conic, vec2<f32>(x0, y));
}

fn min_power_horizontal(conic: vec3<f32>, y0: f32, x0: f32, x1: f32) -> f32 {
    let x = clamp(-conic.y * y0 / conic.x, x0, x1);
    return splat_power(conic, vec2<f32>(x, y0));
}

// `lo`/`hi` are the first and last pixel centres of the tile (inclusive).
fn ellipse_touches_rect(mean: vec2<f32>, conic: vec3<f32>, power_limit: f32, lo: vec2<f32>, hi: vec2<f32>) -> bool {
    let a = lo - mean;
    let b = hi - mean;
    if a.x <= 0.0 && b.x >= 0.0 && a.y <= 0.0 && b.y >= 0.0 {
        return true;
    }
    // The power is convex, so with the mean outside, its minimum over the box lies on an edge.
    let m = min(min(min_power_vertical(conic, a.x, a.y, b.y), min_power_vertical(conic, b.x, a.y, b.y)),
                min(min_power_horizontal(conic, a.y, a.x, b.x), min_power_horizontal(conic, b.y, a.x, b.x)));
    // A small margin: rounding must never drop a tile that a pixel test would accept.
    return m <= power_limit + 0.01;
}

// Tile rectangle (in tiles, inclusive min, exclusive max) covered by the splat's bounding circle.
fn tile_bounds(mean: vec2<f32>, radius: f32) -> vec4<u32> {
    let tiles = vec2<f32>(f32(globals.tiles_x), f32(globals.tiles_y));
    // Pixel centres are at i + 0.5; a tile t covers centres t*16 + 0.5 .. t*16 + 15.5.
    let r = radius + 0.5;
    let lo = clamp(floor((mean - r - 0.5) / f32(TILE)), vec2<f32>(0.0), tiles);
    let hi = clamp(floor((mean + r - 0.5) / f32(TILE)) + 1.0, vec2<f32>(0.0), tiles);
    return vec4<u32>(vec2<u32>(lo), vec2<u32>(hi));
}

fn tile_pixel_rect(tx: u32, ty: u32) -> vec4<f32> {
    let x0 = f32(tx * TILE) + 0.5;
    let y0 = f32(ty * TILE) + 0.5;
    let x1 = f32(min((tx + 1u) * TILE, globals.width) - 1u) + 0.5;
    let y1 = f32(min((ty + 1u) * TILE, globals.height) - 1u) + 0.5;
    return vec4<f32>(x0, y0, x1, y1);
}
