//! Where recorded frames go, one at a time as each read-back arrives (memory stays flat in the
//! number of frames): an animated GIF, numbered PNGs, or a video encoded by Debian's `ffmpeg`
//! (H.264 in .mp4, VP9 in .webm) from raw frames on its standard input. Every output is written
//! under a temporary name and moved into place only when complete; on any failure (or an
//! unfinished sink being dropped) nothing of it is left behind.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};

/// A video container and its codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Video {
    /// H.264 (libx264), yuv420p.
    Mp4,
    /// VP9 (libvpx-vp9).
    Webm,
}

impl Video {
    pub fn encoder(self) -> &'static str {
        match self {
            Video::Mp4 => "libx264",
            Video::Webm => "libvpx-vp9",
        }
    }
    fn container(self) -> &'static str {
        match self {
            Video::Mp4 => "mp4",
            Video::Webm => "webm",
        }
    }
    fn codec_args(self) -> &'static [&'static str] {
        match self {
            Video::Mp4 => &[
                "-c:v",
                "libx264",
                "-preset",
                "medium",
                "-crf",
                "20",
                "-movflags",
                "+faststart",
            ],
            Video::Webm => &[
                "-c:v",
                "libvpx-vp9",
                "-b:v",
                "0",
                "-crf",
                "32",
                "-deadline",
                "good",
                "-cpu-used",
                "4",
                "-row-mt",
                "1",
            ],
        }
    }
}

/// Checks, before any work, that `ffmpeg` runs and has the encoder `video` needs.
pub fn check_ffmpeg(video: Video) -> anyhow::Result<()> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-encoders"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "--out .{} needs ffmpeg, which could not be run ({e}); install it (Debian/Ubuntu: apt-get install ffmpeg)",
                video.container()
            )
        })?;
    let list = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() && list.split_whitespace().any(|w| w == video.encoder()),
        "--out .{} needs ffmpeg with the {} encoder, and this ffmpeg lacks it (Debian's ffmpeg package has it)",
        video.container(),
        video.encoder()
    );
    Ok(())
}

/// A temporary name beside `path` (same folder, so the final rename is atomic).
fn temp_beside(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.{}.partial", std::process::id()))
}

/// Takes frames (tightly packed RGBA rows) one by one.
pub trait FrameSink {
    fn push(&mut self, rgba: &[u8]) -> anyhow::Result<()>;
    /// Completes the output and moves it into place; returns what was written.
    fn finish(self: Box<Self>) -> anyhow::Result<Vec<PathBuf>>;
}

pub struct GifSink {
    path: PathBuf,
    tmp: PathBuf,
    enc: Option<gif::Encoder<BufWriter<std::fs::File>>>,
    size: (u16, u16),
    delay: u16,
}

impl GifSink {
    pub fn create(path: &Path, size: (u32, u32), fps: u32) -> anyhow::Result<Self> {
        let tmp = temp_beside(path);
        let file = std::fs::File::create(&tmp).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        let size = (size.0 as u16, size.1 as u16);
        let mut sink = Self {
            path: path.to_path_buf(),
            tmp,
            enc: None,
            size,
            delay: (100 / fps).max(1) as u16,
        };
        let mut enc = gif::Encoder::new(BufWriter::new(file), size.0, size.1, &[])?;
        enc.set_repeat(gif::Repeat::Infinite)?;
        sink.enc = Some(enc);
        Ok(sink)
    }
}

impl FrameSink for GifSink {
    fn push(&mut self, rgba: &[u8]) -> anyhow::Result<()> {
        let mut px = rgba.to_vec();
        let mut frame = gif::Frame::from_rgba_speed(self.size.0, self.size.1, &mut px, 10);
        frame.delay = self.delay;
        self.enc.as_mut().expect("an open encoder").write_frame(&frame)?;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        let enc = self.enc.take().expect("an open encoder");
        let file = enc
            .into_inner()?
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", self.path.display(), e.error()))?;
        file.sync_all()?;
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))?;
        Ok(vec![self.path.clone()])
    }
}

