// A training worker: the page starts one per training (src/learn/live/browser.rs), so neither a
// DCGAN step on the CPU nor the GPU's kernel launches hold the page's frames. A CPU training
// loads the page's own bundle (app/), a training on the browser's GPU the GPU trainer bundle
// (gpu/: burn's wgpu backend, no renderer). The bundle's start finds no window here and serves
// one job: the page sends what to build, then asks for one step at a time and gets each step's
// report back.
const bundle = new URLSearchParams(self.location.search).get('bundle') === 'gpu' ? 'gpu' : 'app';
const { default: init } = await import(`./${bundle}/shoal.js`);
await init();
