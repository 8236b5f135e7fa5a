//! Training inside the app: the Bevy side of [`crate::learn::live::Runner`]. Each job
//! (basics, Path-SGD, DCGAN) runs off the main thread on native or in a per-frame time budget
//! (wasm, recordings, tests); a system polls the runners each frame and keeps each job's
//! picture in a Bevy image. The frame never waits for a training step.

pub use crate::learn::live::{INLINE_SHARE, MAX_POINTS, Runner};
use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use std::time::Duration;

/// Builds a job (again on reset).
pub use crate::learn::live::Factory;

/// One training job as the app sees it: the engine-free [`Runner`] (reached through `Deref`)
/// and the Bevy image that shows its latest picture.
pub struct JobState {
    pub run: Runner,
    pub image: Option<Handle<Image>>,
}

impl std::ops::Deref for JobState {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.run
    }
}

impl std::ops::DerefMut for JobState {
    fn deref_mut(&mut self) -> &mut Runner {
        &mut self.run
    }
}

impl JobState {
    fn of(run: Runner) -> Self {
        Self { run, image: None }
    }
    /// A job on its own worker thread.
    pub fn threaded(name: &str, factory: Factory) -> Self {
        Self::of(Runner::threaded(name, factory))
    }
    /// A job stepped on the main thread within `budget` per frame (wasm, tests).
    pub fn inline(name: &str, factory: Factory, budget: Duration) -> Self {
        Self::of(Runner::inline(name, factory, budget))
    }
    /// A job stepped on the main thread, `per_frame` steps per frame on average.
    pub fn stepped(name: &str, factory: Factory, per_frame: f64) -> Self {
        Self::of(Runner::stepped(name, factory, per_frame))
    }
}

/// All training jobs of the app, in panel order.
#[derive(Resource, Default)]
pub struct Trainings {
    pub jobs: Vec<JobState>,
}

impl Trainings {
    /// Stops every worker thread and waits for them.
    pub fn shutdown(&mut self) {
        for j in &mut self.jobs {
            j.shutdown();
        }
    }

    pub fn find(&self, name: &str) -> Option<&JobState> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

/// While true, jobs are not polled or stepped (the recorder holds the scene still while it
/// waits for a frame).
#[derive(Resource, Default, Clone, Copy)]
pub struct FreezeTraining(pub bool);

/// Drains reports and keeps each job's image asset in step with its latest picture.
pub struct TrainingPlugin;

impl Plugin for TrainingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Trainings>()
            .add_systems(
                Update,
                poll_jobs.run_if(|f: Option<Res<FreezeTraining>>| f.is_none_or(|f| !f.0)),
            )
            .add_systems(PostUpdate, stop_workers_on_exit);
    }
}

/// When the app is told to exit, the workers stop before the process does (a worker killed
/// mid-step by the process exit can crash a GPU driver).
fn stop_workers_on_exit(mut exits: MessageReader<AppExit>, mut trainings: ResMut<Trainings>) {
    if exits.read().next().is_some() {
        trainings.shutdown();
    }
}

fn grey_to_rgba(grey: &[u8]) -> Vec<u8> {
    grey.iter().flat_map(|&v| [v, v, v, 255]).collect()
}

fn poll_jobs(mut trainings: ResMut<Trainings>, images: Option<ResMut<Assets<Image>>>, mut seen: Local<Vec<u64>>) {
    for job in &mut trainings.jobs {
        job.poll();
    }
    let Some(mut images) = images else { return };
    seen.resize(trainings.jobs.len(), 0);
    for (k, job) in trainings.jobs.iter_mut().enumerate() {
        if job.image_version == seen[k] {
            continue;
        }
        seen[k] = job.image_version;
        let Some((grey, w, h)) = &job.last_image else { continue };
        let rgba = grey_to_rgba(grey);
        let fits = job
            .image
            .as_ref()
            .and_then(|h| images.get(h))
            .is_some_and(|img| img.width() == *w && img.height() == *h);
        if fits {
            if let Some(mut img) = job.image.as_ref().and_then(|h| images.get_mut(h)) {
                img.data = Some(rgba);
            }
        } else {
            let mut img = Image::new(
                Extent3d {
                    width: *w,
                    height: *h,
                    depth_or_array_layers: 1,
                },
                TextureDimension::D2,
                rgba,
                TextureFormat::Rgba8UnormSrgb,
                RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
            );
            img.sampler = ImageSampler::nearest();
            job.image = Some(images.add(img));
        }
    }
}
