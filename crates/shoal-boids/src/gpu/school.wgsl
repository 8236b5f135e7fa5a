// The fish school's step on the GPU: the CPU school's rules (src/boids/rules.rs, grid/,
// playground.rs), written again for compute shaders. One step, from one snapshot:
//
//   clear -> count (each fish's cell, atomically counted) -> scan (exclusive prefix sum of the
//   counts: each cell's first slot) -> scatter (fish index into its cell's slots) -> order
//   (each cell's fish by index, so the slots are the CPU grid's: deterministic) -> gather (the
//   snapshot in slot order) -> steer (3 x 3 cells, flee, walls, rocks, integrate, keep out) ->
//   prey + sharks (each shark chases the nearest fish of the new positions).
//
// Every dispatch is 2-D when it needs more than 65,535 workgroups; `gid` linearises it.

struct Params {
    n: u32, cells: u32, nx: u32, ny: u32,
    inv_cell: f32, vision2: f32, avoid2: f32, fov_cos: f32,
    fov_on: u32, n_sharks: u32, n_extra: u32, n_rocks: u32,
    width: f32, height: f32, cohesion: f32, alignment: f32,
    separation: f32, max_accel: f32, max_speed: f32, boundary_push: f32,
    flee: f32, flee_r2: f32, current_x: f32, current_y: f32,
    shark_speed: f32, shark_accel: f32, rock_margin: f32, rock_strength: f32,
    prey_chunks: u32, prey_chunk: u32, pad0: u32, pad1: u32,
}

struct Level { len: u32, off: u32, next: u32, groups: u32 }

@group(0) @binding(0) var<uniform> P: Params;
// Fish i: (position, velocity), the step's input and output (ping-pong).
@group(0) @binding(1) var<storage, read> fish_in: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> fish_out: array<vec4<f32>>;
// Per fish: (cell, place among the cell's fish as counted).
@group(0) @binding(3) var<storage, read_write> key: array<vec2<u32>>;
// Counts -> cell starts (level 0: cells + 1 entries; start[cells] = n), then the scan's
// higher levels.
@group(0) @binding(4) var<storage, read_write> scan: array<atomic<u32>>;
// The snapshot in slot order.
@group(0) @binding(5) var<storage, read_write> sorted: array<vec4<f32>>;
// order[slot] = fish index (0..n), rank[fish] = slot (n..2n).
@group(0) @binding(6) var<storage, read_write> idx: array<u32>;
// Sharks: autonomous ones (position, velocity) first, then other shark positions (the pointer).
@group(0) @binding(7) var<storage, read_write> sharks: array<vec4<f32>>;
// Rocks and their coarse index, as u32 words (floats bit-cast): see `RockData` in gpu/mod.rs.
@group(0) @binding(8) var<storage, read> rocks: array<u32>;
// Each shark's nearest fish per chunk of fish: (distance² bits, fish index).
@group(0) @binding(9) var<storage, read_write> prey: array<vec2<u32>>;
@group(0) @binding(10) var<uniform> L: Level;

const WG: u32 = 256u;
const BIG: f32 = 3.4028235e38;
const NONE: u32 = 0xffffffffu;

fn gid(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid;
}

// glam's normalize_or_zero.
fn nz(v: vec2<f32>) -> vec2<f32> {
    let l = sqrt(dot(v, v));
    if (l > 0.0) {
        let r = 1.0 / l;
        if (r > 0.0 && r <= BIG) {
            return v * r;
        }
    }
    return vec2<f32>(0.0);
}

// The grid's cell of p (Grid::cell_xy): truncation, clamped into the grid; NaN -> 0.
fn cell_axis(x: f32, count: u32) -> u32 {
    if (!(x >= 0.0)) {
        return 0u;
    }
    if (x >= f32(count)) {
        return count - 1u;
    }
    return min(u32(x), count - 1u);
}

fn cell_xy(p: vec2<f32>) -> vec2<u32> {
    return vec2<u32>(cell_axis(p.x * P.inv_cell, P.nx), cell_axis(p.y * P.inv_cell, P.ny));
}

