'use strict';
// efficient4d's 4D player: draws a .splatv (the splaTV layout our `.splatv` export writes) with WebGL2,
// following the rules of our WGSL rasterizer (src/gaussians/math.rs), so that what the receiver sees is
// what the training saw: the same EWA projection with the 0.3 px low-pass, the same frustum guard, the
// same cut-offs (temporal weight 0.05, alpha 1/255, alpha at most 0.99) and front-to-back blending.
// The depth sort runs in a worker built from this file's own `sortByDepth`, so the page never stalls.
// No framework and no network request: everything it needs is in the one HTML file.

const MAGIC = 0x674b;
const SPLATS_PER_ROW = 1024;
const WORDS_PER_SPLAT = 16;
// What our rasterizer culls and clamps (src/gaussians/math.rs); the shaders below use the same numbers.
const MIN_TEMPORAL_WEIGHT = 0.05;
const NEAR_PLANE = 0.01;

// ---------------------------------------------------------------------------------------------------
// The file

/** Decodes an IEEE half (the low 16 bits of `h`) to a number. */
function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Parses a .splatv file: its splat texture words, splat count, cameras and time range. */
function parseSplatv(buffer) {
  const bytes = new Uint8Array(buffer);
  const data = new DataView(buffer);
  if (bytes.length < 8 || data.getUint32(0, true) !== MAGIC) {
    throw new Error('not a .splatv file (it does not start with the splaTV magic number)');
  }
  const jsonLength = data.getUint32(4, true);
  if (8 + jsonLength > bytes.length) throw new Error('the file ends inside its header');
  const chunks = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + jsonLength)));
  let offset = 8 + jsonLength;
  for (const chunk of chunks) {
    if (offset + chunk.size > bytes.length) throw new Error(`the ${chunk.type} chunk is cut short`);
    if (chunk.type === 'splat') {
      if (chunk.texwidth !== SPLATS_PER_ROW * 4) throw new Error(`texture width ${chunk.texwidth}, not 4096`);
      // slice() copies into an aligned buffer (the header's length need not be a multiple of 4).
      const words = new Uint32Array(buffer.slice(offset, offset + chunk.size - (chunk.size % 4)));
      const records = Math.floor(words.length / WORDS_PER_SPLAT);
      const count = Math.min(chunk.splats ?? records, records);
      const rows = Math.max(1, Math.ceil(records / SPLATS_PER_ROW));
      const texture = new Uint32Array(rows * SPLATS_PER_ROW * WORDS_PER_SPLAT);
      texture.set(words.subarray(0, texture.length));
      return {
        words: texture,
        count,
        rows,
        cameras: chunk.cameras || [],
        timeRange: chunk.time_range || [0, 1],
      };
    }
    offset += chunk.size;
  }
  throw new Error('the file has no splat chunk');
}

