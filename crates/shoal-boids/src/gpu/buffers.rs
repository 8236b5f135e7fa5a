//! The GPU school's pipelines and buffers (one set per layout: fish count, grid size,
//! sharks, rocks), and the byte helpers around them.

use super::GpuContext;
use super::layout::{PREY_CHUNK, ScanLevels, grid_dims, rock_words};
use crate::params::BoidParams;
use crate::playground::{Rock, RockIndex};
use anyhow::Context as _;
use glam::Vec2;
use wgpu::util::DeviceExt as _;

/// The passes, in `school.wgsl`.
pub(super) struct Pipes {
    pub(super) clear: wgpu::ComputePipeline,
    pub(super) count: wgpu::ComputePipeline,
    pub(super) scan_up: wgpu::ComputePipeline,
    pub(super) scan_down: wgpu::ComputePipeline,
    pub(super) scatter: wgpu::ComputePipeline,
    pub(super) order: wgpu::ComputePipeline,
    pub(super) gather: wgpu::ComputePipeline,
    pub(super) steer: wgpu::ComputePipeline,
    pub(super) prey: wgpu::ComputePipeline,
    pub(super) sharks: wgpu::ComputePipeline,
}

impl Pipes {
    pub(super) fn new(device: &wgpu::Device) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("school.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("school.wgsl").into()),
        });
        let pipe = |entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        Self {
            clear: pipe("clear"),
            count: pipe("count"),
            scan_up: pipe("scan_up"),
            scan_down: pipe("scan_down"),
            scatter: pipe("scatter"),
            order: pipe("order"),
            gather: pipe("gather"),
            steer: pipe("steer"),
            prey: pipe("prey_find"),
            sharks: pipe("sharks_move"),
        }
    }
}

/// The buffers of one layout (fish count, grid size, sharks, rocks) and their bind groups.
pub(super) struct Buffers {
    pub(super) n: u32,
    pub(super) cells: u32,
    pub(super) sharks: u32,
    pub(super) extra: u32,
    pub(super) rock_words: Vec<u32>,
    pub(super) levels: ScanLevels,
    pub(super) params: wgpu::Buffer,
    /// Fish (position, velocity), ping-pong: `fish[cur]` holds the school.
    pub(super) fish: [wgpu::Buffer; 2],
    pub(super) shark_buf: wgpu::Buffer,
    /// Bind groups per parity (`cur` = 0 or 1): everything but the scan's levels.
    pub(super) groups: [Vec<wgpu::BindGroup>; 2],
    /// Per scan level: its groups for `scan_up` and `scan_down` (auto layouts are per pipeline).
    pub(super) level_groups: Vec<[wgpu::BindGroup; 2]>,
}

