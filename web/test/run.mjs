// Browser test for the wasm build (run by scripts/test-web): serve dist/ and open it in headless
// Chromium twice, as two kinds of visitor: a browser with WebGPU ("webgpu") and one with only
// WebGL2 ("webgl2"). Both load the app bundle (app/); the first's GPU trainings load the GPU
// trainer bundle (gpu/) in their Web Workers. For each, check what a visitor sees:
//   1. The tank: the first frame comes, the canvas is not blank, the fish move, the console
//      holds no errors; frame rate from the app's own frame-time report; the page's shader
//      changes took (highp, the sRGB cubics) and the cubics match the exact sRGB curves.
//   2. The backend the page picks by itself: the GPU only for a hardware WebGPU adapter; for a
//      software one (SwiftShader, here) or none, the CPU, the panel saying why.
//   3. Training on the browser's backend (webgpu: its WebGPU adapter, asked for with
//      backend=wgpu, in a worker of the GPU trainer bundle; webgl2: the CPU, in a worker of the
//      app bundle, with the DCGAN's live score): it takes steps, the panel names the backend.
//   4. A bad address (?fish=lots): a message in the page names the problem.
//   5. webgpu: the DCGAN on the WebGPU adapter (GPU trainer bundle) takes steps and its live
//      score arrives (minutes on SwiftShader).
// Prints one JSON line per kind of browser ("bundle": webgpu / webgl2); exits non-zero on any
// failure.
//   node run.mjs DIST OUT_DIR [webgpu] [webgl2]   env: SHOAL_WEB_FISH (500), SHOAL_NATIVE_FPS, CHROMIUM,
//     SHOAL_WEB_GPU_DCGAN_MS (900000; 0 skips the DCGAN on WebGPU)
import { chromium } from 'playwright-core';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inflateSync, gzipSync } from 'node:zlib';
import { serve, glFlags } from './page.mjs';

const dist = resolve(process.argv[2] ?? 'dist');
const outDir = resolve(process.argv[3] ?? 'out/web-test');
const browsers = process.argv.slice(4).length ? process.argv.slice(4) : ['webgpu', 'webgl2'];
const fish = Number(process.env.SHOAL_WEB_FISH ?? 500);
const nativeFps = process.env.SHOAL_NATIVE_FPS ? Number(process.env.SHOAL_NATIVE_FPS) : null;
const chromePath = process.env.CHROMIUM ?? '/usr/lib/chromium/chromium';
const firstFrameTimeout = Number(process.env.SHOAL_WEB_TIMEOUT_MS ?? 120000);
const trainMs = Number(process.env.SHOAL_WEB_TRAIN_MS ?? 20000);

const { server, base } = await serve(dist);