fn start(c: u32) -> u32 {
    return atomicLoad(&scan[c]);
}

@compute @workgroup_size(256)
fn clear(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let g = gid(wid, nwg, lid);
    if (g <= P.cells) {
        atomicStore(&scan[g], 0u);
    }
}

@compute @workgroup_size(256)
fn count(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = gid(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let c = cell_xy(fish_in[i].xy);
    let cell = c.y * P.nx + c.x;
    key[i] = vec2<u32>(cell, atomicAdd(&scan[cell], 1u));
}

var<workgroup> sh: array<u32, 256>;

// Level L.off..L.off+L.len: exclusive scan within each block of 256; block totals to L.next.
@compute @workgroup_size(256)
fn scan_up(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * nwg.x + wid.x;
    let g = wg * WG + lid;
    var v = 0u;
    if (g < L.len) {
        v = atomicLoad(&scan[L.off + g]);
    }
    sh[lid] = v;
    workgroupBarrier();
    for (var d = 1u; d < WG; d = d << 1u) {
        var t = 0u;
        if (lid >= d) {
            t = sh[lid - d];
        }
        workgroupBarrier();
        sh[lid] = sh[lid] + t;
        workgroupBarrier();
    }
    if (g < L.len) {
        atomicStore(&scan[L.off + g], sh[lid] - v);
    }
    if (lid == WG - 1u && wg < L.groups) {
        atomicStore(&scan[L.next + wg], sh[lid]);
    }
}

// Adds each block's (scanned) offset from the level above.
@compute @workgroup_size(256)
fn scan_down(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * nwg.x + wid.x;
    let g = wg * WG + lid;
    if (g < L.len) {
        let add = atomicLoad(&scan[L.next + wg]);
        atomicAdd(&scan[L.off + g], add);
    }
}

@compute @workgroup_size(256)
fn scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = gid(wid, nwg, lid);
    if (i >= P.n) {
        return;
    }
    let k = key[i];
    idx[start(k.x) + k.y] = i;
}

// Each cell's fish in index order (insertion sort: cells hold few fish).
@compute @workgroup_size(256)
fn order(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let c = gid(wid, nwg, lid);
    if (c >= P.cells) {
        return;
    }
    let a = start(c);
    let b = start(c + 1u);
    for (var s = a + 1u; s < b; s++) {
        let x = idx[s];
        var t = s;
        while (t > a && idx[t - 1u] > x) {
            idx[t] = idx[t - 1u];
            t--;
        }
        idx[t] = x;
    }
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let s = gid(wid, nwg, lid);
    if (s >= P.n) {
        return;
    }
    let i = idx[s];
    sorted[s] = fish_in[i];
    idx[P.n + i] = s;
}

fn sees(p: vec2<f32>, q: vec2<f32>, h: vec2<f32>) -> bool {
    let d = q - p;
    return (h.x == 0.0 && h.y == 0.0) || dot(d, h) >= P.fov_cos * length(d);
}

fn boundary(p: vec2<f32>) -> vec2<f32> {
    var b = vec2<f32>(0.0);
    if (p.x < 0.0) { b.x = P.boundary_push; } else if (p.x > P.width) { b.x = -P.boundary_push; }
    if (p.y < 0.0) { b.y = P.boundary_push; } else if (p.y > P.height) { b.y = -P.boundary_push; }
    return b;
}

// Rock data: [0] count, [1] nx, [2] ny, [3] cell, [4..6] origin, rocks at 8 + 3k (x, y, r),
// then the cells' starts (nx * ny + 1) and the rock lists.
fn rock(k: u32) -> vec3<f32> {
    let o = 8u + 3u * k;
    return vec3<f32>(bitcast<f32>(rocks[o]), bitcast<f32>(rocks[o + 1u]), bitcast<f32>(rocks[o + 2u]));
}

