//! The fish school on the GPU (cargo feature `gpu`): the CPU school's step — the same rules,
//! from one snapshot, with the playground's sharks, rocks, current and field of view — as
//! WGSL compute passes (`school.wgsl`): each fish's cell, a counting sort by a parallel prefix
//! sum, the cells' fish put in index order (so the slots are exactly the CPU grid's), then
//! steering over the 3 x 3 cells. The CPU school ([`super::School`]) stays the reference;
//! tests hold the two together.
//!
//! [`GpuSchool`] runs on any wgpu device: one of its own ([`GpuContext::standalone`]), or the
//! renderer's.

#[cfg(feature = "ecs")]
pub mod bench;
mod buffers;
mod layout;

pub use layout::{PREY_CHUNK, ScanLevels, grid_dims};

use super::params::BoidParams;
use super::playground::{Rock, RockIndex, Shark};
use anyhow::Context as _;
use buffers::{Buffers, Pipes, bytes_f32, f32_bytes, fish_words, read_back, words_bytes};
use glam::Vec2;
use layout::{groups, params_words, rock_words};

/// A wgpu device to run the school on.
#[derive(Clone, Debug)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
}

impl GpuContext {
    /// A device of its own on the high-performance adapter (a software one, Mesa's lavapipe,
    /// where there is no GPU), with GPU timestamps where the adapter has them.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn standalone() -> anyhow::Result<Self> {
        let (_instance, adapter) = shoal_common::gpu::high_performance_adapter(
            "the GPU school (install a Vulkan driver, e.g. apt-get install libvulkan1 mesa-vulkan-drivers)",
        )?;
        let info = adapter.get_info();
        let (device, queue) = futures_lite::future::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shoal school"),
            required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .with_context(|| format!("cannot open the graphics adapter {}", info.name))?;
        Ok(Self { device, queue, info })
    }

    /// Whether steps can be timed on the GPU.
    pub fn has_timestamps(&self) -> bool {
        self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }
}

/// The school on the GPU. Upload a [`School`](super::School)'s state, step, read it back.
pub struct GpuSchool {
    ctx: GpuContext,
    pipes: Pipes,
    bufs: Buffers,
    cur: usize,
    params: BoidParams,
    /// Positions of other sharks this step (e.g. the pointer), fled from like the sharks.
    pub extra_sharks: Vec<Vec2>,
    rocks: Vec<Rock>,
    timing: Option<Timing>,
}

/// GPU timestamps around each step's compute pass.
struct Timing {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
    /// Steps recorded since the last [`GpuSchool::step_times_ms`].
    steps: u32,
    capacity: u32,
}

/// One resolved timestamp pair per step, 256 bytes apart (the resolve offset alignment).
const STAMP_STRIDE: u64 = 256;

impl GpuSchool {
    /// The school `pos`/`vel` (with its sharks and rocks) on `ctx`'s device.
    pub fn new(
        ctx: &GpuContext,
        pos: &[Vec2],
        vel: &[Vec2],
        sharks: &[Shark],
        rocks: &[Rock],
        params: &BoidParams,
    ) -> anyhow::Result<Self> {
        params.validate().context("invalid school parameters")?;
        anyhow::ensure!(pos.len() == vel.len(), "positions and velocities differ in length");
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipes = Pipes::new(&ctx.device);
        let bufs = Buffers::new(ctx, &pipes, 0, 0, 0, rocks, params)?;
        if let Some(e) = futures_lite::future::block_on(scope.pop()) {
            anyhow::bail!("the GPU school could not be set up on {}: {e}", ctx.info.name);
        }
        let mut school = Self {
            ctx: ctx.clone(),
            pipes,
            bufs,
            cur: 0,
            params: *params,
            extra_sharks: Vec::new(),
            rocks: rocks.to_vec(),
            timing: None,
        };
        school.replace(pos, vel, sharks)?;
        Ok(school)
    }

    /// A GPU copy of a CPU school (fish, sharks, other sharks and rocks).
    pub fn from_school(ctx: &GpuContext, school: &super::School, params: &BoidParams) -> anyhow::Result<Self> {
        let mut s = Self::new(ctx, &school.pos, &school.vel, &school.sharks, &school.rocks, params)?;
        s.extra_sharks = school.extra_sharks.clone();
        Ok(s)
    }

    pub fn len(&self) -> usize {
        self.bufs.n as usize
    }

    pub fn is_empty(&self) -> bool {
        self.bufs.n == 0
    }

    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Replaces the rocks (from the next step on).
    pub fn set_rocks(&mut self, rocks: &[Rock]) {
        self.rocks = rocks.to_vec();
    }

