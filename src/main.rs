//! shoal's entry point: the command line on native; in the browser the app itself, or, started
//! in a Web Worker, one training job (the GPU trainer bundle, built without the app, is only that).

#[cfg(all(not(target_arch = "wasm32"), feature = "app"))]
mod cli;

#[cfg(all(not(target_arch = "wasm32"), feature = "app"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(all(not(target_arch = "wasm32"), not(feature = "app")))]
fn main() -> std::process::ExitCode {
    eprintln!("shoal: this build has no command line (it was built without the cargo feature `app`)");
    std::process::ExitCode::from(2)
}

#[cfg(all(target_arch = "wasm32", feature = "app"))]
fn main() {
    shoal::app::web::run();
}

#[cfg(all(target_arch = "wasm32", not(feature = "app")))]
fn main() {
    shoal::learn::live::browser::serve_jobs();
}