// The list range (RockIndex::near) of the cell around p: [first, last) into the lists.
fn rocks_near(p: vec2<f32>) -> vec2<u32> {
    let nr = rocks[0];
    if (nr == 0u) {
        return vec2<u32>(0u);
    }
    let nx = rocks[1];
    let ny = rocks[2];
    let c = (p - vec2<f32>(bitcast<f32>(rocks[4]), bitcast<f32>(rocks[5]))) / bitcast<f32>(rocks[3]);
    if (!(c.x >= 0.0 && c.y >= 0.0 && c.x < f32(nx) && c.y < f32(ny))) {
        return vec2<u32>(0u);
    }
    let cell = u32(c.y) * nx + u32(c.x);
    let starts = 8u + 3u * nr;
    return vec2<u32>(rocks[starts + cell], rocks[starts + cell + 1u]);
}

fn rock_at(list: u32) -> vec3<f32> {
    return rock(rocks[list]);
}

fn rock_push_one(p: vec2<f32>, r: vec3<f32>) -> vec2<f32> {
    let d = p - r.xy;
    let reach = r.z + P.rock_margin;
    let d2 = dot(d, d);
    if (d2 < reach * reach) {
        let gap = max(sqrt(d2) - r.z, 0.0);
        return P.rock_strength * (1.0 - gap / P.rock_margin) * nz(d);
    }
    return vec2<f32>(0.0);
}

// keep_out against one rock: returns (p, v).
fn keep_out_one(pv: vec4<f32>, r: vec3<f32>) -> vec4<f32> {
    var p = pv.xy;
    var v = pv.zw;
    let d = p - r.xy;
    if (dot(d, d) < r.z * r.z) {
        var n = nz(d);
        if (n.x == 0.0 && n.y == 0.0) {
            n = nz(-v);
            if (n.x == 0.0 && n.y == 0.0) {
                n = vec2<f32>(1.0, 0.0);
            }
        }
        p = r.xy + n * (r.z * (1.0 + 1e-5) + 1e-3);
        let into = dot(v, n);
        if (into < 0.0) {
            v = v - into * n;
        }
    }
    return vec4<f32>(p, v);
}

@compute @workgroup_size(256)
fn steer(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let me = gid(wid, nwg, lid);
    if (me >= P.n) {
        return;
    }
    let f = sorted[me];
    let p = f.xy;
    let v = f.zw;
    var h = vec2<f32>(0.0);
    if (P.fov_on != 0u) {
        h = nz(v);
    }
    // Neighbour sums over the 3 x 3 cells (three runs of slots, one per row).
    var count = 0u;
    var near = 0u;
    var offset = vec2<f32>(0.0);
    var vel = vec2<f32>(0.0);
    var near_offset = vec2<f32>(0.0);
    let c = cell_xy(p);
    let x0 = select(c.x - 1u, 0u, c.x == 0u);
    let x1 = min(c.x + 1u, P.nx - 1u);
    for (var dy = 0u; dy < 3u; dy++) {
        let y = i32(c.y) + i32(dy) - 1;
        if (y < 0 || y >= i32(P.ny)) {
            continue;
        }
        let row = u32(y) * P.nx;
        let b = start(row + x1 + 1u);
        for (var s = start(row + x0); s < b; s++) {
            if (s == me) {
                continue;
            }
            let o = sorted[s];
            if (P.fov_on != 0u && !sees(p, o.xy, h)) {
                continue;
            }
            let d = o.xy - p;
            let d2 = dot(d, d);
            if (d2 < P.vision2) {
                count++;
                offset += d;
                vel += o.zw;
                if (d2 < P.avoid2) {
                    near++;
                    near_offset += d;
                }
            }
        }
    }
    var flock = vec2<f32>(0.0);
    if (count > 0u) {
        let k = f32(count);
        flock = P.cohesion * nz(offset / k) + P.alignment * nz(vel / k - v);
        if (near > 0u) {
            flock += -P.separation * nz(near_offset / f32(near));
        }
    }
    // Fleeing: from the nearest shark within reach (the first of equally near ones).
    var flee = vec2<f32>(0.0);
    let all_sharks = P.n_sharks + P.n_extra;
    if (all_sharks > 0u && P.flee != 0.0) {
        var best = BIG;
        var found = false;
        var prey_at = vec2<f32>(0.0);
        for (var k = 0u; k < all_sharks; k++) {
            let s = sharks[k].xy;
            let d = s - p;
            let d2 = dot(d, d);
            if (d2 < P.flee_r2 && (!found || d2 < best)) {
                best = d2;
                prey_at = s;
                found = true;
            }
        }
        if (found) {
            flee = -P.flee * nz(prey_at - p);
        }
    }
    var a = P.max_accel * nz(flock + flee);
    a += boundary(p);
    if (rocks[0] > 0u) {
        let list = rocks_near(p);
        var push = vec2<f32>(0.0);
        for (var k = list.x; k < list.y; k++) {
            push += rock_push_one(p, rock_at(k));
        }
        a += push;
    }
    // Integrate: v += a, clamp the speed, p += v (+ the current).
    var nv = v + a;
    let speed2 = dot(nv, nv);
    if (speed2 > P.max_speed * P.max_speed) {
        nv *= P.max_speed / sqrt(speed2);
    }
    var out = vec4<f32>(p + nv + vec2<f32>(P.current_x, P.current_y), nv);
    if (rocks[0] > 0u) {
        let list = rocks_near(out.xy);
        for (var k = list.x; k < list.y; k++) {
            out = keep_out_one(out, rock_at(k));
        }
    }
    fish_out[idx[me]] = out;
}