impl Drop for GifSink {
    fn drop(&mut self) {
        // Unfinished (an error, a panic): leave nothing behind.
        if self.enc.is_some() {
            self.enc = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// `frame_0000.png`, ... written into a hidden folder inside `dir`, moved into `dir` at the end.
pub struct PngSink {
    dir: PathBuf,
    made_dir: bool,
    partial: PathBuf,
    size: (u32, u32),
    written: Vec<PathBuf>,
    done: bool,
}

impl PngSink {
    pub fn create(dir: &Path, size: (u32, u32)) -> anyhow::Result<Self> {
        let made_dir = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let partial = dir.join(format!(".frames.{}.partial", std::process::id()));
        let sink = Self {
            dir: dir.to_path_buf(),
            made_dir,
            partial: partial.clone(),
            size,
            written: Vec::new(),
            done: false,
        };
        std::fs::create_dir_all(&partial).map_err(|e| anyhow::anyhow!("cannot write into {}: {e}", dir.display()))?;
        Ok(sink)
    }
}

impl FrameSink for PngSink {
    fn push(&mut self, rgba: &[u8]) -> anyhow::Result<()> {
        let name = format!("frame_{:04}.png", self.written.len());
        let png = crate::learn::plot::encode_png(rgba, self.size.0, self.size.1, true)?;
        let p = self.partial.join(&name);
        std::fs::write(&p, &png).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
        self.written.push(self.dir.join(name));
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        for p in &self.written {
            let name = p.file_name().expect("a frame name");
            std::fs::rename(self.partial.join(name), p)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?;
        }
        let _ = std::fs::remove_dir(&self.partial);
        self.done = true;
        Ok(std::mem::take(&mut self.written))
    }
}

impl Drop for PngSink {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.partial);
            if self.made_dir {
                let _ = std::fs::remove_dir(&self.dir);
            }
        }
    }
}

/// Raw frames piped to `ffmpeg`, which writes the video under a temporary name.
pub struct VideoSink {
    path: PathBuf,
    tmp: PathBuf,
    child: Option<Child>,
    stdin: Option<BufWriter<ChildStdin>>,
    errors: Option<std::thread::JoinHandle<String>>,
}

impl VideoSink {
    pub fn create(path: &Path, video: Video, size: (u32, u32), fps: u32) -> anyhow::Result<Self> {
        let tmp = temp_beside(path);
        let mut child = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args([
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgba",
                "-s",
                &format!("{}x{}", size.0, size.1),
            ])
            .args(["-r", &fps.to_string(), "-i", "pipe:0"])
            .args(video.codec_args())
            .args(["-pix_fmt", "yuv420p", "-f", video.container()])
            .arg(&tmp)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start ffmpeg: {e} (Debian/Ubuntu: apt-get install ffmpeg)"))?;
        let stdin = child.stdin.take().map(|s| BufWriter::with_capacity(1 << 20, s));
        let mut stderr = child.stderr.take().expect("piped stderr");
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            child: Some(child),
            stdin,
            errors: Some(errors),
        })
    }

    /// Waits for ffmpeg and returns its verdict (with its own words on failure).
    fn wait(&mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let status = self.child.take().map(|mut c| c.wait()).transpose()?;
        let said = self.errors.take().and_then(|h| h.join().ok()).unwrap_or_default();
        match status {
            Some(s) if s.success() => Ok(()),
            _ => anyhow::bail!("ffmpeg failed: {}", said.trim()),
        }
    }
}

impl FrameSink for VideoSink {
    fn push(&mut self, rgba: &[u8]) -> anyhow::Result<()> {
        let w = self.stdin.as_mut().expect("ffmpeg's input");
        if let Err(e) = w.write_all(rgba) {
            // ffmpeg stopped: its own message says why.
            return Err(self
                .wait()
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("ffmpeg stopped reading frames: {e}")));
        }
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> anyhow::Result<Vec<PathBuf>> {
        if let Some(w) = self.stdin.as_mut() {
            w.flush()
                .map_err(|e| anyhow::anyhow!("ffmpeg stopped reading frames: {e}"))?;
        }
        self.wait()?;
        std::fs::rename(&self.tmp, &self.path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))?;
        Ok(vec![self.path.clone()])
    }
}

impl Drop for VideoSink {
    fn drop(&mut self) {
        // Finished: the temporary file is already the output.
        if let Some(mut c) = self.child.take() {
            drop(self.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