impl Buffers {
    /// Buffers for `n` fish, `sharks` autonomous sharks and `extra` other shark positions
    /// (contents to be uploaded or copied in).
    pub(super) fn new(
        ctx: &GpuContext,
        pipes: &Pipes,
        n: u32,
        sharks: u32,
        extra: u32,
        rocks: &[Rock],
        params: &BoidParams,
    ) -> anyhow::Result<Self> {
        use wgpu::BufferUsages as U;
        let d = &ctx.device;
        let (nx, ny, _) = grid_dims(params);
        let cells = nx.checked_mul(ny).context("the grid is too large")?;
        let levels = ScanLevels::new(cells);
        let limit = d.limits().max_storage_buffer_binding_size;
        let largest = (levels.words() as u64 * 4).max(n as u64 * 16);
        anyhow::ensure!(
            largest <= limit,
            "the GPU school needs a {largest}-byte buffer ({n} fish, {cells} grid cells); {} allows {limit}",
            ctx.info.name
        );
        let rock_words = rock_words(&RockIndex::new(rocks, params));
        let storage = |label: &str, size: u64| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: size.max(16),
                usage: U::STORAGE | U::COPY_DST | U::COPY_SRC,
                mapped_at_creation: false,
            })
        };
        let init = |label: &str, bytes: &[u8], usage| {
            d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytes,
                usage,
            })
        };
        let fish = [storage("fish 0", n as u64 * 16), storage("fish 1", n as u64 * 16)];
        let key = storage("fish keys", n as u64 * 8);
        let scan = storage("cell starts", levels.words() as u64 * 4);
        let sorted = storage("snapshot", n as u64 * 16);
        let idx = storage("order and rank", n as u64 * 8);
        let shark_buf = storage("sharks", (sharks + extra) as u64 * 16);
        let rock_buf = init("rocks", &words_bytes(&rock_words), U::STORAGE);
        let prey = storage("prey", sharks as u64 * n.div_ceil(PREY_CHUNK) as u64 * 8);
        let params_buf = uniform_buffer(d, 128);
        let level_buf = init(
            "scan levels",
            &words_bytes(
                &(0..levels.lens.len() - 1)
                    .flat_map(|k| levels.uniform(k))
                    .collect::<Vec<_>>(),
            ),
            U::UNIFORM,
        );
        let group = |pipe: &wgpu::ComputePipeline, entries: &[(u32, wgpu::BindingResource<'_>)]| {
            let entries: Vec<_> = entries
                .iter()
                .map(|(binding, resource)| wgpu::BindGroupEntry {
                    binding: *binding,
                    resource: resource.clone(),
                })
                .collect();
            d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipe.get_bind_group_layout(0),
                entries: &entries,
            })
        };
        let parity = |cur: usize| {
            let (fin, fout) = (&fish[cur], &fish[cur ^ 1]);
            let mut g = vec![
                group(&pipes.clear, &[(0, r(&params_buf)), (4, r(&scan))]),
                group(
                    &pipes.count,
                    &[(0, r(&params_buf)), (1, r(fin)), (3, r(&key)), (4, r(&scan))],
                ),
                group(
                    &pipes.scatter,
                    &[(0, r(&params_buf)), (3, r(&key)), (4, r(&scan)), (6, r(&idx))],
                ),
                group(&pipes.order, &[(0, r(&params_buf)), (4, r(&scan)), (6, r(&idx))]),
                group(
                    &pipes.gather,
                    &[(0, r(&params_buf)), (1, r(fin)), (5, r(&sorted)), (6, r(&idx))],
                ),
                group(
                    &pipes.steer,
                    &[
                        (0, r(&params_buf)),
                        (2, r(fout)),
                        (4, r(&scan)),
                        (5, r(&sorted)),
                        (6, r(&idx)),
                        (7, r(&shark_buf)),
                        (8, r(&rock_buf)),
                    ],
                ),
            ];
            if sharks > 0 {
                g.push(group(
                    &pipes.prey,
                    &[(0, r(&params_buf)), (2, r(fout)), (7, r(&shark_buf)), (9, r(&prey))],
                ));
                g.push(group(
                    &pipes.sharks,
                    &[
                        (0, r(&params_buf)),
                        (2, r(fout)),
                        (7, r(&shark_buf)),
                        (8, r(&rock_buf)),
                        (9, r(&prey)),
                    ],
                ));
            }
            g
        };
        let groups = [parity(0), parity(1)];
        let level_groups = (0..levels.lens.len() - 1)
            .map(|k| {
                let level = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &level_buf,
                    offset: k as u64 * 256,
                    size: std::num::NonZeroU64::new(16),
                });
                [
                    group(&pipes.scan_up, &[(4, r(&scan)), (10, level.clone())]),
                    group(&pipes.scan_down, &[(4, r(&scan)), (10, level)]),
                ]
            })
            .collect();
        Ok(Self {
            n,
            cells,
            sharks,
            extra,
            rock_words,
            levels,
            params: params_buf,
            fish,
            shark_buf,
            groups,
            level_groups,
        })
    }
}

pub(super) fn uniform_buffer(d: &wgpu::Device, size: u64) -> wgpu::Buffer {
    d.create_buffer(&wgpu::BufferDescriptor {
        label: Some("school params"),
        size,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub(super) fn fish_words(pos: &[Vec2], vel: &[Vec2]) -> Vec<f32> {
    pos.iter().zip(vel).flat_map(|(p, v)| [p.x, p.y, v.x, v.y]).collect()
}

pub(super) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn words_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(super) fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

pub(super) fn r(b: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
    b.as_entire_binding()
}

/// Maps `buf` (MAP_READ) after the work submitted so far and copies out `size` bytes.
pub(super) fn read_back(ctx: &GpuContext, buf: &wgpu::Buffer, size: u64) -> anyhow::Result<Vec<u8>> {
    let slice = buf.slice(0..size);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| anyhow::anyhow!("the GPU did not finish: {e}"))?;
    rx.recv()
        .context("the GPU read-back was dropped")?
        .map_err(|e| anyhow::anyhow!("cannot read the school back from the GPU: {e}"))?;
    let data = slice.get_mapped_range().to_vec();
    buf.unmap();
    Ok(data)
}