// Each (chunk of fish, shark) workgroup: the shark's nearest fish in the chunk.
var<workgroup> best_d: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

fn better(d: f32, i: u32, bd: f32, bi: u32) -> bool {
    return d < bd || (d == bd && i < bi);
}

@compute @workgroup_size(256)
fn prey_find(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let chunk = wid.x;
    let shark = wid.y;
    let s = sharks[shark].xy;
    var bd = BIG;
    var bi = NONE;
    let end = min((chunk + 1u) * P.prey_chunk, P.n);
    for (var i = chunk * P.prey_chunk + lid; i < end; i += WG) {
        let d = fish_out[i].xy - s;
        let d2 = dot(d, d);
        if (d2 < BIG && better(d2, i, bd, bi)) {
            bd = d2;
            bi = i;
        }
    }
    best_d[lid] = bd;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w = w >> 1u) {
        if (lid < w && better(best_d[lid + w], best_i[lid + w], best_d[lid], best_i[lid])) {
            best_d[lid] = best_d[lid + w];
            best_i[lid] = best_i[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        prey[shark * P.prey_chunks + chunk] = vec2<u32>(bitcast<u32>(best_d[0]), best_i[0]);
    }
}

// One thread per shark: its prey over all chunks, then playground::step_sharks.
@compute @workgroup_size(64)
fn sharks_move(@builtin(global_invocation_id) g: vec3<u32>) {
    let k = g.x;
    if (k >= P.n_sharks) {
        return;
    }
    var bd = BIG;
    var bi = NONE;
    for (var c = 0u; c < P.prey_chunks; c++) {
        let b = prey[k * P.prey_chunks + c];
        let d = bitcast<f32>(b.x);
        if (b.y != NONE && better(d, b.y, bd, bi)) {
            bd = d;
            bi = b.y;
        }
    }
    let sp = sharks[k].xy;
    var chase = vec2<f32>(0.0);
    if (bi != NONE) {
        chase = P.shark_accel * nz(fish_out[bi].xy - sp);
    }
    var push = vec2<f32>(0.0);
    for (var r = 0u; r < rocks[0]; r++) {
        push += rock_push_one(sp, rock(r));
    }
    var v = sharks[k].zw + chase + boundary(sp) + push;
    let speed2 = dot(v, v);
    if (speed2 > P.shark_speed * P.shark_speed) {
        v *= P.shark_speed / sqrt(speed2);
    }
    var out = vec4<f32>(sp + v + vec2<f32>(P.current_x, P.current_y), v);
    for (var r = 0u; r < rocks[0]; r++) {
        out = keep_out_one(out, rock(r));
    }
    sharks[k] = out;
}
