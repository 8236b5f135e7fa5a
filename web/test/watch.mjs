// Watch one page (a developer's tool, not a test): serves DIST, opens QUERY in headless Chromium
// (WebGPU on with WEBGPU=1) at 1280x720 for SECONDS, and echoes the app's JSON lines and errors.
//   node web/test/watch.mjs DIST 'fish=500&diagnostics=1&train=dcgan&autostart=1' [SECONDS]
import { chromium } from 'playwright-core';
import { resolve } from 'node:path';
import { serve, glFlags } from './page.mjs';
const dist = resolve(process.argv[2]);
const query = process.argv[3] ?? 'fish=500&diagnostics=1';
const seconds = Number(process.argv[4] ?? 120);
const { server, base } = await serve(dist);
const browser = await chromium.launch({ executablePath: '/usr/lib/chromium/chromium', headless: true, chromiumSandbox: false,
  args: [...glFlags, '--ignore-gpu-blocklist', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', ...(process.env.WEBGPU ? ['--enable-unsafe-webgpu'] : ['--disable-features=WebGPU'])] });
const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
const t0 = Date.now();
page.on('console', (m) => console.log(((Date.now() - t0) / 1000).toFixed(1).padStart(6), m.type(), m.text().slice(0, 400)));
page.on('pageerror', (e) => console.log('page error', e.message));
await page.goto(`${base}?${query}`);
await page.waitForTimeout(seconds * 1000);
if (process.env.SHOT) await page.locator('#shoal').screenshot({ path: process.env.SHOT });
await browser.close(); server.close();