function base64ToBytes(text) {
  const binary = atob(text.replace(/\s+/g, ''));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Unpacks gzipped bytes with the browser's own decompressor. */
function gunzip(bytes) {
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
}

// ---------------------------------------------------------------------------------------------------
// The depth sort (run in a worker; the capture mode calls it directly)

/**
 * The per-splat data the sort needs, decoded once from the texture words: position, motion, temporal
 * centre and scale, and whether the splat is visible at all.
 */
function sortData(words, count) {
  const position = new Float32Array(count * 3);
  const motion = new Float32Array(count * 9);
  const timing = new Float32Array(count * 2);
  const f32 = new Float32Array(words.buffer, words.byteOffset, words.length);
  for (let i = 0; i < count; i++) {
    const w = i * 16;
    position.set([f32[w], f32[w + 1], f32[w + 2]], i * 3);
    for (let k = 0; k < 5; k++) {
      motion[i * 9 + 2 * k] = halfToFloat(words[w + 8 + k] & 0xffff);
      if (2 * k + 1 < 9) motion[i * 9 + 2 * k + 1] = halfToFloat(words[w + 8 + k] >>> 16);
    }
    const opaque = (words[w + 7] >>> 24) !== 0;
    timing[i * 2] = halfToFloat(words[w + 15] & 0xffff);
    // A transparent splat gets a zero temporal scale, which the sort skips.
    timing[i * 2 + 1] = opaque ? halfToFloat(words[w + 15] >>> 16) : 0;
  }
  // Scratch space for the sort, reused from frame to frame.
  const scratch = { depth: new Float32Array(count), visible: new Uint32Array(count), key: new Uint16Array(count), counts: new Uint32Array(65537) };
  return { count, position, motion, timing, scratch };
}

/**
 * Indices of the splats to draw at viewer time `u` from the camera `view` (a column-major world-to-camera
 * matrix, camera z forward), nearest first: a 16-bit counting sort on depth. Splats behind the near
 * plane or below the temporal cut-off are left out.
 */
function sortByDepth(data, view, u, minTemporalWeight, nearPlane) {
  const { count, position, motion, timing } = data;
  const { depth, visible, key, counts } = data.scratch;
  let n = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < count; i++) {
    const scale = timing[i * 2 + 1];
    if (!(scale > 0)) continue;
    const dt = u - timing[i * 2];
    if (!(Math.exp(-(dt / scale) * (dt / scale)) >= minTemporalWeight)) continue;
    const m = i * 9;
    const dt2 = dt * dt;
    const dt3 = dt2 * dt;
    const x = position[i * 3] + motion[m] * dt + motion[m + 3] * dt2 + motion[m + 6] * dt3;
    const y = position[i * 3 + 1] + motion[m + 1] * dt + motion[m + 4] * dt2 + motion[m + 7] * dt3;
    const z = position[i * 3 + 2] + motion[m + 2] * dt + motion[m + 5] * dt2 + motion[m + 8] * dt3;
    const d = view[2] * x + view[6] * y + view[10] * z + view[14];
    if (!(d > nearPlane)) continue;
    depth[n] = d;
    visible[n] = i;
    n++;
    if (d < lo) lo = d;
    if (d > hi) hi = d;
  }
  const buckets = 65536;
  const scale = hi > lo ? (buckets - 1) / (hi - lo) : 0;
  counts.fill(0);
  for (let j = 0; j < n; j++) {
    key[j] = Math.floor((depth[j] - lo) * scale);
    counts[key[j] + 1]++;
  }
  for (let b = 1; b <= buckets; b++) counts[b] += counts[b - 1];
  const order = new Uint32Array(n);
  for (let j = 0; j < n; j++) order[counts[key[j]]++] = visible[j];
  return order;
}

/** The worker's body: built into a Blob from this function's source and the two above. */
function sortWorkerMain() {
  let data = null;
  // eslint-disable-next-line no-restricted-globals
  self.onmessage = (event) => {
    const message = event.data;
    if (message.words) {
      data = sortData(message.words, message.count);
      return;
    }
    const order = sortByDepth(data, message.view, message.u, message.minTemporalWeight, message.nearPlane);
    self.postMessage({ id: message.id, order }, [order.buffer]);
  };
}

function startSortWorker() {
  const source = [halfToFloat, sortData, sortByDepth, sortWorkerMain].map((f) => f.toString()).join('\n');
  const url = URL.createObjectURL(new Blob([`'use strict';\n${source}\nsortWorkerMain();\n`], { type: 'text/javascript' }));
  const worker = new Worker(url);
  URL.revokeObjectURL(url);
  return worker;
}

// ---------------------------------------------------------------------------------------------------
// Shaders: one instanced quad per splat, sized to where its alpha falls to 1/255

const VERTEX_SHADER = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;

uniform usampler2D u_splats;
uniform mat4 u_view;      // world to camera: x right, y down, z forward
uniform vec2 u_focal;     // pixels
uniform vec2 u_centre;    // principal point, pixels from the top left
uniform vec2 u_viewport;  // pixels
uniform float u_time;     // viewer time 0..1

in vec2 a_corner;         // the quad's corner, -1..1
in uint a_index;          // which splat (per instance)

out vec4 v_color;         // colour and opacity at this time
out vec2 v_offset;        // pixels from the splat's centre, y down
flat out vec3 v_conic;

const float MIN_TEMPORAL_WEIGHT = 0.05;
const float NEAR_PLANE = 0.01;
const float LOW_PASS = 0.3;
const float FRUSTUM_GUARD = 1.3;
const float MIN_ALPHA = 1.0 / 255.0;

void cull() { gl_Position = vec4(0.0, 0.0, 2.0, 1.0); }

