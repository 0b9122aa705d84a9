// What the rasterizer and its backward both read, declared once for the pair: the views, each
// tile's range in the depth-sorted pair list, the pairs' splat indices and the splats' projections.

@group(0) @binding(0) var<uniform> globals: Globals;
@group(0) @binding(1) var<storage, read> views: array<View>;
@group(0) @binding(2) var<storage, read> ranges: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read> tile_values: array<u32>;
@group(0) @binding(4) var<storage, read> proj_mean_depth_opacity: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> proj_conic_radius: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> proj_color: array<vec4<f32>>;
