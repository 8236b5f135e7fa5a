//! `--school gpu`: the school stepped by compute shaders ([`crate::boids::gpu::GpuSchool`]) in
//! the render world, on the renderer's own device, and drawn by instancing straight from its
//! storage buffer (`gpu_fish.wgsl`): no per-frame copy of the school to the CPU. Only the
//! sharks and the watched fish come back each frame (a few bytes, read asynchronously); a
//! click reads the school once to find the fish under the pointer.
//!
//! The main world keeps what the user asks for (fish count, Reset, Add fish, sharks, rocks,
//! the pointer shark, the parameters) and hands it over through [`GpuLink`].

use crate::app::SchoolMode;
use crate::boids::gpu::{GpuContext, GpuSchool};
use crate::boids::plugin::{Playground, Position, SchoolControl, SchoolRng, Velocity};
use crate::boids::school::spawn_fish;
use crate::boids::{BoidParams, Rock, SchoolKind, Shark};
use crate::tank::watch::Watched;
use crate::tank::{ResetSchool, TankSettings};
use bevy::prelude::*;
use bevy::render::renderer::{RenderAdapterInfo, RenderContext, RenderDevice, RenderQueue, ViewQuery};
use bevy::render::view::{ExtractedView, ViewTarget};
use bevy::render::{Render, RenderApp, RenderSystems};
use std::sync::{Arc, Mutex, MutexGuard};

mod draw;

/// What the main world asks of the GPU school.
#[derive(Clone, Debug)]
pub enum Command {
    /// A new school (Reset): these fish and sharks.
    Replace {
        pos: Vec<Vec2>,
        vel: Vec<Vec2>,
        sharks: Vec<Shark>,
    },
    /// New fish at the end.
    Append { pos: Vec<Vec2>, vel: Vec<Vec2> },
    /// Keep the first fish only.
    Truncate(u32),
    /// Replace the autonomous sharks (their count changed).
    Sharks(Vec<Shark>),
    /// Find the fish nearest to a point (within a distance): the answer comes back in
    /// [`Link::picked`].
    Pick(Vec2, f32),
}

/// The two worlds' shared state.
#[derive(Default)]
pub struct Link {
    pub commands: Vec<Command>,
    /// School steps due (counted on the fixed timestep).
    pub steps: u32,
    pub params: BoidParams,
    pub rocks: Vec<Rock>,
    pub pointer: Option<Vec2>,
    pub watched: Option<u32>,
    /// Fish length in field units (the tank's setting).
    pub fish_size: f32,
    /// Fish on the GPU after the last commands.
    pub fish: u32,
    /// The autonomous sharks as last read back.
    pub sharks: Vec<Shark>,
    /// The watched fish as last read back: (index, position, velocity).
    pub watched_fish: Option<FishAt>,
    /// The answer to the last [`Command::Pick`]: where the click was, and the fish found.
    pub picked: Option<(Vec2, Option<FishAt>)>,
    /// Why the GPU school cannot run (set once; the app then says so).
    pub error: Option<String>,
    /// The adapter it runs on.
    pub adapter: Option<String>,
    /// Whether that is a software adapter (the CPU school is faster there).
    pub software: bool,
}

/// A fish on the GPU: (index, position, velocity).
pub type FishAt = (u32, Vec2, Vec2);

#[derive(Resource, Clone, Default)]
pub struct GpuLink(pub Arc<Mutex<Link>>);

impl GpuLink {
    pub fn lock(&self) -> MutexGuard<'_, Link> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The watched fish's index on the GPU (on the entity that carries [`Watched`] in GPU mode).
#[derive(Component, Clone, Copy, Debug)]
pub struct GpuFishIndex(pub u32);

/// The GPU school in the app (added by `add_tank` with `--school gpu`).
pub struct GpuSchoolPlugin;

impl Plugin for GpuSchoolPlugin {
    fn build(&self, app: &mut App) {
        let link = GpuLink::default();
        app.insert_resource(link.clone())
            .insert_resource(SchoolMode {
                kind: SchoolKind::Gpu,
                note: "GPU school: starting".into(),
            })
            .init_resource::<Requested>()
            .add_systems(FixedUpdate, count_steps)
            .add_systems(Update, (reset_and_resize, sync_link, take_picks, picked).chain());
        app.world_mut().resource_mut::<SchoolControl>().gpu = true;
        let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
            link.lock().error = Some("no renderer".into());
            return;
        };
        render_app
            .insert_resource(link)
            .init_resource::<RenderSchool>()
            .add_systems(Render, step_school.in_set(RenderSystems::Prepare))
            .add_systems(Render, draw::prepare.in_set(RenderSystems::PrepareBindGroups))
            .add_systems(
                bevy::core_pipeline::Core2d,
                draw::draw
                    .after(bevy::core_pipeline::core_2d::main_transparent_pass_2d)
                    .in_set(bevy::core_pipeline::Core2dSystems::MainPass),
            );
    }
}