void main() {
  ivec2 base = ivec2(int((a_index & 1023u) << 2), int(a_index >> 10));
  uvec4 t0 = texelFetch(u_splats, base, 0);
  uvec4 t1 = texelFetch(u_splats, base + ivec2(1, 0), 0);
  uvec4 t2 = texelFetch(u_splats, base + ivec2(2, 0), 0);
  uvec4 t3 = texelFetch(u_splats, base + ivec2(3, 0), 0);

  vec2 timing = unpackHalf2x16(t3.w);  // temporal centre and scale
  float dt = u_time - timing.x;
  float temporal = exp(-(dt / timing.y) * (dt / timing.y));
  float alpha = float(t1.w >> 24) / 255.0;
  float opacity = alpha * temporal;
  if (!(temporal >= MIN_TEMPORAL_WEIGHT) || !(opacity >= MIN_ALPHA)) { cull(); return; }

  vec2 m01 = unpackHalf2x16(t2.x), m23 = unpackHalf2x16(t2.y), m45 = unpackHalf2x16(t2.z);
  vec2 m67 = unpackHalf2x16(t2.w), m8 = unpackHalf2x16(t3.x);
  vec3 velocity = vec3(m01, m23.x);
  vec3 acceleration = vec3(m23.y, m45);
  vec3 jerk = vec3(m67, m8.x);
  vec3 position = uintBitsToFloat(t0.xyz) + velocity * dt + acceleration * dt * dt + jerk * dt * dt * dt;

  vec4 q = vec4(unpackHalf2x16(t0.w), unpackHalf2x16(t1.x));  // w, x, y, z
  q += vec4(unpackHalf2x16(t3.y), unpackHalf2x16(t3.z)) * dt;
  q = normalize(q);
  float w = q.x, x = q.y, y = q.z, z = q.w;
  mat3 rotation = mat3(  // columns
    1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
    2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
    2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
  vec3 scale = vec3(unpackHalf2x16(t1.y), unpackHalf2x16(t1.z).x);
  mat3 m = rotation * mat3(scale.x, 0.0, 0.0, 0.0, scale.y, 0.0, 0.0, 0.0, scale.z);
  mat3 world = mat3(u_view);
  mat3 covCamera = world * m * transpose(m) * transpose(world);

  vec3 p = (u_view * vec4(position, 1.0)).xyz;
  if (!(p.z > NEAR_PLANE)) { cull(); return; }
  vec2 r = p.xy / p.z;
  vec2 limit = FRUSTUM_GUARD * 0.5 * u_viewport / u_focal;
  vec2 tr = clamp(r, -limit, limit);
  vec3 j0 = vec3(u_focal.x / p.z, 0.0, -u_focal.x * tr.x / p.z);
  vec3 j1 = vec3(0.0, u_focal.y / p.z, -u_focal.y * tr.y / p.z);
  vec3 cov2 = vec3(dot(j0, covCamera * j0) + LOW_PASS, dot(j0, covCamera * j1), dot(j1, covCamera * j1) + LOW_PASS);
  float det = cov2.x * cov2.z - cov2.y * cov2.y;
  if (!(det > 0.0)) { cull(); return; }
  v_conic = vec3(cov2.z, -cov2.y, cov2.x) / det;

  float mid = 0.5 * (cov2.x + cov2.z);
  float lambdaMax = mid + sqrt(max(mid * mid - det, 0.0));
  float radius = sqrt(2.0 * log(opacity / MIN_ALPHA) * lambdaMax);
  vec2 centre = u_focal * r + u_centre;
  v_offset = a_corner * radius;
  vec2 pixel = centre + v_offset;
  gl_Position = vec4(2.0 * pixel.x / u_viewport.x - 1.0, 1.0 - 2.0 * pixel.y / u_viewport.y, 0.0, 1.0);
  v_color = vec4(vec3((t1.w) & 255u, (t1.w >> 8) & 255u, (t1.w >> 16) & 255u) / 255.0, opacity);
}
`;

const FRAGMENT_SHADER = `#version 300 es
precision highp float;
in vec4 v_color;
in vec2 v_offset;
flat in vec3 v_conic;
out vec4 fragColor;
void main() {
  vec2 d = v_offset;
  float power = 0.5 * (v_conic.x * d.x * d.x + v_conic.z * d.y * d.y) + v_conic.y * d.x * d.y;
  float alpha = min(0.99, v_color.a * exp(-power));
  if (alpha < 1.0 / 255.0) discard;
  fragColor = vec4(v_color.rgb * alpha, alpha);  // premultiplied, blended front to back
}
`;

// The background, under everything drawn: adds background × transmittance.
const BACKGROUND_VERTEX = `#version 300 es
in vec2 a_corner;
void main() { gl_Position = vec4(a_corner, 0.0, 1.0); }
`;
const BACKGROUND_FRAGMENT = `#version 300 es
precision highp float;
uniform vec3 u_background;
out vec4 fragColor;
void main() { fragColor = vec4(u_background, 1.0); }
`;

function compile(gl, vertexSource, fragmentSource) {
  const program = gl.createProgram();
  for (const [type, source] of [[gl.VERTEX_SHADER, vertexSource], [gl.FRAGMENT_SHADER, fragmentSource]]) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
  return program;
}

// ---------------------------------------------------------------------------------------------------
// Cameras: a pose (eye and the camera's right, down and forward axes in world space) and an orbit target

const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const mul = (a, s) => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const normalize = (a) => mul(a, 1 / Math.hypot(...a));

/** Rotates `v` about the unit `axis` by `angle` (Rodrigues). */
function rotate(v, axis, angle) {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return add(add(mul(v, c), mul(cross(axis, v), s)), mul(axis, dot(axis, v) * (1 - c)));
}

class Pose {
  constructor(eye, right, down, forward, distance) {
    Object.assign(this, { eye, right, down, forward, distance });
  }

  /** A header camera (INRIA cameras.json: centre, camera-to-world rotation rows, OpenCV axes). */
  static fromHeader(camera, distance) {
    const r = camera.rotation;
    const column = (k) => [r[0][k], r[1][k], r[2][k]];
    return new Pose(camera.position.slice(), column(0), column(1), column(2), distance);
  }

  get target() {
    return add(this.eye, mul(this.forward, this.distance));
  }

  /** Column-major world-to-camera matrix. */
  matrix() {
    const { right: r, down: d, forward: f, eye } = this;
    return new Float32Array([
      r[0], d[0], f[0], 0, r[1], d[1], f[1], 0, r[2], d[2], f[2], 0,
      -dot(r, eye), -dot(d, eye), -dot(f, eye), 1,
    ]);
  }

  /** Turns the camera about the target: `yaw` about the world's up, `pitch` about the camera's right. */
  orbit(yaw, pitch, up) {
    const target = this.target;
    let { right, down, forward } = this;
    [right, down, forward] = [right, down, forward].map((a) => rotate(a, up, yaw));
    const pitched = [right, down, forward].map((a) => rotate(a, right, pitch));
    // Stop short of the poles rather than turn over them.
    if (Math.abs(dot(pitched[2], up)) < 0.995) [right, down, forward] = pitched;
    // Re-orthonormalise so that rounding does not accumulate over a long drag.
    forward = normalize(forward);
    right = normalize(sub(right, mul(forward, dot(forward, right))));
    down = cross(forward, right);
    Object.assign(this, { right, down, forward, eye: sub(target, mul(forward, this.distance)) });
  }

  /** Moves the camera and its target by a screen-space drag of (dx, dy) pixels at focal length `focal`. */
  pan(dx, dy, focal) {
    const s = this.distance / focal;
    this.eye = sub(this.eye, add(mul(this.right, dx * s), mul(this.down, dy * s)));
  }

  /** Moves toward (factor < 1) or away from the target. */
  zoom(factor) {
    const target = this.target;
    this.distance = Math.min(Math.max(this.distance * factor, 1e-3), 1e4);
    this.eye = sub(target, mul(this.forward, this.distance));
  }
}

// ---------------------------------------------------------------------------------------------------
// The player

class Player {
  constructor(canvas, settings) {
    const gl = canvas.getContext('webgl2', { antialias: false, alpha: true, premultipliedAlpha: true });
    if (!gl) throw new Error('this browser has no WebGL2');
    this.gl = gl;
    this.canvas = canvas;
    this.settings = settings;
    this.background = settings.background || [0, 0, 0];
    this.splatProgram = compile(gl, VERTEX_SHADER, FRAGMENT_SHADER);
    this.backgroundProgram = compile(gl, BACKGROUND_VERTEX, BACKGROUND_FRAGMENT);
    this.uniforms = {};
    for (const name of ['u_splats', 'u_view', 'u_focal', 'u_centre', 'u_viewport', 'u_time']) {
      this.uniforms[name] = gl.getUniformLocation(this.splatProgram, name);
    }
    this.backgroundUniform = gl.getUniformLocation(this.backgroundProgram, 'u_background');

    this.quad = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    this.splatVao = gl.createVertexArray();
    gl.bindVertexArray(this.splatVao);
    const corner = gl.getAttribLocation(this.splatProgram, 'a_corner');
    gl.enableVertexAttribArray(corner);
    gl.vertexAttribPointer(corner, 2, gl.FLOAT, false, 0, 0);
    this.indexBuffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, this.indexBuffer);
    const index = gl.getAttribLocation(this.splatProgram, 'a_index');
    gl.enableVertexAttribArray(index);
    gl.vertexAttribIPointer(index, 1, gl.UNSIGNED_INT, 0, 0);
    gl.vertexAttribDivisor(index, 1);
    this.backgroundVao = gl.createVertexArray();
    gl.bindVertexArray(this.backgroundVao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.quad);
    const bgCorner = gl.getAttribLocation(this.backgroundProgram, 'a_corner');
    gl.enableVertexAttribArray(bgCorner);
    gl.vertexAttribPointer(bgCorner, 2, gl.FLOAT, false, 0, 0);
    gl.bindVertexArray(null);

    this.texture = gl.createTexture();
    this.drawCount = 0;
    this.u = 0;
    this.worker = null;
    this.sortId = 0;
    this.pendingSort = null;
    this.sortedKey = '';
    this.waiters = new Map();
  }

  /** Uploads a parsed .splatv and starts the sort worker on it. */
  load(file) {
    const gl = this.gl;
    this.file = file;
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32UI, SPLATS_PER_ROW * 4, file.rows, 0, gl.RGBA_INTEGER, gl.UNSIGNED_INT, file.words);
    this.sortInput = sortData(file.words, file.count);
    if (this.worker) this.worker.terminate();
    this.worker = startSortWorker();
    this.worker.onmessage = (event) => this.onSorted(event.data);
    this.worker.onerror = (event) => reportError(event.message || 'the sort worker failed');
    this.worker.postMessage({ words: file.words, count: file.count });
    this.drawCount = 0;
    this.sortedKey = '';
    this.pendingSort = null;
    this.centre = this.centroid();
  }

  /** The mean position of the splats at their temporal centres: the orbit's default target. */
  centroid() {
    const { count, position } = this.sortInput;
    const c = [0, 0, 0];
    for (let i = 0; i < count; i++) for (let k = 0; k < 3; k++) c[k] += position[i * 3 + k];
    return count ? mul(c, 1 / count) : c;
  }

  /** A pose at header camera `i`, orbiting about the point in front of it nearest the model's centre. */
  poseAt(i) {
    const camera = this.file.cameras[i];
    const forward = Pose.fromHeader(camera, 1).forward;
    const distance = Math.max(dot(sub(this.centre, camera.position), forward), 0.1);
    return Pose.fromHeader(camera, distance);
  }

  sortKey(view, u) {
    return `${Array.from(view).join(',')}|${u}`;
  }

  /** Asks the worker for the order at (view, u) unless it is already sorted or being sorted. */
  requestSort(view, u) {
    const key = this.sortKey(view, u);
    if (key === this.sortedKey || this.pendingSort) return;
    this.pendingSort = { id: ++this.sortId, key };
    this.worker.postMessage({ id: this.sortId, view, u, minTemporalWeight: MIN_TEMPORAL_WEIGHT, nearPlane: NEAR_PLANE });
  }

  onSorted({ id, order }) {
    if (!this.pendingSort || this.pendingSort.id !== id) return;
    this.setOrder(order, this.pendingSort.key);
    this.pendingSort = null;
    const waiter = this.waiters.get(id);
    if (waiter) {
      this.waiters.delete(id);
      waiter();
    }
  }

  /** Resolves once the worker has sorted for (view, u). */
  sorted(view, u) {
    if (this.sortKey(view, u) === this.sortedKey) return Promise.resolve();
    const wait = () => new Promise((resolve) => {
      this.requestSort(view, u);
      this.waiters.set(this.pendingSort.id, resolve);
    });
    if (!this.pendingSort) return wait();
    // A sort for another state is under way: let it land, then ask again.
    return new Promise((resolve) => this.waiters.set(this.pendingSort.id, resolve)).then(() => this.sorted(view, u));
  }

  setOrder(order, key) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.indexBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, order, gl.DYNAMIC_DRAW);
    this.drawCount = order.length;
    this.sortedKey = key;
  }

  /**
   * Draws the splats as seen from `view` with focal lengths `focal` and principal point `centre` (pixels)
   * at viewer time `u`, into a drawing buffer of the canvas's size; the background after, when asked.
   */
  draw(view, focal, centre, u, withBackground) {
    const gl = this.gl;
    const { width, height } = this.canvas;
    gl.viewport(0, 0, width, height);
    gl.disable(gl.DEPTH_TEST);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    // Front to back: colour += (1 − accumulated alpha) · premultiplied colour.
    gl.blendFuncSeparate(gl.ONE_MINUS_DST_ALPHA, gl.ONE, gl.ONE_MINUS_DST_ALPHA, gl.ONE);
    if (this.drawCount > 0) {
      gl.useProgram(this.splatProgram);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.texture);
      gl.uniform1i(this.uniforms.u_splats, 0);
      gl.uniformMatrix4fv(this.uniforms.u_view, false, view);
      gl.uniform2f(this.uniforms.u_focal, focal[0], focal[1]);
      gl.uniform2f(this.uniforms.u_centre, centre[0], centre[1]);
      gl.uniform2f(this.uniforms.u_viewport, width, height);
      gl.uniform1f(this.uniforms.u_time, u);
      gl.bindVertexArray(this.splatVao);
      gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, this.drawCount);
    }
    if (withBackground) {
      gl.useProgram(this.backgroundProgram);
      gl.uniform3fv(this.backgroundUniform, this.background);
      gl.bindVertexArray(this.backgroundVao);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }
    gl.bindVertexArray(null);
  }

  /** The drawing buffer's premultiplied RGBA, top row first. */
  readPixels() {
    const gl = this.gl;
    const { width, height } = this.canvas;
    const flipped = new Uint8Array(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, flipped);
    const rows = new Uint8Array(flipped.length);
    for (let y = 0; y < height; y++) {
      rows.set(flipped.subarray((height - 1 - y) * width * 4, (height - y) * width * 4), y * width * 4);
    }
    return rows;
  }
}

// ---------------------------------------------------------------------------------------------------
// The page: controls, the animation loop, the capture mode for tests

/** Shows an error on the page and in the console (where tests look for it). */
function reportError(message) {
  console.error(String(message));
  const status = document.getElementById('status');
  if (status) status.textContent = `error: ${message}`;
}
window.addEventListener('error', (event) => reportError(event.message));
window.addEventListener('unhandledrejection', (event) => reportError(event.reason && event.reason.message || event.reason));

function bytesToBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function hexToRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
}

function rgbToHex(rgb) {
  return `#${rgb.map((c) => Math.round(Math.min(Math.max(c, 0), 1) * 255).toString(16).padStart(2, '0')).join('')}`;
}

