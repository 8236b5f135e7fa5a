// Browser test for the wasm build (run by scripts/test-web): serve dist/, open it in
// headless Chromium, wait for the first frame, take two canvas screenshots a second apart,
// and check the canvas is not blank, the fish moved, and the console holds no errors.
// Prints one JSON line with the measurements; exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';

const dist = resolve(process.argv[2] ?? 'dist');
const outDir = resolve(process.argv[3] ?? 'out/web-test');
const fish = Number(process.env.SHOAL_WEB_FISH ?? 500);
const query = process.env.SHOAL_WEB_QUERY ?? `fish=${fish}&diagnostics=1`;
const chromePath = process.env.CHROMIUM ?? '/usr/lib/chromium/chromium';
const firstFrameTimeout = Number(process.env.SHOAL_WEB_TIMEOUT_MS ?? 240000);

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const file = join(dist, path === '/' ? 'index.html' : path);
  if (!file.startsWith(dist)) { res.writeHead(403).end(); return; }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch { res.writeHead(404).end(); }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/?${query}`;

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

const failures = [];
const errors = [];
const diagnostics = [];
let firstFrameMs = null;
const browser = await chromium.launch({
  executablePath: chromePath,
  headless: true,
  chromiumSandbox: false,
  args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const report = { url, fish };
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  let sawFirstFrame;
  const firstFrame = new Promise((ok) => { sawFirstFrame = ok; });
  const t0 = Date.now();
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error') errors.push(text);
    if (text.startsWith('{')) {
      try {
        const line = JSON.parse(text);
        if (line.kind === 'first_frame') { firstFrameMs = Date.now() - t0; sawFirstFrame(); }
        else diagnostics.push(line);
      } catch { /* not one of ours */ }
    }
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page.goto(url);
  const timeout = new Promise((_, no) => setTimeout(() => no(new Error('no first frame')), firstFrameTimeout));
  await Promise.race([firstFrame, timeout]);
  await page.waitForTimeout(3000); // let the school spread out and the panels settle
  const canvas = page.locator('#shoal');
  await mkdir(outDir, { recursive: true });
  const shots = [];
  for (const name of ['first.png', 'second.png']) {
    if (shots.length) await page.waitForTimeout(1000);
    const png = await canvas.screenshot();
    await writeFile(join(outDir, name), png);
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
  await page.waitForTimeout(Number(process.env.SHOAL_WEB_MEASURE_MS ?? 6000)); // frame-time windows
} catch (e) {
  failures.push(String(e));
} finally {
  await browser.close();
  server.close();
}
const windows = diagnostics.filter((d) => d.kind === 'window' && d.frames > 0);
const last = windows.at(-1);
Object.assign(report, {
  time_to_first_frame_ms: firstFrameMs,
  frame_p50_ms: last?.p50_ms ?? null,
  frame_p95_ms: last?.p95_ms ?? null,
  fps: last ? 1000 / last.p50_ms : null,
  fish_in_scene: last?.fish ?? null,
  console_errors: errors,
});
if (errors.length) failures.push(`${errors.length} console error(s)`);
if (!last) failures.push('no frame-time report from the app');
report.ok = failures.length === 0;
report.failures = failures;
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
