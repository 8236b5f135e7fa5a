// A training worker: the page starts one per CPU training (src/learn/live/browser.rs), so a
// DCGAN step no longer holds the page's frames. It loads the page's own bundle; the bundle's
// start finds no window here and serves one job: the page sends what to build, then asks for
// one step at a time and gets each step's report back.
const bundle = new URLSearchParams(self.location.search).get('bundle') === 'webgl2' ? 'webgl2' : 'webgpu';
const { default: init } = await import(`./${bundle}/shoal.js`);
await init();
