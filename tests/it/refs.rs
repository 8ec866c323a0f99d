//! The reference decoders the conformance and differential tests hold us to: libjpeg-turbo's
//! `djpeg` (Debian's libjpeg-turbo-progs), libpng through netpbm's `pngtopam` (netpbm),
//! giflib's `giftext` (giflib-tools), all three installed by `.ci/run`, and Pillow, pinned,
//! in a virtualenv that `tests/conformance/refs.sh` installs from PyPI under the target
//! folder.
//!
//! Without them a test prints a notice and skips; under `CI=true` it fails.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::util;

/// refs.sh's "Pillow could not be installed here" status.
const EXIT_UNAVAILABLE: i32 = 77;

/// The target folder this test binary was built into (`<target>/<profile>/deps/it-..`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors().nth(3).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        Path::to_path_buf,
    )
}

/// Whether `djpeg` runs here; if not, the notice (or, under CI, the failure) for `suite`.
pub fn djpeg(suite: &str) -> bool {
    tools(&[("djpeg", "libjpeg-turbo-progs")], suite)
}

/// Whether every `(program, Debian package)` of `wanted` is installed; if not, the notice
/// (or, under CI, the failure) for `suite`.
pub fn tools(wanted: &[(&str, &str)], suite: &str) -> bool {
    for &(program, package) in wanted {
        let spawned = Command::new(program)
            .arg("-h")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if spawned.is_err() {
            util::skip_or_fail(
                &format!("{program} is not installed (Debian: apt-get install {package})"),
                suite,
            );
            return false;
        }
    }
    true
}

/// What a reference decoder made of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Decoded (libjpeg's warnings, such as corrupt data or a premature end, included).
    Decodes,
    /// Refused, with the decoder's message.
    Refuses(String),
}

impl Verdict {
    pub const fn decodes(&self) -> bool {
        matches!(self, Self::Decodes)
    }
}

/// djpeg's verdict on `path`: exit status 0 (clean) or 2 (warnings) decodes, 1 refuses;
/// `None` when it died of a signal (no verdict).
pub fn djpeg_verdict(path: &Path) -> Option<Verdict> {
    verdict(
        Command::new("djpeg")
            .args(["-outfile", "/dev/null"])
            .arg(path),
        &[0, 2],
    )
}

/// libpng's verdict on `path` (`pngtopam`: it reads the whole file to IEND, ignoring
/// ancillary chunks' CRC errors with a warning, as libpng does by default).
pub fn libpng_verdict(path: &Path) -> Option<Verdict> {
    verdict(Command::new("pngtopam").arg(path), &[0])
}

/// giflib's verdict on `path` (`giftext`: it reads every record of the file).
pub fn giflib_verdict(path: &Path) -> Option<Verdict> {
    verdict(Command::new("giftext").arg(path), &[0])
}

/// What `command` says of a file: an exit status in `decodes`, or a refusal with the last
/// line it printed on stderr; `None` when it died of a signal.
fn verdict(command: &mut Command, decodes: &[i32]) -> Option<Verdict> {
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("the reference decoder runs");
    match out.status.code()? {
        code if decodes.contains(&code) => Some(Verdict::Decodes),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // The first line names the error; later ones may only say that it ended.
            let message = stderr.lines().next().unwrap_or("").trim().to_string();
            Some(Verdict::Refuses(message))
        }
    }
}

/// djpeg's decode of `path` at 1/`scale` as packed RGB (grey expanded), or its message.
pub fn djpeg_rgb(path: &Path, scale: u32) -> Result<(u32, u32, Vec<u8>), String> {
    let out = Command::new("djpeg")
        .args(["-pnm", "-scale", &format!("1/{scale}")])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("djpeg runs");
    if !matches!(out.status.code(), Some(0 | 2)) {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    parse_pnm(&out.stdout)
}

/// A binary PPM (P6) or PGM (P5) with maxval 255, as packed RGB.
fn parse_pnm(data: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while data.get(pos).is_some_and(u8::is_ascii_whitespace) {
            pos += 1;
        }
        let start = pos;
        while data.get(pos).is_some_and(|b| !b.is_ascii_whitespace()) {
            pos += 1;
        }
        if start == pos {
            return Err("a short PNM header".into());
        }
        fields.push(String::from_utf8_lossy(&data[start..pos]).into_owned());
    }
    let pixels = &data[pos + 1..];
    let number = |s: &str| s.parse::<u32>().map_err(|e| format!("PNM header: {e}"));
    let (w, h, max) = (
        number(&fields[1])?,
        number(&fields[2])?,
        number(&fields[3])?,
    );
    if max != 255 {
        return Err(format!("PNM maxval {max}"));
    }
    let n = (w * h) as usize;
    match fields[0].as_str() {
        "P6" if pixels.len() >= n * 3 => Ok((w, h, pixels[..n * 3].to_vec())),
        "P5" if pixels.len() >= n => {
            Ok((w, h, pixels[..n].iter().flat_map(|&l| [l, l, l]).collect()))
        }
        other => Err(format!("unexpected PNM {other} of {} bytes", pixels.len())),
    }
}