    /// Records GPU timestamps for the next `steps` steps (where the device has them).
    pub fn time_steps(&mut self, steps: u32) -> bool {
        if !self.ctx.has_timestamps() || steps == 0 {
            self.timing = None;
            return false;
        }
        let d = &self.ctx.device;
        let bytes = STAMP_STRIDE * steps as u64;
        self.timing = Some(Timing {
            set: d.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("school step times"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolve: d.create_buffer(&wgpu::BufferDescriptor {
                label: Some("school step times"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            read: d.create_buffer(&wgpu::BufferDescriptor {
                label: Some("school step times read"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            steps: 0,
            capacity: steps,
        });
        true
    }

    /// One step with `params` (the layout follows a changed field, vision or set of sharks).
    pub fn step(&mut self, params: &BoidParams) -> anyhow::Result<()> {
        params.validate().context("invalid school parameters")?;
        let extra = self.extra_sharks.len() as u32;
        let rocks = RockIndex::new(&self.rocks, params);
        let words = rock_words(&rocks);
        let (nx, ny, _) = grid_dims(params);
        if nx * ny != self.bufs.cells || extra != self.bufs.extra || words != self.bufs.rock_words {
            self.relayout(params, extra)?;
        }
        self.params = *params;
        let b = &self.bufs;
        let q = &self.ctx.queue;
        q.write_buffer(
            &b.params,
            0,
            &words_bytes(&params_words(params, b.n, b.sharks, extra, self.rocks.len() as u32)),
        );
        if extra > 0 {
            let at = b.sharks as u64 * 16;
            let pts: Vec<f32> = self.extra_sharks.iter().flat_map(|p| [p.x, p.y, 0.0, 0.0]).collect();
            q.write_buffer(&b.shark_buf, at, &f32_bytes(&pts));
        }
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        let stamp = self.timing.as_ref().filter(|t| t.steps < t.capacity);
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("school step"),
                timestamp_writes: stamp.map(|t| wgpu::ComputePassTimestampWrites {
                    query_set: &t.set,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            self.encode(&mut pass);
        }
        if let Some(t) = self.timing.as_mut().filter(|t| t.steps < t.capacity) {
            enc.resolve_query_set(&t.set, 0..2, &t.resolve, t.steps as u64 * STAMP_STRIDE);
            t.steps += 1;
        }
        self.ctx.queue.submit([enc.finish()]);
        self.cur ^= 1;
        Ok(())
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        let b = &self.bufs;
        let g = &b.groups[self.cur];
        let p = &self.pipes;
        let mut run = |pipe: &wgpu::ComputePipeline, group: &wgpu::BindGroup, items: u32| {
            let wgs = groups(items);
            if wgs > 0 {
                pass.set_pipeline(pipe);
                pass.set_bind_group(0, group, &[]);
                let x = wgs.min(65_535);
                pass.dispatch_workgroups(x, wgs.div_ceil(x), 1);
            }
        };
        if b.n > 0 {
            run(&p.clear, &g[0], b.cells + 1);
            run(&p.count, &g[1], b.n);
            for k in b.levels.up() {
                run(&p.scan_up, &b.level_groups[k][0], b.levels.lens[k]);
            }
            for k in b.levels.down() {
                run(&p.scan_down, &b.level_groups[k][1], b.levels.lens[k]);
            }
            run(&p.scatter, &g[2], b.n);
            run(&p.order, &g[3], b.cells);
            run(&p.gather, &g[4], b.n);
            run(&p.steer, &g[5], b.n);
        }
        if b.sharks > 0 {
            let chunks = b.n.div_ceil(PREY_CHUNK);
            if chunks > 0 {
                pass.set_pipeline(&p.prey);
                pass.set_bind_group(0, &g[6], &[]);
                pass.dispatch_workgroups(chunks, b.sharks, 1);
            }
            pass.set_pipeline(&p.sharks);
            pass.set_bind_group(0, &g[7], &[]);
            pass.dispatch_workgroups(b.sharks.div_ceil(64), 1, 1);
        }
    }

    /// The GPU times of the steps recorded since [`GpuSchool::time_steps`], in milliseconds
    /// (waits for them).
    pub fn step_times_ms(&mut self) -> Option<Vec<f64>> {
        let t = self.timing.take()?;
        let period = self.ctx.queue.get_timestamp_period() as f64;
        let bytes = STAMP_STRIDE * t.steps as u64;
        if bytes == 0 {
            return Some(Vec::new());
        }
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&t.resolve, 0, &t.read, 0, bytes);
        self.ctx.queue.submit([enc.finish()]);
        let data = read_back(&self.ctx, &t.read, bytes).ok()?;
        Some(
            (0..t.steps as usize)
                .map(|k| {
                    let at = k * STAMP_STRIDE as usize;
                    let word = |o: usize| u64::from_le_bytes(data[at + o..at + o + 8].try_into().expect("8 bytes"));
                    word(8).saturating_sub(word(0)) as f64 * period / 1e6
                })
                .collect(),
        )
    }

    /// Waits until every step submitted so far has run.
    pub fn finish(&self) {
        let _ = self.ctx.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// The school's positions, velocities and sharks, read back (waits for the GPU).
    pub fn read(&self) -> anyhow::Result<(Vec<Vec2>, Vec<Vec2>, Vec<Shark>)> {
        let b = &self.bufs;
        let fish_bytes = b.n.max(1) as u64 * 16;
        let shark_bytes = b.sharks.max(1) as u64 * 16;
        let d = &self.ctx.device;
        let staging = |size| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some("school read"),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let (fr, sr) = (staging(fish_bytes), staging(shark_bytes));
        let mut enc = d.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&b.fish[self.cur], 0, &fr, 0, fish_bytes);
        enc.copy_buffer_to_buffer(&b.shark_buf, 0, &sr, 0, shark_bytes);
        self.ctx.queue.submit([enc.finish()]);
        let fish = bytes_f32(&read_back(&self.ctx, &fr, fish_bytes)?);
        let sharks = bytes_f32(&read_back(&self.ctx, &sr, shark_bytes)?);
        let n = b.n as usize;
        let pos = (0..n).map(|i| Vec2::new(fish[4 * i], fish[4 * i + 1])).collect();
        let vel = (0..n).map(|i| Vec2::new(fish[4 * i + 2], fish[4 * i + 3])).collect();
        let sharks = (0..b.sharks as usize)
            .map(|k| Shark {
                pos: Vec2::new(sharks[4 * k], sharks[4 * k + 1]),
                vel: Vec2::new(sharks[4 * k + 2], sharks[4 * k + 3]),
            })
            .collect();
        Ok((pos, vel, sharks))
    }

    /// New buffers for a changed grid, set of other sharks or rocks; the fish and sharks are
    /// copied over on the GPU.
    fn relayout(&mut self, params: &BoidParams, extra: u32) -> anyhow::Result<()> {
        let (n, sharks) = (self.bufs.n, self.bufs.sharks);
        self.rebuild(n, sharks, extra, params, (true, true), |_, _| {})
    }

    /// New buffers for `n` fish and `sharks` sharks (with the school's rocks): with `keep` =
    /// (fish, sharks) the first fish and sharks of the old buffers are copied over on the GPU;
    /// `fill` writes the rest (writes land before the copies, so they must not overlap them).
    fn rebuild(
        &mut self,
        n: u32,
        sharks: u32,
        extra: u32,
        params: &BoidParams,
        keep: (bool, bool),
        fill: impl FnOnce(&Buffers, &wgpu::Queue),
    ) -> anyhow::Result<()> {
        let scope = self.ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let bufs = Buffers::new(&self.ctx, &self.pipes, n, sharks, extra, &self.rocks, params)?;
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        let keep_fish = if keep.0 { n.min(self.bufs.n) as u64 * 16 } else { 0 };
        if keep_fish > 0 {
            enc.copy_buffer_to_buffer(&self.bufs.fish[self.cur], 0, &bufs.fish[0], 0, keep_fish);
        }
        let keep_sharks = if keep.1 {
            sharks.min(self.bufs.sharks) as u64 * 16
        } else {
            0
        };
        if keep_sharks > 0 {
            enc.copy_buffer_to_buffer(&self.bufs.shark_buf, 0, &bufs.shark_buf, 0, keep_sharks);
        }
        fill(&bufs, &self.ctx.queue);
        self.ctx.queue.submit([enc.finish()]);
        if let Some(e) = futures_lite::future::block_on(scope.pop()) {
            anyhow::bail!("the GPU school could not be laid out on {}: {e}", self.ctx.info.name);
        }
        self.bufs = bufs;
        self.cur = 0;
        Ok(())
    }

    /// Adds fish at the end of the school (its next fish indices).
    pub fn append(&mut self, pos: &[Vec2], vel: &[Vec2]) -> anyhow::Result<()> {
        anyhow::ensure!(pos.len() == vel.len(), "positions and velocities differ in length");
        let n = self.bufs.n;
        let total = u32::try_from(n as usize + pos.len()).context("too many fish")?;
        let (sharks, extra, params) = (self.bufs.sharks, self.bufs.extra, self.params);
        let words = fish_words(pos, vel);
        self.rebuild(total, sharks, extra, &params, (true, true), |b, q| {
            if !words.is_empty() {
                q.write_buffer(&b.fish[0], n as u64 * 16, &f32_bytes(&words));
            }
        })
    }

    /// Keeps the first `n` fish.
    pub fn truncate(&mut self, n: u32) -> anyhow::Result<()> {
        let n = n.min(self.bufs.n);
        let (sharks, extra, params) = (self.bufs.sharks, self.bufs.extra, self.params);
        self.rebuild(n, sharks, extra, &params, (true, true), |_, _| {})
    }

    /// Replaces the autonomous sharks (the fish stay).
    pub fn set_sharks(&mut self, sharks: &[Shark]) -> anyhow::Result<()> {
        let (n, extra, params) = (self.bufs.n, self.bufs.extra, self.params);
        let words: Vec<f32> = sharks
            .iter()
            .flat_map(|s| [s.pos.x, s.pos.y, s.vel.x, s.vel.y])
            .collect();
        self.rebuild(n, sharks.len() as u32, extra, &params, (true, false), |b, q| {
            if !words.is_empty() {
                q.write_buffer(&b.shark_buf, 0, &f32_bytes(&words));
            }
        })
    }

    /// Number of autonomous sharks.
    pub fn shark_count(&self) -> u32 {
        self.bufs.sharks
    }

    /// The buffer that holds the school now: `vec4<f32>` (position, velocity) per fish. It
    /// changes with each step (ping-pong) and layout.
    pub fn fish_buffer(&self) -> &wgpu::Buffer {
        &self.bufs.fish[self.cur]
    }

    /// Encodes a copy of the first `count` autonomous sharks (16 bytes each) into `dst`.
    pub fn copy_sharks(&self, enc: &mut wgpu::CommandEncoder, dst: &wgpu::Buffer, at: u64, count: u32) {
        let count = count.min(self.bufs.sharks);
        if count > 0 {
            enc.copy_buffer_to_buffer(&self.bufs.shark_buf, 0, dst, at, count as u64 * 16);
        }
    }

    /// Encodes a copy of fish `i` (16 bytes) into `dst`.
    pub fn copy_fish(&self, enc: &mut wgpu::CommandEncoder, dst: &wgpu::Buffer, at: u64, i: u32) {
        if i < self.bufs.n {
            enc.copy_buffer_to_buffer(self.fish_buffer(), i as u64 * 16, dst, at, 16);
        }
    }

    /// Replaces the whole school (fish and autonomous sharks).
    pub fn replace(&mut self, pos: &[Vec2], vel: &[Vec2], sharks: &[Shark]) -> anyhow::Result<()> {
        anyhow::ensure!(pos.len() == vel.len(), "positions and velocities differ in length");
        let n = u32::try_from(pos.len()).context("too many fish")?;
        let (extra, params) = (self.bufs.extra, self.params);
        let words = fish_words(pos, vel);
        let shark_words: Vec<f32> = sharks
            .iter()
            .flat_map(|s| [s.pos.x, s.pos.y, s.vel.x, s.vel.y])
            .collect();
        self.rebuild(n, sharks.len() as u32, extra, &params, (false, false), |b, q| {
            if !words.is_empty() {
                q.write_buffer(&b.fish[0], 0, &f32_bytes(&words));
            }
            if !shark_words.is_empty() {
                q.write_buffer(&b.shark_buf, 0, &f32_bytes(&shark_words));
            }
        })
    }
}

/// The largest per-fish relative deviation between two states of a school: position
/// differences relative to the position (at least 1 unit), velocity differences relative to
/// the speed (at least 1 % of `max_speed`).
pub fn max_deviation(a: (&[Vec2], &[Vec2]), b: (&[Vec2], &[Vec2]), params: &BoidParams) -> f64 {
    let floor = 0.01 * params.max_speed;
    let rel = |x: Vec2, y: Vec2, at_least: f32| ((x - y).length() / x.length().max(at_least)) as f64;
    let pos = a.0.iter().zip(b.0).map(|(&x, &y)| rel(x, y, 1.0));
    let vel = a.1.iter().zip(b.1).map(|(&x, &y)| rel(x, y, floor));
    pos.chain(vel)
        .fold(0.0, |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workgroup_size_matches_the_shader() {
        assert!(include_str!("school.wgsl").contains(&format!("const WG: u32 = {}u;", super::layout::WG)));
    }
}