fn count_steps(control: Res<SchoolControl>, link: Res<GpuLink>) {
    if control.running {
        let mut l = link.lock();
        // As the CPU school: at most a few steps per frame (the school slows down instead).
        l.steps = (l.steps + 1).min(crate::app::MAX_STEPS_PER_FRAME as u32);
    }
}

/// Reset, the fish count and the shark count, as commands.
fn reset_and_resize(
    mut resets: MessageReader<ResetSchool>,
    settings: Res<TankSettings>,
    params: Res<BoidParams>,
    playground: Res<Playground>,
    mut rng: ResMut<SchoolRng>,
    link: Res<GpuLink>,
    mut asked: ResMut<Requested>,
) {
    let want = settings.fish.min(crate::boids::MAX_FISH);
    let sharks = playground.sharks.len();
    let mut l = link.lock();
    let spawn = |rng: &mut SchoolRng, n: usize| -> (Vec<Vec2>, Vec<Vec2>) {
        (0..n).map(|_| spawn_fish(&mut rng.0, &params)).unzip()
    };
    if resets.read().count() > 0 || asked.0.is_none() {
        *rng = SchoolRng::seeded(settings.seed);
        let (pos, vel) = spawn(&mut rng, want);
        l.commands.push(Command::Replace {
            pos,
            vel,
            sharks: playground.sharks.clone(),
        });
        asked.0 = Some((want, sharks));
        return;
    }
    let (have, have_sharks) = asked.0.expect("set above");
    if want > have {
        let (pos, vel) = spawn(&mut rng, want - have);
        l.commands.push(Command::Append { pos, vel });
    } else if want < have {
        l.commands.push(Command::Truncate(want as u32));
    }
    if sharks != have_sharks {
        l.commands.push(Command::Sharks(playground.sharks.clone()));
    }
    asked.0 = Some((want, sharks));
}

/// The fish and shark counts the GPU school was last asked for (`None` before the first).
#[derive(Resource, Default)]
pub struct Requested(Option<(usize, usize)>);

/// Hands over the parameters, rocks and pointer; takes back the sharks and the watched fish.
fn sync_link(
    link: Res<GpuLink>,
    params: Res<BoidParams>,
    settings: Res<TankSettings>,
    mut playground: ResMut<Playground>,
    mut mode: ResMut<SchoolMode>,
    mut watched: Query<(&GpuFishIndex, &mut Position, &mut Velocity), With<Watched>>,
) {
    let mut l = link.lock();
    l.params = *params;
    l.fish_size = settings.fish_size;
    l.rocks.clone_from(&playground.rocks);
    l.pointer = playground.pointer;
    l.watched = watched.iter().next().map(|(i, _, _)| i.0);
    if l.sharks.len() == playground.sharks.len() && l.sharks != playground.sharks {
        playground.sharks.clone_from(&l.sharks);
    }
    if let Some((i, p, v)) = l.watched_fish {
        for (idx, mut pos, mut vel) in &mut watched {
            if idx.0 == i {
                (pos.0, vel.0) = (p, v);
            }
        }
    }
    let note = match (&l.error, &l.adapter) {
        (Some(e), _) => format!("GPU school failed: {e}"),
        (None, Some(a)) if l.software => format!(
            "GPU school: {} fish on {a}, a software renderer (the CPU school is faster here)",
            l.fish
        ),
        (None, Some(a)) => format!("GPU school: {} fish on {a}", l.fish),
        (None, None) => "GPU school: starting".into(),
    };
    if mode.note != note {
        mode.note = note;
    }
}

/// A click's answer: watch the fish under the pointer, or add a fish there.
/// Clicks on the tank (from `watch`): the GPU school finds the fish under the pointer.
fn take_picks(mut picks: MessageReader<crate::tank::watch::PickRequest>, link: Res<GpuLink>) {
    for p in picks.read() {
        link.lock().commands.push(Command::Pick(p.at, p.radius));
    }
}

fn picked(
    mut commands: Commands,
    link: Res<GpuLink>,
    new: crate::tank::watch::NewFish,
    mut asked: ResMut<Requested>,
    watched: Query<Entity, With<Watched>>,
) {
    let crate::tank::watch::NewFish {
        params,
        mut settings,
        mut rng,
    } = new;
    let mut l = link.lock();
    let Some((at, hit)) = l.picked.take() else {
        return;
    };
    for e in &watched {
        commands.entity(e).despawn();
    }
    match hit {
        Some((i, p, v)) => {
            commands.spawn((GpuFishIndex(i), Watched::default(), Position(p), Velocity(v)));
        }
        None if settings.fish < crate::boids::MAX_FISH => {
            // A new fish at the pointer, counted in so the next resize keeps it.
            let v = crate::boids::school::spawn_velocity(&mut rng.0, &params);
            l.commands.push(Command::Append {
                pos: vec![at],
                vel: vec![v],
            });
            settings.fish += 1;
            if let Some((fish, _)) = asked.0.as_mut() {
                *fish += 1;
            }
        }
        None => {}
    }
}