/// Pillow's first frame of a picture.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Where the frame lies on the picture: `[x0, y0, x1, y1)`.
    pub rect: [u32; 4],
    /// `width` x `height` RGBA.
    pub rgba: Vec<u8>,
}

/// A running `tests/conformance/pillow.py`: one job a line in, one answer a line out.
pub struct Pillow {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Pillow {
    /// Installs Pillow if need be and starts the helper; `None` (after the notice or, under
    /// CI, the failure for `suite`) when Pillow cannot be installed here.
    pub fn start(suite: &str) -> Option<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = std::env::var_os("SETPHOTO_REFS_DIR")
            .map_or_else(|| target_dir().join("conformance"), PathBuf::from);
        let install = Command::new("bash")
            .arg(root.join("tests/conformance/refs.sh"))
            .env("SETPHOTO_REFS_DIR", &dir)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output();
        let python = match install {
            Ok(out) if out.status.success() => {
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
            Ok(out) if out.status.code() == Some(EXIT_UNAVAILABLE) => {
                util::skip_or_fail("Pillow could not be installed (refs.sh exited 77)", suite);
                return None;
            }
            Ok(out) => panic!("tests/conformance/refs.sh failed: {}", out.status),
            Err(e) => {
                util::skip_or_fail(&format!("bash cannot run refs.sh: {e}"), suite);
                return None;
            }
        };
        let mut child = Command::new(python)
            .arg(root.join("tests/conformance/pillow.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the Pillow helper starts");
        let input = child.stdin.take().expect("a pipe");
        let output = BufReader::new(child.stdout.take().expect("a pipe"));
        Some(Self {
            child,
            input,
            output,
        })
    }

    fn ask(&mut self, job: &str) -> String {
        writeln!(self.input, "{job}").expect("the Pillow helper reads");
        let mut answer = String::new();
        self.output
            .read_line(&mut answer)
            .expect("the Pillow helper answers");
        assert!(!answer.is_empty(), "the Pillow helper exited");
        answer.trim_end().to_string()
    }

    /// Whether Pillow opens `path` and loads its (first) frame.
    pub fn verdict(&mut self, path: &Path) -> Verdict {
        let answer = self.ask(&format!("verdict\t{}", path.display()));
        match answer.strip_prefix("error ") {
            Some(message) => Verdict::Refuses(message.to_string()),
            None => Verdict::Decodes,
        }
    }

    /// Pillow's first frame of `path` as RGBA with the frame's rectangle `[x0, y0, x1, y1)`,
    /// or its message.
    pub fn rgba(&mut self, path: &Path, scratch: &Path) -> Result<Frame, String> {
        let answer = self.ask(&format!("rgba\t{}\t{}", path.display(), scratch.display()));
        let mut words = answer.split(' ');
        if words.next() != Some("ok") {
            return Err(answer);
        }
        let numbers: Vec<u32> = words.map(|w| w.parse().expect("a number")).collect();
        let [width, height, x0, y0, x1, y1] = numbers[..] else {
            panic!("unexpected answer from the Pillow helper: {answer}");
        };
        Ok(Frame {
            width,
            height,
            rect: [x0, y0, x1, y1],
            rgba: std::fs::read(scratch).expect("the helper wrote the pixels"),
        })
    }
}

impl Drop for Pillow {
    fn drop(&mut self) {
        // Closing its stdin ends the helper's loop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