// A minimal PNG reader (8-bit RGB/RGBA, not interlaced: what Chromium writes).
function decodePng(buf) {
  let pos = 8, width = 0, height = 0, channels = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos), type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('unsupported PNG');
      channels = { 2: 3, 6: 4 }[data[9]];
      if (!channels) throw new Error(`unsupported PNG colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat)), stride = width * channels;
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? px[y * stride + x - channels] : 0, b = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      px[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  return { width, height, channels, px };
}

// WebGL2 as `glFlags` (page.mjs) says; WebGPU (always SwiftShader's Vulkan in this Chromium)
// only where asked for.
const launch = (webgpu) => chromium.launch({
  executablePath: chromePath,
  headless: true,
  chromiumSandbox: false,
  args: [...glFlags, '--ignore-gpu-blocklist',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
    ...(webgpu ? ['--enable-unsafe-webgpu'] : ['--disable-features=WebGPU'])],
});

// The WebGL2 renderer this browser gives pages (e.g. "ANGLE (Mesa/X.org, llvmpipe ...)").
async function glRenderer(page) {
  return page.evaluate(() => {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return null;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  });
}
let browser;

// Opens `query` and collects the console: errors, the app's JSON lines, time to first frame.
async function visit(query) {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  const seen = { errors: [], lines: [], firstFrameMs: null, page };
  let sawFirstFrame;
  seen.firstFrame = new Promise((ok) => { sawFirstFrame = ok; });
  const t0 = Date.now();
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error') seen.errors.push(text);
    if (!text.startsWith('{')) return;
    try {
      const line = JSON.parse(text);
      if (line.kind === 'first_frame') { seen.firstFrameMs = Date.now() - t0; sawFirstFrame(); }
      seen.lines.push(line);
    } catch { /* not one of ours */ }
  });
  page.on('pageerror', (e) => seen.errors.push(`page error: ${e.message}`));
  await page.goto(base + '?' + query);
  seen.waitFirstFrame = () => Promise.race([seen.firstFrame,
    new Promise((_, no) => setTimeout(() => no(new Error(`no first frame in ${firstFrameTimeout} ms`)), firstFrameTimeout))]);
  return seen;
}

const windows = (lines) => lines.filter((d) => (d.kind === 'window' || d.kind === 'final') && d.frames > 0);

// The page's cheaper sRGB conversions (index.html's SRGB_CUBIC and SRGB_DECODE_CUBIC, in
// float32 as the shaders compute them) against the exact curves: the encoding must give every
// one of the 256 levels an sRGB texture holds back as the same byte, and stay within 0.1 of a
// level between them; the decoding, once encoded again as the frame's sRGB target does, within
// 0.01 of a level. Returns what fails (nothing expected).
async function srgbCubicFaults() {
  const html = await readFile(join(dist, 'index.html'), 'utf8');
  const coefficients = (name) => {
    const m = html.match(new RegExp(`const ${name} = \\[([^\\]]*)\\]`));
    return m ? m[1].split(',').map(Number).map(Math.fround) : null;
  };
  const enc = coefficients('SRGB_CUBIC'), dec = coefficients('SRGB_DECODE_CUBIC');
  if (!enc || !dec) return ['no SRGB_CUBIC / SRGB_DECODE_CUBIC in index.html'];
  const f = Math.fround;
  const cubic = (c, q) => f(c[0] + f(q * f(c[1] + f(q * f(c[2] + f(q * c[3]))))));
  const quarter = (x) => f(Math.sqrt(f(Math.sqrt(x))));
  const encode = (x) => (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055);
  const faults = [];
  for (let level = 0; level < 256; level++) {
    const v = level / 255;
    const x = f(v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    if (x <= 0.0031308) continue; // the shader's linear segment, unchanged
    if (Math.round(cubic(enc, quarter(x)) * 255) !== level) faults.push(`encoding misses level ${level}`);
  }
  let encWorst = 0, decWorst = 0;
  for (let i = 0; i <= 4096; i++) {
    const x = f(0.0031308 + (1 - 0.0031308) * (i / 4096) ** 2);
    encWorst = Math.max(encWorst, Math.abs(cubic(enc, quarter(x)) - encode(x)) * 255);
    const s = 0.04045 + (1 - 0.04045) * (i / 4096);
    const y = f((s + 0.055) / 1.055);
    const linear = f(f(y * y) * cubic(dec, quarter(y)));
    decWorst = Math.max(decWorst, Math.abs(encode(linear) - s) * 255);
  }
  if (!(encWorst < 0.1)) faults.push(`encoding off by ${encWorst.toFixed(3)} of a level`);
  if (!(decWorst < 0.01)) faults.push(`decoding off by ${decWorst.toFixed(4)} of a level`);
  return faults;
}

async function testBrowser(bundle) {
  const failures = [];
  const report = { bundle, fish };
  // What the page loads before its first frame, and (webgpu) what its GPU trainings load.
  const wasm = await readFile(join(dist, 'app', 'shoal_bg.wasm'));
  report.wasm_bytes = wasm.length;
  report.wasm_gzip_bytes = gzipSync(wasm, { level: 9 }).length;
  if (bundle === 'webgpu') {
    const gpu = await readFile(join(dist, 'gpu', 'shoal_bg.wasm'));
    report.gpu_wasm_bytes = gpu.length;
    report.gpu_wasm_gzip_bytes = gzipSync(gpu, { level: 9 }).length;
  }
  await mkdir(join(outDir, bundle), { recursive: true });

  // 1. The tank.
  try {
    const v = await visit(`fish=${fish}&diagnostics=1`);
    await v.waitFirstFrame();
    report.first_frame_ms = v.firstFrameMs;
    report.gl_renderer = await glRenderer(v.page);
    report.loaded_bundle = await v.page.evaluate(() => window.shoalBundle ?? null);
    // The page gives wgpu's mediump shaders highp floats (web/index.html): its present pass.
    report.highp_shaders = await v.page.evaluate(() => window.shoalHighpShaders ?? null);
    if (!(report.highp_shaders >= 1)) failures.push(`no mediump shader was raised to highp (${report.highp_shaders})`);
    // wgpu's sRGB pass onto the canvas with the cubic in place of its pow (index.html).
    // wgpu's sRGB present pass and egui's shader with the cubics in place of their pows.
    report.fast_srgb = await v.page.evaluate(() => window.shoalFastSrgb ?? null);
    for (const swap of ['present', 'egui_encode', 'egui_decode']) {
      if (!(report.fast_srgb?.[swap] >= 1)) failures.push(`the page's sRGB swap '${swap}' did not take (its shader changed?)`);
    }
    for (const fault of await srgbCubicFaults()) failures.push(`the page's sRGB cubics: ${fault}`);
    if (report.loaded_bundle !== 'app') failures.push(`the page loaded '${report.loaded_bundle}', not 'app'`);
    await v.page.waitForTimeout(3000); // let the school spread out and the panels settle
    const canvas = v.page.locator('#shoal');
    const shots = [];
    for (const name of ['first.png', 'second.png']) {
      if (shots.length) await v.page.waitForTimeout(1000);
      const png = await canvas.screenshot();
      await writeFile(join(outDir, bundle, name), png);
      shots.push(decodePng(png));
    }
    const [a, b] = shots;
    // Not blank: many distinct colours. Moved: pixels that differ between the two.
    const colours = new Set();
    for (let i = 0; i < a.px.length; i += a.channels * 7) colours.add(a.px.readUIntBE(i, 3));
    let changed = 0;
    for (let i = 0; i < a.px.length; i += a.channels) {
      const d = Math.abs(a.px[i] - b.px[i]) + Math.abs(a.px[i + 1] - b.px[i + 1]) + Math.abs(a.px[i + 2] - b.px[i + 2]);
      if (d > 30) changed++;
    }
    Object.assign(report, { width: a.width, height: a.height, distinct_colours: colours.size, changed_pixels: changed });
    if (a.width < 100 || a.height < 100) failures.push(`canvas is ${a.width}x${a.height}`);
    if (colours.size < 20) failures.push(`canvas looks blank (${colours.size} colours)`);
    if (changed < 200) failures.push(`fish did not move (${changed} pixels changed)`);
    await v.page.waitForTimeout(Number(process.env.SHOAL_WEB_MEASURE_MS ?? 6000)); // frame-time windows
    const last = windows(v.lines).at(-1);
    Object.assign(report, {
      frame_p50_ms: last?.p50_ms ?? null,
      frame_p95_ms: last?.p95_ms ?? null,
      fps: last ? 1000 / last.p50_ms : null,
      fish_in_scene: last?.fish ?? null,
    });
    if (!last) failures.push('no frame-time report from the app');
    if (last && last.fish !== fish) failures.push(`${last.fish} fish in the scene, asked for ${fish}`);
    if (v.errors.length) failures.push(`tank: ${v.errors.length} console error(s): ${v.errors.slice(0, 3).join(' | ')}`);
    await v.page.context().close();
  } catch (e) {
    failures.push(`tank: ${e}`);
  }
  report.native_fps = nativeFps;
  report.fps_ratio = report.fps && nativeFps ? report.fps / nativeFps : null;

  // 2. The backend the page picks by itself (backend=auto): the GPU for a hardware WebGPU
  // adapter; the CPU without WebGPU, and for a software adapter (SwiftShader here), the panel
  // saying why.
  try {
    const v = await visit(`fish=${fish}&diagnostics=1&train=dcgan`);
    await v.waitFirstFrame();
    const [adapter, software] = await v.page.evaluate(() => [window.shoalWebGpu ?? null, window.shoalSoftwareWebGpu ?? null]);
    report.webgpu_adapter = adapter ? (software ? `software (${software})` : `hardware (${adapter})`) : null;
    if (bundle === 'webgpu' && !adapter) failures.push('the page found no WebGPU adapter in a browser with WebGPU');
    if (bundle === 'webgl2' && adapter) failures.push(`the page found a WebGPU adapter (${adapter}) with WebGPU off`);
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && !windows(v.lines).some((l) => l.train_backend)) await v.page.waitForTimeout(500);
    report.auto_backend = windows(v.lines).find((l) => l.train_backend)?.train_backend ?? null;
    const why = !adapter ? 'no WebGPU' : software ? 'software' : null;
    if (why && !(report.auto_backend?.startsWith('CPU') && report.auto_backend.includes(why))) {
      failures.push(`the panel says '${report.auto_backend}', not the CPU and why (${why})`);
    }
    if (!why && report.auto_backend?.startsWith('CPU')) failures.push(`a hardware WebGPU adapter, but the panel says '${report.auto_backend}'`);
    if (v.errors.length) failures.push(`choice: ${v.errors.length} console error(s): ${v.errors.slice(0, 3).join(' | ')}`);
    await v.page.context().close();
  } catch (e) {
    failures.push(`choice: ${e}`);
  }

  // 3. Training on this browser's backend (webgpu: its WebGPU adapter, asked for by
  // backend=wgpu, in a worker of the GPU trainer bundle). With WebGPU here that is SwiftShader,
  // a software GPU in Chromium's GPU process, which also draws the page's WebGL2: its first step
  // compiles every kernel (tens of seconds), so the WebGPU run trains the lighter Path-SGD (a
  // DCGAN step takes minutes there); WebGL2 only: the DCGAN, on the CPU in its worker.
  const job = bundle === 'webgpu' ? 'Path-SGD' : 'DCGAN';
  const trainFor = bundle === 'webgpu' ? Math.max(trainMs, 60000) : trainMs;
  try {
    const gpu = bundle === 'webgpu' ? '&backend=wgpu' : '';
    const v = await visit(`fish=${fish}${gpu}&diagnostics=1&train=${job === 'DCGAN' ? 'dcgan' : 'path-sgd'}&autostart=1`);
    await v.waitFirstFrame();
    const shot = () => v.page.locator('#shoal').screenshot({ timeout: 120000 });
    const before = await shot();
    await v.page.waitForTimeout(trainFor);
    // The DCGAN's worker first fetches the classifier and scores the first step: on a slow
    // machine give its first score up to a minute more.
    const scored = () => v.lines.some((l) => l.kind === 'window' && l.dcgan_score >= 1);
    for (const until = Date.now() + 60000; job === 'DCGAN' && !scored() && Date.now() < until;) {
      await v.page.waitForTimeout(1000);
    }
    const after = await shot();
    await writeFile(join(outDir, bundle, 'training.png'), after);
    // Every report, also those of seconds without a frame (the GPU process busy).
    const ws = v.lines.filter((l) => l.kind === 'window' || l.kind === 'final');
    const first = ws.find((w) => (w.train_steps?.[job] ?? 0) > 0);
    const last = ws.at(-1);
    const steps = last?.train_steps?.[job] ?? 0;
    const rate = first && last && last.seconds > first.seconds
      ? (steps - first.train_steps[job]) / (last.seconds - first.seconds) : null;
    report.train_job = job;
    report.train_steps = steps;
    report.train_steps_per_s = rate;
    report.dcgan_steps_per_s = job === 'DCGAN' ? rate : null;
    // The DCGAN on the CPU scores its samples in its worker (the first step is scored).
    report.dcgan_score = last?.dcgan_score ?? null;
    if (job === 'DCGAN' && !(report.dcgan_score >= 1)) failures.push(`no live classifier score (dcgan_score ${report.dcgan_score})`);
    report.train_backend = last?.train_backend ?? null;
    report.training_frame_p50_ms = last?.p50_ms ?? null;
    report.training_frame_p95_ms = last?.p95_ms ?? null;
    report.poster_changed = !before.equals(after);
    if (steps < 1) failures.push(`${job} took no step`);
    const wantGpu = bundle === 'webgpu';
    // The panel's line: "CPU (burn Flex)[: why not the GPU]" or "GPU '<adapter>' (...)".
    if (report.train_backend == null || !report.train_backend.startsWith('CPU') !== wantGpu) {
      failures.push(`training backend '${report.train_backend}' is not the ${wantGpu ? 'GPU' : 'CPU'}`);
    }
    // Each training runs in a Web Worker of its own, off the page's thread.
    if (!report.train_backend?.includes('Web Worker')) {
      failures.push(`training backend '${report.train_backend}' does not say the training runs in a Web Worker`);
    }
    if (v.errors.length) failures.push(`training: ${v.errors.length} console error(s): ${v.errors.slice(0, 3).join(' | ')}`);
    await v.page.context().close();
  } catch (e) {
    failures.push(`training: ${e}`);
  }

  // 4. A bad address is explained in the page.
  try {
    const v = await visit(`fish=lots`);
    const status = v.page.locator('#status.error');
    await status.waitFor({ timeout: 60000 });
    report.bad_query_message = await status.textContent();
    if (!/fish/.test(report.bad_query_message)) failures.push(`bad address: message '${report.bad_query_message}' does not name 'fish'`);
    await v.page.context().close();
  } catch (e) {
    failures.push(`bad address: ${e}`);
  }

  // 5. The DCGAN on the WebGPU adapter, in a worker of the GPU trainer bundle: what a
  // browser with a hardware GPU runs by default (backend=auto). On SwiftShader its first step
  // (every kernel compiled, 256 fresh samples scored) takes minutes and later steps about a
  // minute each, so this waits up to SHOAL_WEB_GPU_DCGAN_MS (900 s; 0 skips it) for two steps
  // and the first step's live score, read back asynchronously and scored in the worker. It
  // comes last: SwiftShader may still be working on the DCGAN after its page is gone, which
  // holds up the next page's load.
  const gpuDcganMs = Number(process.env.SHOAL_WEB_GPU_DCGAN_MS ?? 900000);
  if (bundle === 'webgpu' && gpuDcganMs > 0) {
    try {
      const v = await visit(`fish=${fish}&backend=wgpu&diagnostics=1&train=dcgan&autostart=1`);
      await v.waitFirstFrame();
      const reports = () => v.lines.filter((l) => l.kind === 'window' || l.kind === 'final');
      const steps = () => reports().at(-1)?.train_steps?.DCGAN ?? 0;
      for (const until = Date.now() + gpuDcganMs; steps() < 2 && Date.now() < until;) await v.page.waitForTimeout(2000);
      await writeFile(join(outDir, bundle, 'gpu-dcgan.png'), await v.page.locator('#shoal').screenshot({ timeout: 120000 }));
      const ws = reports();
      const first = ws.find((w) => (w.train_steps?.DCGAN ?? 0) > 0);
      const last = ws.at(-1);
      const n = last?.train_steps?.DCGAN ?? 0;
      report.gpu_dcgan_steps = n;
      report.gpu_dcgan_first_step_s = first?.seconds ?? null;
      report.gpu_dcgan_score = last?.dcgan_score ?? null;
      report.gpu_dcgan_backend = last?.train_backend ?? null;
      report.gpu_dcgan_frame_p95_ms = last?.p95_ms ?? null;
      // Steps a second after the first step (the first is mostly compiling).
      report.dcgan_steps_per_s = first && n > first.train_steps.DCGAN && last.seconds > first.seconds
        ? (n - first.train_steps.DCGAN) / (last.seconds - first.seconds) : null;
      if (n < 1) failures.push(`the DCGAN on WebGPU took no step in ${gpuDcganMs / 1000} s`);
      if (!(report.gpu_dcgan_score >= 1)) failures.push(`the DCGAN on WebGPU gave no live score (${report.gpu_dcgan_score})`);
      if (!report.gpu_dcgan_backend?.includes('WebGPU in a Web Worker')) {
        failures.push(`the DCGAN's backend '${report.gpu_dcgan_backend}' is not WebGPU in a Web Worker`);
      }
      if (v.errors.length) failures.push(`GPU DCGAN: ${v.errors.length} console error(s): ${v.errors.slice(0, 3).join(' | ')}`);
      await v.page.context().close();
    } catch (e) {
      failures.push(`GPU DCGAN: ${e}`);
    }
  }

  report.ok = failures.length === 0;
  report.failures = failures;
  return report;
}

let ok = true;
try {
  for (const name of browsers) {
    const need = name === 'webgpu' ? ['app', 'gpu'] : ['app'];
    for (const b of need) {
      if (!(await stat(join(dist, b, 'shoal_bg.wasm')).then(() => true, () => false))) throw new Error(`no ${b}/shoal_bg.wasm in ${dist}`);
    }
  }
  for (const name of browsers) {
    browser = await launch(name === 'webgpu');
    try {
      const report = await testBrowser(name);
      ok &&= report.ok;
      console.log(JSON.stringify(report));
    } finally {
      await browser.close();
    }
  }
} finally {
  server.close();
}
process.exit(ok ? 0 : 1);
