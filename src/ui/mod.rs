//! The panels: the tank's controls on the left, the trainings on the right (with the DCGAN's
//! poster in the tank), their docking layout and fonts.

pub mod controls;
pub mod fonts;
pub mod layout;
pub mod train_ui;
