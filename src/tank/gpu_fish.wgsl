// The GPU school's fish, drawn straight from its storage buffer: one instance per fish, a quad
// turned along the fish's velocity, shaded as the CPU school's fish sprite (tank::fish_image:
// body ellipse, forked tail, an eye) and tinted by a hash of the fish's index.

struct View {
    // Field coordinates (x right, y down) -> clip space.
    clip_from_field: mat4x4<f32>,
    // Fish length and width in field units.
    size: vec4<f32>,
}

@group(0) @binding(0) var<uniform> view: View;
@group(0) @binding(1) var<storage, read> fish: array<vec4<f32>>;

struct Out {
    @builtin(position) pos: vec4<f32>,
    // Position in the 32 x 16 fish image (x along the fish, y across, centred).
    @location(0) uv: vec2<f32>,
    @location(1) tint: vec3<f32>,
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    return select(pow((c + 0.055) / 1.055, vec3<f32>(2.4)), c / 12.92, c <= vec3<f32>(0.04045));
}

// Bevy's Color::hsl, then to linear RGB (the render target stores linear light).
fn hsl(h: f32, s: f32, l: f32) -> vec3<f32> {
    let c = (1.0 - abs(2.0 * l - 1.0)) * s;
    let hp = h / 60.0;
    let x = c * (1.0 - abs(hp % 2.0 - 1.0));
    var rgb = vec3<f32>(0.0);
    if (hp < 1.0) { rgb = vec3<f32>(c, x, 0.0); }
    else if (hp < 2.0) { rgb = vec3<f32>(x, c, 0.0); }
    else if (hp < 3.0) { rgb = vec3<f32>(0.0, c, x); }
    else if (hp < 4.0) { rgb = vec3<f32>(0.0, x, c); }
    else if (hp < 5.0) { rgb = vec3<f32>(x, 0.0, c); }
    else { rgb = vec3<f32>(c, 0.0, x); }
    return srgb_to_linear(rgb + vec3<f32>(l - 0.5 * c));
}

@vertex
fn vs(@builtin(vertex_index) vi: u32, @builtin(instance_index) ii: u32) -> Out {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(-0.5, -0.5), vec2<f32>(0.5, -0.5), vec2<f32>(0.5, 0.5),
        vec2<f32>(-0.5, -0.5), vec2<f32>(0.5, 0.5), vec2<f32>(-0.5, 0.5),
    );
    let k = corners[vi];
    let f = fish[ii];
    var h = vec2<f32>(1.0, 0.0);
    let speed = length(f.zw);
    if (speed > 0.0) {
        h = f.zw / speed;
    }
    // Across the fish: the image's rows (down the image = (-h.y, h.x) in the field, whose y
    // points down), as the sprite of a CPU fish turned along its velocity.
    let side = vec2<f32>(-h.y, h.x);
    let p = f.xy + h * (k.x * view.size.x) + side * (k.y * view.size.y);
    var out: Out;
    out.pos = view.clip_from_field * vec4<f32>(p, 0.0, 1.0);
    out.uv = vec2<f32>((k.x + 0.5) * 32.0, k.y * 16.0);
    let hash = f32((ii * 2654435761u) >> 8u) / 16777216.0;
    out.tint = hsl(190.0 + 50.0 * hash, 0.65, 0.55 + 0.2 * hash);
    return out;
}

@fragment
fn fs(in: Out) -> @location(0) vec4<f32> {
    let fx = in.uv.x;
    let fy = in.uv.y;
    let body = pow((fx - 19.0) / 12.0, 2.0) + pow(fy / 6.5, 2.0);
    let tail = fx < 10.0 && abs(fy) < (10.0 - fx) * 0.75 + 0.5 && abs(fy) > (10.0 - fx) * 0.2 - 1.5;
    let eye = pow(fx - 26.0, 2.0) + pow(fy + 1.5, 2.0) < 2.0;
    if (eye) {
        return vec4<f32>(srgb_to_linear(vec3<f32>(20.0, 20.0, 30.0) / 255.0), 1.0);
    }
    if (!(body <= 1.0 || tail)) {
        discard;
    }
    let shade = (200.0 + 55.0 * clamp(fy / 6.5, -1.0, 1.0)) / 255.0;
    var a = 1.0;
    if (body > 0.8 && body <= 1.0) {
        a = 200.0 / 255.0;
    }
    return vec4<f32>(srgb_to_linear(vec3<f32>(shade)) * in.tint, a);
}