/// The render world's school and its read-backs.
#[derive(Resource, Default)]
pub struct RenderSchool {
    pub school: Option<GpuSchool>,
    readback: Option<Readback>,
    failed: bool,
}

/// The sharks and the watched fish, copied into a mappable buffer and read when ready.
struct Readback {
    buf: wgpu::Buffer,
    /// Set by the map callback.
    ready: Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>,
    in_flight: bool,
    sharks: u32,
    watched: Option<u32>,
}

/// Room for 64 sharks and one fish.
const READBACK_BYTES: u64 = 65 * 16;

fn step_school(
    link: Res<GpuLink>,
    mut rs: ResMut<RenderSchool>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
    info: Res<RenderAdapterInfo>,
) {
    let mut l = link.lock();
    let rs = &mut *rs;
    if rs.failed {
        return;
    }
    if rs.school.is_none() {
        let ctx = GpuContext {
            device: device.wgpu_device().clone(),
            queue: (**queue.0).clone(),
            info: (*info.0).clone(),
        };
        match GpuSchool::new(&ctx, &[], &[], &[], &l.rocks, &l.params) {
            Ok(s) => {
                l.adapter = Some(ctx.info.name.clone());
                l.software = ctx.info.device_type == wgpu::DeviceType::Cpu;
                rs.school = Some(s);
            }
            Err(e) => {
                l.error = Some(format!("{e:#}"));
                rs.failed = true;
                return;
            }
        }
    }
    let school = rs.school.as_mut().expect("set above");
    if let Err(e) = run(school, &mut l) {
        l.error = Some(format!("{e:#}"));
        rs.failed = true;
        return;
    }
    read_back(school, &mut rs.readback, &mut l);
}

/// Applies the commands and runs the due steps.
fn run(school: &mut GpuSchool, l: &mut Link) -> anyhow::Result<()> {
    for cmd in std::mem::take(&mut l.commands) {
        match cmd {
            Command::Replace { pos, vel, sharks } => school.replace(&pos, &vel, &sharks)?,
            Command::Append { pos, vel } => school.append(&pos, &vel)?,
            Command::Truncate(n) => school.truncate(n)?,
            Command::Sharks(s) => school.set_sharks(&s)?,
            Command::Pick(at, radius) => {
                let (pos, vel, _) = school.read()?;
                let hit = pos
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i, p.distance_squared(at)))
                    .filter(|&(_, d2)| d2 <= radius * radius)
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| (i as u32, pos[i], vel[i]));
                l.picked = Some((at, hit));
            }
        }
    }
    school.extra_sharks = l.pointer.into_iter().collect();
    school.set_rocks(&l.rocks);
    if l.params.validate().is_ok() {
        for _ in 0..std::mem::take(&mut l.steps) {
            school.step(&l.params)?;
        }
    }
    l.fish = school.len() as u32;
    Ok(())
}

fn read_back(school: &GpuSchool, slot: &mut Option<Readback>, l: &mut Link) {
    let ctx = school.context();
    let rb = slot.get_or_insert_with(|| Readback {
        buf: ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("school read-back"),
            size: READBACK_BYTES,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }),
        ready: Arc::default(),
        in_flight: false,
        sharks: 0,
        watched: None,
    });
    let _ = ctx.device.poll(wgpu::PollType::Poll);
    if rb.in_flight {
        let done = rb.ready.lock().unwrap_or_else(|e| e.into_inner()).take();
        match done {
            None => return,
            Some(Ok(())) => {
                let data: Vec<f32> = rb
                    .buf
                    .slice(..)
                    .get_mapped_range()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect();
                rb.buf.unmap();
                let v = |k: usize| Vec2::new(data[4 * k], data[4 * k + 1]);
                let w = |k: usize| Vec2::new(data[4 * k + 2], data[4 * k + 3]);
                l.sharks = (0..rb.sharks as usize)
                    .map(|k| Shark { pos: v(k), vel: w(k) })
                    .collect();
                l.watched_fish = rb.watched.map(|i| (i, v(64), w(64)));
            }
            Some(Err(_)) => rb.buf.unmap(),
        }
        rb.in_flight = false;
    }
    let sharks = school.shark_count().min(64);
    let watched = l.watched.filter(|&i| (i as usize) < school.len());
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    school.copy_sharks(&mut enc, &rb.buf, 0, sharks);
    if let Some(i) = watched {
        school.copy_fish(&mut enc, &rb.buf, 64 * 16, i);
    }
    ctx.queue.submit([enc.finish()]);
    let ready = rb.ready.clone();
    rb.buf.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        *ready.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    });
    (rb.in_flight, rb.sharks, rb.watched) = (true, sharks, watched);
}

/// The views' fish drawing (see `gpu_school/draw.rs`).
pub(crate) type DrawView<'w, 's> = ViewQuery<'w, 's, (&'static ExtractedView, &'static ViewTarget)>;
pub(crate) type Ctx<'w, 's> = RenderContext<'w, 's>;
