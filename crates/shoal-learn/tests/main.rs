//! The trainings' integration tests in one binary, with no render stack to link.

#[path = "suite/basics.rs"]
mod basics;
#[path = "suite/data.rs"]
mod data;
#[path = "suite/dcgan.rs"]
mod dcgan;
#[path = "suite/path_sgd.rs"]
mod path_sgd;
