// What the browser test (run.mjs) and the profiler (profile.mjs) share: a static server for
// dist/ on localhost and the flags that pick how Chromium draws WebGL2.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

// Serves the folder `dist` (an absolute path) on a free port; resolves to { server, base }.
export async function serve(dist) {
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
  return { server, base: `http://127.0.0.1:${server.address().port}/` };
}

// WebGL2 through Mesa's OpenGL (llvmpipe, ANGLE's EGL backend: the same software rasterizer
// family as the native app's lavapipe, so frame rates compare like with like), or through
// Chromium's own SwiftShader with SHOAL_WEB_GL=swiftshader.
export const glFlags = (process.env.SHOAL_WEB_GL ?? 'mesa') === 'swiftshader'
  ? ['--use-angle=swiftshader', '--enable-unsafe-swiftshader']
  : ['--use-angle=gl-egl'];
