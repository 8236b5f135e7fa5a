//! The panels' fonts. Native builds use egui's default set; the browser build carries only its
//! two text faces (Ubuntu-Light, Hack) and leaves out its two emoji fonts, ~740 KB of the
//! download that the panels never show.

use bevy::prelude::*;

/// Installs the browser build's fonts on every egui context before its first pass.
pub struct UiFontsPlugin;

impl Plugin for UiFontsPlugin {
    fn build(&self, _app: &mut App) {
        #[cfg(target_arch = "wasm32")]
        {
            use bevy_egui::EguiPreUpdateSet;
            _app.add_systems(
                PreUpdate,
                install
                    .after(EguiPreUpdateSet::InitContexts)
                    .before(EguiPreUpdateSet::BeginPass),
            );
        }
    }
}

/// egui's text faces without its emoji fonts: proportional text in Ubuntu-Light, monospace in
/// Hack, each the other's fallback.
#[cfg(target_arch = "wasm32")]
fn definitions() -> bevy_egui::egui::FontDefinitions {
    use bevy_egui::egui::{FontData, FontDefinitions, FontFamily};
    use std::sync::Arc;
    let mut fonts = FontDefinitions::empty();
    for (name, bytes) in [
        ("Ubuntu-Light", epaint_default_fonts::UBUNTU_LIGHT),
        ("Hack", epaint_default_fonts::HACK_REGULAR),
    ] {
        fonts
            .font_data
            .insert(name.into(), Arc::new(FontData::from_static(bytes)));
    }
    fonts
        .families
        .insert(FontFamily::Proportional, vec!["Ubuntu-Light".into(), "Hack".into()]);
    fonts
        .families
        .insert(FontFamily::Monospace, vec!["Hack".into(), "Ubuntu-Light".into()]);
    fonts
}

/// Fonts set before a context's first pass are in use from that pass on (egui applies them
/// when a pass begins).
#[cfg(target_arch = "wasm32")]
fn install(mut contexts: Query<&mut bevy_egui::EguiContext, Added<bevy_egui::EguiContext>>) {
    for mut ctx in &mut contexts {
        ctx.get_mut().set_fonts(definitions());
    }
}
