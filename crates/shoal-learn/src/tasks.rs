//! The command line's trainings, benchmarks and scorings on a chosen [`Device`], as functions
//! with no type parameters. burn's generic code is instantiated where it is called with a
//! concrete backend; calling these instead keeps that work in this crate, compiled once, so
//! that the app's binary only calls them and rebuilds quickly.

use crate::basics::{self, Curves};
use crate::data::Digits;
use crate::dcgan::checkpoint::{CheckpointError, load_generator};
use crate::dcgan::run::{Progress as DcganProgress, RunOptions, RunSummary};
use crate::dcgan::{DcganConfig, Trainer, sample_generator};
use crate::live::spec::Device;
use crate::metrics::{self, Classifier, Scores, classifier_score, probs_and_features, score_images};
use crate::path_sgd::bench::PathSgdBench;
use crate::path_sgd::experiment::{self as ex, EpochRow, ExperimentConfig, Init, Progress as PathSgdProgress};
use crate::{Cpu, CpuAutodiff};
use std::sync::Arc;

/// The tensor-basics net trained three ways for `epochs` epochs on the CPU; `progress` gets
/// each epoch's three losses.
pub fn basics(epochs: usize, seed: u64, progress: &mut dyn FnMut(usize, [f32; 3])) -> Curves {
    basics::run::<CpuAutodiff>(epochs, seed, &Default::default(), progress)
}

/// `shoal dcgan`: trains the DCGAN with `opts` on `device` ([`crate::dcgan::run::run`]).
pub fn dcgan(
    opts: &RunOptions,
    device: &Device,
    progress: &mut dyn FnMut(DcganProgress),
) -> anyhow::Result<RunSummary> {
    use crate::dcgan::run::run;
    match device {
        Device::Cpu => run::<CpuAutodiff>(opts, Default::default(), progress),
        #[cfg(feature = "gpu")]
        Device::Gpu(dev) => run::<crate::gpu::GpuAutodiff>(opts, dev.clone(), progress),
    }
}

/// `shoal bench dcgan`: the milliseconds of `iters` DCGAN iterations (one G step and one D
/// step each) on the bundled digits, after one iteration to warm up.
pub fn dcgan_iteration_ms(cfg: DcganConfig, device: &Device, iters: usize) -> anyhow::Result<Vec<f64>> {
    fn on<B: burn::tensor::backend::AutodiffBackend>(
        cfg: DcganConfig,
        dev: B::Device,
        iters: usize,
    ) -> anyhow::Result<Vec<f64>> {
        let data = Arc::new(Digits::bundled(crate::data::Split::Train));
        let mut t = Trainer::<B>::new(cfg, data, dev)?;
        t.step();
        Ok((0..iters)
            .map(|_| {
                let s = std::time::Instant::now();
                t.step();
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect())
    }
    match device {
        Device::Cpu => on::<CpuAutodiff>(cfg, Default::default(), iters),
        #[cfg(feature = "gpu")]
        Device::Gpu(dev) => on::<crate::gpu::GpuAutodiff>(cfg, dev.clone(), iters),
    }
}

/// `n` digits drawn with `seed` from a `shoal dcgan` checkpoint's generator (its moving average
/// where the run kept one), on the CPU: the images (28 x 28 bytes each), the checkpoint's
/// config and epoch.
pub fn dcgan_sample(checkpoint: &[u8], n: usize, seed: u64) -> Result<(Vec<u8>, DcganConfig, usize), CheckpointError> {
    let dev = Default::default();
    let (g, cfg, epoch) = load_generator::<Cpu>(checkpoint, &dev)?;
    Ok((sample_generator(&g, cfg.z, n, seed, &dev), cfg, epoch))
}

/// A classifier trained by [`metrics::train_classifier`] on the CPU.
pub struct TrainedClassifier {
    /// Its weights, as `assets/classifier.bin` holds them.
    pub bytes: Vec<u8>,
    /// Test accuracy after each epoch.
    pub accuracies: Vec<f64>,
    /// Its classifier score of the real test digits.
    pub real_score: f64,
}

/// `shoal classifier`: trains the metrics' MNIST classifier on the CPU.
pub fn train_classifier(
    train: &Digits,
    test: &Digits,
    epochs: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize, f64),
) -> anyhow::Result<TrainedClassifier> {
    let dev = Default::default();
    let (model, accuracies) = metrics::train_classifier::<CpuAutodiff>(train, test, epochs, seed, &dev, progress);
    let (probs, _) = probs_and_features(&model, &test.images, &dev);
    Ok(TrainedClassifier {
        bytes: model.to_bytes()?,
        accuracies,
        real_score: classifier_score(&probs),
    })
}

/// `shoal classifier score`: `images` (28 x 28 bytes each) scored by the shipped classifier
/// against `real` digits, on the CPU.
pub fn score_with_bundled(images: &[u8], real: &[u8]) -> anyhow::Result<Scores> {
    let dev = Default::default();
    let model = Classifier::<Cpu>::bundled(&dev)?;
    Ok(score_images(&model, images, real, &dev))
}

/// `shoal bench path-sgd` on the CPU.
pub fn path_sgd_bench(hidden: usize, batch: usize, iters: usize) -> anyhow::Result<PathSgdBench> {
    crate::path_sgd::bench::run::<CpuAutodiff>(hidden, batch, iters, &Default::default())
}

/// `shoal path-sgd` on the CPU: each optimizer's learning rate chosen on a held-out part of
/// `train` (`choose` hears of the trials), then every (optimizer, init) pair trained for
/// `cfg.epochs` epochs and evaluated on `train` and `test` (`progress` hears of the steps).
pub fn path_sgd_experiment(
    cfg: &ExperimentConfig,
    train: Digits,
    test: &Digits,
    choose: &mut dyn FnMut(PathSgdProgress<'_>),
    progress: &mut dyn FnMut(PathSgdProgress<'_>),
) -> Vec<EpochRow> {
    let dev = Default::default();
    let lrs = ex::choose_learning_rates::<CpuAutodiff>(cfg, &train, &dev, choose);
    let train = Arc::new(train);
    let data = ex::RunData {
        train: train.clone(),
        eval_train: &train,
        eval_test: test,
    };
    ex::train_runs::<CpuAutodiff>(cfg, &lrs, &Init::ALL, cfg.epochs, &data, &dev, progress)
}
