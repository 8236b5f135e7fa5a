//! Thin Bevy glue: the tank's visuals, the control panels and the app itself.

pub mod capture;
pub mod controls;
pub mod tank;
pub mod watch;

use crate::boids::BoidParams;
use crate::boids::plugin::BoidsPlugin;
use bevy::diagnostic::FrameTimeDiagnosticsPlugin;
use bevy::prelude::*;
use bevy_egui::EguiPlugin;

/// How the app starts.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub fish: usize,
    pub seed: u64,
    pub params: BoidParams,
    /// Fixed-timestep rate of the school (steps per second).
    pub steps_per_second: f64,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            fish: 300,
            seed: 1,
            params: BoidParams::default(),
            steps_per_second: 60.0,
        }
    }
}

/// The interactive app: a window with the tank and its panels.
pub fn build_app(opts: &AppOptions) -> App {
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "shoal — a fish school and live neural-network training".into(),
            resolution: (1280, 720).into(),
            ..default()
        }),
        ..default()
    }));
    add_tank(&mut app, opts);
    app.add_plugins((
        FrameTimeDiagnosticsPlugin::default(),
        EguiPlugin::default(),
        controls::ControlsPlugin,
    ));
    app
}

/// The school, its visuals and the click-to-watch behaviour (no panels).
pub fn add_tank(app: &mut App, opts: &AppOptions) {
    app.insert_resource(opts.params)
        .insert_resource(Time::<Fixed>::from_hz(opts.steps_per_second))
        .insert_resource(tank::TankSettings {
            fish: opts.fish,
            seed: opts.seed,
            ..default()
        })
        .add_plugins((BoidsPlugin { seed: opts.seed }, tank::TankPlugin, watch::WatchPlugin));
}
