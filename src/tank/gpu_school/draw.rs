//! Drawing the GPU school: one instanced draw per view, after the 2D main pass (so above the
//! tank's sprites, below the panels), reading the fish from the school's storage buffer.

use super::{Ctx, DrawView, GpuLink, RenderSchool};
use bevy::prelude::*;
use bevy::render::renderer::RenderDevice;
use bevy::render::view::{ExtractedView, Msaa, ViewTarget};
use wgpu::util::DeviceExt as _;

/// A view's fish draw this frame.
#[derive(Component)]
pub struct FishDraw {
    bind_group: wgpu::BindGroup,
    pipeline: wgpu::RenderPipeline,
    fish: u32,
}

/// Pipelines per (target format, samples).
#[derive(Default)]
pub struct Pipelines {
    shader: Option<wgpu::ShaderModule>,
    made: Vec<(wgpu::TextureFormat, u32, wgpu::RenderPipeline)>,
}

impl Pipelines {
    fn get(&mut self, d: &wgpu::Device, format: wgpu::TextureFormat, samples: u32) -> wgpu::RenderPipeline {
        if let Some((_, _, p)) = self.made.iter().find(|(f, s, _)| *f == format && *s == samples) {
            return p.clone();
        }
        let shader = self
            .shader
            .get_or_insert_with(|| {
                d.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some("gpu_fish.wgsl"),
                    source: wgpu::ShaderSource::Wgsl(include_str!("../gpu_fish.wgsl").into()),
                })
            })
            .clone();
        let p = d.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("gpu fish"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState {
                count: samples,
                ..Default::default()
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: Some(wgpu::BlendState::ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        self.made.push((format, samples, p.clone()));
        p
    }
}

/// Field coordinates (y down, origin top-left) -> world (y up, origin centre) -> clip.
fn clip_from_field(view: &ExtractedView, width: f32, height: f32) -> Mat4 {
    let clip_from_world = view
        .clip_from_world
        .unwrap_or_else(|| view.clip_from_view * view.world_from_view.to_matrix().inverse());
    let world_from_field = Mat4::from_cols(
        Vec4::X,
        Vec4::NEG_Y,
        Vec4::Z,
        Vec4::new(-0.5 * width, 0.5 * height, 1.0, 1.0),
    );
    clip_from_world * world_from_field
}

pub fn prepare(
    mut commands: Commands,
    rs: Res<RenderSchool>,
    link: Res<GpuLink>,
    device: Res<RenderDevice>,
    views: Query<(Entity, &ExtractedView, &ViewTarget, Option<&Msaa>)>,
    mut pipes: Local<Pipelines>,
) {
    let Some(school) = rs.school.as_ref() else {
        return;
    };
    let (params, size) = {
        let l = link.lock();
        (l.params, l.fish_size)
    };
    let d = device.wgpu_device();
    for (entity, view, target, msaa) in &views {
        let m = clip_from_field(view, params.width, params.height);
        let mut words: Vec<f32> = m.to_cols_array().to_vec();
        words.extend([size, 0.5 * size, 0.0, 0.0]);
        let bytes: Vec<u8> = words.iter().flat_map(|x| x.to_le_bytes()).collect();
        let uniform = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("gpu fish view"),
            contents: &bytes,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let pipeline = pipes.get(d, target.main_texture_format(), msaa.map_or(1, |m| m.samples()));
        let bind_group = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("gpu fish"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: school.fish_buffer().as_entire_binding(),
                },
            ],
        });
        commands.entity(entity).insert(FishDraw {
            bind_group,
            pipeline,
            fish: school.len() as u32,
        });
    }
}

pub fn draw(view: DrawView, draws: Query<&FishDraw>, mut ctx: Ctx) {
    let entity = view.entity();
    let (_, target) = view.into_inner();
    let Ok(fd) = draws.get(entity) else {
        return;
    };
    if fd.fish == 0 {
        return;
    }
    let attachment = target.get_color_attachment();
    let mut pass = ctx.command_encoder().begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some("gpu fish"),
        color_attachments: &[Some(attachment)],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    });
    pass.set_pipeline(&fd.pipeline);
    pass.set_bind_group(0, &fd.bind_group, &[]);
    pass.draw(0..6, 0..fd.fish);
}