class Page {
  constructor() {
    this.settings = JSON.parse(document.getElementById('settings').textContent);
    this.canvas = document.getElementById('view');
    this.player = new Player(this.canvas, this.settings);
    this.playing = false;
    this.lastFrame = null;
    this.pointers = new Map();
    this.dirty = true;
    this.element = (id) => document.getElementById(id);
  }

  open(buffer, title) {
    const file = parseSplatv(buffer);
    if (!file.cameras.length) {
      // A file without cameras: look at the model from +z·4 of its centre (OpenCV axes: y down).
      file.cameras = [{ position: [0, 0, -4], rotation: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], fx: 600, fy: 600, width: 800, height: 800, img_name: 'default' }];
    }
    this.player.load(file);
    this.file = file;
    this.element('title').textContent = title;
    document.title = title;
    this.element('stats').textContent = `${file.count.toLocaleString()} splats · time ${file.timeRange[0]} … ${file.timeRange[1]}`;
    const select = this.element('camera');
    select.replaceChildren(...file.cameras.map((c, i) => new Option(c.img_name || `camera ${i}`, String(i))));
    this.snap(0);
    this.element('status').textContent = '';
  }

  snap(i) {
    this.cameraIndex = i;
    this.pose = this.player.poseAt(i);
    this.element('camera').value = String(i);
    this.dirty = true;
  }

  /** The world's up for orbiting: the settings' (ours: +z), else the first camera's. */
  up() {
    if (this.settings.up) return normalize(this.settings.up);
    return mul(this.player.poseAt(0).down, -1);
  }

  /** Focal lengths keeping the snapped camera's vertical field of view on this canvas. */
  focal() {
    const camera = this.file.cameras[this.cameraIndex];
    const f = (camera.fy * this.canvas.height) / camera.height;
    return [f, f];
  }

  setTime(u) {
    this.player.u = Math.min(Math.max(u, 0), 1);
    this.element('scrub').value = String(Math.round(this.player.u * 1000));
    const [t0, t1] = this.file.timeRange;
    const t = t0 + this.player.u * (t1 - t0);
    this.element('time').textContent = `t = ${t.toFixed(3)} (${Math.round(this.player.u * 100)} %)`;
    this.dirty = true;
  }

  setPlaying(playing) {
    this.playing = playing;
    this.lastFrame = null;
    this.element('play').textContent = playing ? '❚❚' : '▶';
    if (playing && this.player.u >= 1) this.setTime(0);
  }

  bindControls() {
    const el = this.element;
    el('play').addEventListener('click', () => this.setPlaying(!this.playing));
    el('scrub').addEventListener('input', () => {
      this.setPlaying(false);
      this.setTime(Number(el('scrub').value) / 1000);
    });
    el('camera').addEventListener('change', () => this.snap(Number(el('camera').value)));
    el('background').value = rgbToHex(this.player.background);
    el('background').addEventListener('input', () => {
      this.player.background = hexToRgb(el('background').value);
      this.dirty = true;
    });
    window.addEventListener('keydown', (event) => {
      if (event.target instanceof HTMLInputElement && event.target.type !== 'range') return;
      if (event.key === ' ') this.setPlaying(!this.playing);
      else if (event.key === 'ArrowRight') this.setTime(this.player.u + 0.01);
      else if (event.key === 'ArrowLeft') this.setTime(this.player.u - 0.01);
      else return;
      event.preventDefault();
    });

    // Pointer events cover the mouse, touch and pens: one pointer orbits (pans with the right button
    // or shift), two pinch to zoom and drag to pan.
    const canvas = this.canvas;
    canvas.addEventListener('contextmenu', (event) => event.preventDefault());
    canvas.addEventListener('pointerdown', (event) => {
      canvas.setPointerCapture(event.pointerId);
      this.pointers.set(event.pointerId, { x: event.clientX, y: event.clientY, pan: event.button === 2 || event.shiftKey });
    });
    const release = (event) => this.pointers.delete(event.pointerId);
    canvas.addEventListener('pointerup', release);
    canvas.addEventListener('pointercancel', release);
    canvas.addEventListener('pointermove', (event) => {
      const p = this.pointers.get(event.pointerId);
      if (!p) return;
      const ratio = window.devicePixelRatio || 1;
      if (this.pointers.size === 1) {
        const dx = event.clientX - p.x;
        const dy = event.clientY - p.y;
        if (p.pan) this.pose.pan(dx * ratio, dy * ratio, this.focal()[0]);
        else this.pose.orbit(-dx * 0.006, -dy * 0.006, this.up());
      } else if (this.pointers.size === 2) {
        const [a, b] = [...this.pointers.values()];
        const other = a === p ? b : a;
        const before = Math.hypot(p.x - other.x, p.y - other.y);
        const after = Math.hypot(event.clientX - other.x, event.clientY - other.y);
        if (before > 0 && after > 0) this.pose.zoom(before / after);
        this.pose.pan(((event.clientX - p.x) / 2) * ratio, ((event.clientY - p.y) / 2) * ratio, this.focal()[0]);
      }
      p.x = event.clientX;
      p.y = event.clientY;
      this.dirty = true;
    });
    canvas.addEventListener('wheel', (event) => {
      event.preventDefault();
      this.pose.zoom(Math.exp(event.deltaY * 0.0015));
      this.dirty = true;
    }, { passive: false });

    // Drop a .splatv to open it.
    window.addEventListener('dragover', (event) => event.preventDefault());
    window.addEventListener('drop', async (event) => {
      event.preventDefault();
      const file = event.dataTransfer.files[0];
      if (!file) return;
      try {
        this.open(await file.arrayBuffer(), file.name);
      } catch (error) {
        reportError(`${file.name}: ${error.message}`);
      }
    });
  }

  resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(this.canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(this.canvas.clientHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.dirty = true;
    }
  }

  frame(now) {
    requestAnimationFrame((t) => this.frame(t));
    // A capture or benchmark owns the canvas while it runs.
    if (this.held) return;
    if (this.playing) {
      if (this.lastFrame !== null) {
        const speed = Number(this.element('speed').value);
        let u = this.player.u + ((now - this.lastFrame) / 1000) * speed / this.settings.duration_s;
        if (u > 1) {
          if (this.element('loop').checked) u -= Math.floor(u);
          else {
            u = 1;
            this.setPlaying(false);
          }
        }
        this.setTime(u);
      }
      this.lastFrame = now;
    }
    this.resize();
    const view = this.pose.matrix();
    this.player.requestSort(view, this.player.u);
    if (this.dirty || this.player.sortedKey !== this.drawnKey) {
      this.player.draw(view, this.focal(), [this.canvas.width / 2, this.canvas.height / 2], this.player.u, true);
      this.drawnKey = this.player.sortedKey;
      this.dirty = false;
      this.framesDrawn = (this.framesDrawn || 0) + 1;
    }
  }

  /**
   * The capture mode, for tests: renders each header camera `camera` at viewer time `u` at the camera's
   * own intrinsics scaled to `size` pixels wide, without the background, and returns the premultiplied
   * RGBA (base64, top row first). Uses the worker's sort, as the interactive page does.
   */
  async capture(shots, size) {
    this.held = true;
    const images = [];
    for (const { camera, u } of shots) {
      const c = this.file.cameras[camera];
      const scale = size / c.width;
      const view = Pose.fromHeader(c, 1).matrix();
      await this.player.sorted(view, u);
      this.canvas.width = size;
      this.canvas.height = Math.round(c.height * scale);
      this.player.draw(view, [c.fx * scale, c.fy * scale], [this.canvas.width / 2, this.canvas.height / 2], u, false);
      images.push({ camera, u, width: this.canvas.width, height: this.canvas.height, rgba: bytesToBase64(this.player.readPixels()) });
    }
    this.held = false;
    this.dirty = true;
    return images;
  }

  /** Frame times for a benchmark: `frames` draws orbiting the model while time runs, each waited for. */
  async benchmark(frames, size) {
    this.held = true;
    this.canvas.width = size;
    this.canvas.height = size;
    const focal = this.focal();
    const sortMs = [];
    const drawMs = [];
    for (let i = 0; i < frames; i++) {
      this.pose.orbit(0.02, 0, this.up());
      const u = i / frames;
      const view = this.pose.matrix();
      const t0 = performance.now();
      await this.player.sorted(view, u);
      const t1 = performance.now();
      this.canvas.width = size;
      this.canvas.height = size;
      this.player.draw(view, focal, [size / 2, size / 2], u, true);
      this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, new Uint8Array(4));  // waits for the GPU
      const t2 = performance.now();
      sortMs.push(t1 - t0);
      drawMs.push(t2 - t1);
    }
    this.held = false;
    this.dirty = true;
    const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
    return { frames, size, splats: this.file.count, sort_ms: median(sortMs), draw_ms: median(drawMs) };
  }

  get gl() {
    return this.player.gl;
  }
}

async function main() {
  if (typeof DecompressionStream === 'undefined') {
    throw new Error('this browser cannot unpack the model (it has no DecompressionStream): use a current Chrome, Edge, Firefox or Safari');
  }
  const page = new Page();
  const model = await gunzip(base64ToBytes(document.getElementById('model').textContent));
  page.open(model, page.settings.title || 'efficient4d');
  page.bindControls();
  page.setTime(0);
  page.resize();
  // Published once it can draw: tests and benchmarks wait for it.
  window.efficient4dPlayer = page;
  requestAnimationFrame((t) => page.frame(t));
}

main().catch((error) => reportError(error.message));
