// Where the page's time goes (a developer's tool, not a test): serves DIST, opens it in headless
// Chromium (WebGL2 as page.mjs's glFlags say: Mesa's GL, or SwiftShader) at W x H (1280x720), waits 15 s, then either samples the page's
// own thread with Chromium's CPU profiler for 8 s and prints self and inclusive times by function
// (build with SHOAL_WEB_NAMES=1 for names), or with TRACE=1 writes a Chromium trace of 5 s
// (GPU process included) to TRACE_OUT (/tmp/shoal-trace.json) and prints its busiest events.
// HEADED=1 runs a window instead (under xvfb-run). The app's own frame-time lines are echoed.
//   node web/test/profile.mjs DIST ['fish=500&diagnostics=1']
import { chromium } from 'playwright-core';
import { resolve } from 'node:path';
import { serve, glFlags } from './page.mjs';
const dist = resolve(process.argv[2]);
const query = process.argv[3] ?? 'fish=500&diagnostics=1';
const { server, base } = await serve(dist);
const browser = await chromium.launch({ executablePath: '/usr/lib/chromium/chromium', headless: process.env.HEADED ? false : true, chromiumSandbox: false,
  args: [...glFlags, '--ignore-gpu-blocklist', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-features=WebGPU'] });
const page = await (await browser.newContext({ viewport: { width: Number(process.env.W ?? 1280), height: Number(process.env.H ?? 720) } })).newPage();
page.on('console', (m) => { const t = m.text(); if (t.includes('"kind"')) console.log(t.slice(0, 200)); });
await page.goto(`${base}?${query}`);
await page.waitForTimeout(15000);
if (process.env.TRACE) {
  await browser.startTracing(page, { path: process.env.TRACE_OUT ?? '/tmp/shoal-trace.json', categories: ['toplevel', 'gpu', 'viz', 'cc', 'disabled-by-default-gpu.service', 'benchmark', 'gpu.angle'] });
  await page.waitForTimeout(5000);
  const trace = JSON.parse(await browser.stopTracing());
  const names = new Map();
  for (const e of trace.traceEvents) {
    if (e.ph === 'M' && e.name === 'process_name') names.set(`${e.pid}/`, e.args.name);
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}/${e.tid}`, e.args.name);
  }
  const busy = new Map();
  for (const e of trace.traceEvents) if (e.ph === 'X' && e.dur) {
    const k = `${names.get(`${e.pid}/`) ?? e.pid} | ${names.get(`${e.pid}/${e.tid}`) ?? e.tid} | ${e.name}`;
    busy.set(k, (busy.get(k) ?? 0) + e.dur);
  }
  for (const [k, v] of [...busy.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log((v / 1000).toFixed(1).padStart(9), 'ms', k);
  await browser.close(); server.close(); process.exit(0);
}
const cdp = await page.context().newCDPSession(page);
await cdp.send('Profiler.enable');
await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
await cdp.send('Profiler.start');
await page.waitForTimeout(8000);
const { profile } = await cdp.send('Profiler.stop');
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas; let total = 0;
profile.samples.forEach((id, i) => { const n = byId.get(id); const name = n.callFrame.functionName || `(anon ${n.callFrame.url.split('/').pop()})`;
  self.set(name, (self.get(name) ?? 0) + (dt[i] ?? 0)); total += dt[i] ?? 0; });
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 60);
console.log('total ms', (total / 1000).toFixed(0));
for (const [k, v] of rows) console.log((v / 1000).toFixed(1).padStart(8), (100 * v / total).toFixed(1).padStart(5) + '%', k.slice(0, 150));
// inclusive times for names matching a pattern
const parent = new Map(); for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map();
profile.samples.forEach((id, i) => { const seen = new Set(); let cur = id; while (cur !== undefined) { const n = byId.get(cur); const name = n.callFrame.functionName;
  if (name && !seen.has(name)) { seen.add(name); incl.set(name, (incl.get(name) ?? 0) + (dt[i] ?? 0)); } cur = parent.get(cur); } });
const irows = [...incl.entries()].sort((a, b) => b[1] - a[1]).slice(0, 120);
console.log('--- inclusive');
for (const [k, v] of irows) console.log((v / 1000).toFixed(1).padStart(8), (100 * v / total).toFixed(1).padStart(5) + '%', k.slice(0, 150));
await browser.close(); server.close();
