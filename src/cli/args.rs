//! Command-line flags as clap parses them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{JpegEffort, PngRenditions, Policy};

/// Avatar image engine: turns one uploaded picture into a users.setPhoto avatar set.
#[derive(Debug, Parser)]
#[command(name = "setphoto", version, about, long_about = None)]
#[command(
    after_help = "Examples:\n  setphoto process photo.jpg --out avatars\n  setphoto process photo.jpg --crop-x 10 --crop-y 0 --crop-w 400\n\nSee `setphoto <command> --help` for each command."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the avatar set of one image and print the users.setPhoto JSON body.
    #[command(
        after_help = "Example:\n  setphoto process photo.jpg --crop-x 10 --crop-y 0 --crop-w 400 --out avatars\n\nPrints {\"ok\":true,\"profile\":{...}} and exits 0, or {\"ok\":false,\"error\":CODE} and exits 1.\nUsage errors (bad flags, unreadable IMAGE) exit 2."
    )]
    Process(ProcessArgs),
    /// Normalise a whole folder or manifest of images, in parallel, resumably.
    #[command(
        after_help = "Examples:\n  setphoto batch photos/ --out avatars/ --report report.jsonl\n  setphoto batch manifest.csv --out avatars/ --jobs 8 --shard 0/4\n\nA manifest is .jsonl or .csv with `id`, `path` and optional `crop_x`, `crop_y`, `crop_w`\n(paths relative to the manifest). One JSON line per input goes to stdout or --report.\nExit status: 0 when the run completed (rejected images are results, listed in the\nreport); 1 with --strict if any input was rejected; 3 when the run itself failed\n(unreadable input or manifest, output not writable)."
    )]
    Batch(BatchArgs),
    /// Upload an avatar to a users.setPhoto endpoint (Slack, or `setphoto serve`).
    #[cfg(feature = "client")]
    #[command(
        after_help = "Examples:\n  SLACK_TOKEN=xoxp-... setphoto upload photo.jpg --crop-w 400\n  setphoto upload photo.jpg --normalize --base-url http://127.0.0.1:8080/api/ --token xoxp-...\n  setphoto upload --from manifest.csv --normalize   (rows with id,path,token[,crop_*])\n\nPrints the endpoint's JSON body; exits 1 on ok:false, 2 on usage errors, 3 when no\nanswer came (connection, timeout, a body that is not Slack's JSON). With --from: one\nJSON line per input, exit 1 if any upload failed, 3 if INPUT cannot be read."
    )]
    Upload(UploadArgs),
    /// Serve Slack's users.setPhoto and profile methods over HTTP.
    #[cfg(feature = "server")]
    #[command(
        after_help = "Example:\n  setphoto token create --user U0123ABC\n  setphoto serve --listen 127.0.0.1:8080 --data ./setphoto-data\n\nPoint a Slack SDK at it: WebClient(token=..., base_url=\"http://127.0.0.1:8080/api/\").\nMethods: users.setPhoto, users.deletePhoto, users.profile.get, users.profile.set,\nusers.info, users.identity. Files are served under /avatars/. Stops on Ctrl-C or SIGTERM."
    )]
    Serve(Box<ServeArgs>),
    /// Manage the tokens of `setphoto serve`.
    #[cfg(feature = "server")]
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Flags of `setphoto upload`.
#[cfg(feature = "client")]
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The image file (sent as is, unless --normalize).
    #[arg(
        value_name = "IMAGE",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub image: Option<PathBuf>,
    /// Upload many: a folder (recursive) or a .jsonl / .csv manifest with `id`, `path`,
    /// optional `crop_x`, `crop_y`, `crop_w` and `token` (a row's own token wins). One JSON
    /// line per input on stdout; progress on stderr.
    #[arg(long, value_name = "INPUT")]
    pub from: Option<PathBuf>,
    /// With --from: calls a minute per token (Slack's Tier 2 allows 20).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub rate: u32,
    /// With --from: no progress on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// With --from: let manifest paths leave the manifest's folder (absolute paths, `..`).
    #[arg(long)]
    pub allow_outside: bool,
    /// The square crop box.
    #[command(flatten)]
    pub crop: CropArgs,
    /// Validate, orient, crop or letterbox locally and upload the square (at most 1024 px):
    /// a bad file fails before any network, with the code the endpoint would give.
    #[arg(long)]
    pub normalize: bool,
    /// The API base URL; method names are appended.
    #[arg(long, value_name = "URL", default_value = crate::client::SLACK_API)]
    pub base_url: String,
    /// The token (default: the SLACK_TOKEN environment variable). Never printed.
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// After uploading, read users.profile.get back and check it serves the new avatar_hash.
    #[arg(long)]
    pub verify: bool,
    /// Seconds allowed per request.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub timeout: u64,
    /// Retries after connection failures, 5xx and 429 (0: none).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
    /// Limits --normalize applies.
    #[arg(long, value_enum, default_value_t = PolicyPreset::Default)]
    pub policy: PolicyPreset,
}

/// Flags of `setphoto serve`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed at start-up).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Folder of the database and avatar files (created if missing).
    #[arg(long, value_name = "DIR", default_value = "./setphoto-data")]
    pub data: PathBuf,
    /// Where users, tokens and avatars are recorded: `sqlite://PATH` (default: setphoto.db
    /// in --data) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, shared by replicas.
    #[arg(long, value_name = "URL", value_parser = crate::server::Database::parse)]
    pub database: Option<crate::server::Database>,
    /// Where the avatar files are kept: a folder (default: --data) or `s3://BUCKET/PREFIX`
    /// (credentials and endpoint from `AWS_*`), shared by replicas; either holds
    /// `avatars/<user>/<name>`.
    #[arg(long, value_name = "URL", value_parser = crate::server::FileStore::parse)]
    pub store: Option<crate::server::FileStore>,
    /// Base of the URLs in responses (default: `http://<listen address>`). Avatar URLs
    /// are `<this>/avatars/...`: a CDN, or the bucket's endpoint with the prefix
    /// (`https://BUCKET.s3.REGION.amazonaws.com/PREFIX`), serves them instead of the replicas.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// With a shared database: how old an unreferenced file must be before the orphan
    /// sweep (at start-up, then this often) removes it (`90s`, `30m`, `1h`, or seconds).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub orphan_age: std::time::Duration,
    /// Calls a minute allowed per token and method (Slack's Tier 2); 0: no limit.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub rate_limit: u32,
    /// Images processed at once (default: all cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Memory the images in flight may need together, by their estimated peaks
    /// (`300MiB`, `2GiB`, or bytes); an image waits until it fits, one larger than the
    /// budget runs alone. Default: half the machine's memory, 256 MiB to 16 GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_bytes)]
    pub memory: Option<u64>,
    /// How long a superseded avatar's files stay served after a new one is set, then
    /// removed (`90s`, `30m`, `24h`, `7d`, or seconds; 0: at once).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub keep_old: std::time::Duration,
    /// Failed authentications a minute per client address before it is answered
    /// `ratelimited`; 0: no throttle.
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub auth_failures: u32,
    /// Reverse proxies (addresses or CIDR ranges, comma-separated or repeated) whose
    /// `X-Forwarded-For` names the client, for the access log and the failed-auth throttle.
    #[arg(long, value_name = "RANGES", value_delimiter = ',', value_parser = trusted_range)]
    pub trust_proxy: Vec<crate::server::IpNet>,
    /// Log lines on stderr as `text` or `json` (one object a line).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// No access-log line per request (errors are still logged).
    #[arg(long)]
    pub no_access_log: bool,
    /// Admission: how requests are let in and how long they may take.
    #[command(flatten)]
    pub admission: AdmissionArgs,
    /// The policy applied to uploads and whether to upscale.
    #[command(flatten)]
    pub render: RenderArgs,
}

/// One `--trust-proxy` entry.
#[cfg(feature = "server")]
fn trusted_range(text: &str) -> Result<crate::server::IpNet, String> {
    match crate::server::parse_trusted(text)?.as_slice() {
        [one] => Ok(*one),
        _ => Err(format!("{text:?} is not one address or CIDR range")),
    }
}

/// How `setphoto serve` writes its log lines.
#[cfg(feature = "server")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event, `key=value` fields.
    Text,
    /// One JSON object per line.
    Json,
}

/// Admission settings of `setphoto serve`; each defaults to `ServerConfig::new`'s value.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
#[command(next_help_heading = "Admission")]
pub struct AdmissionArgs {
    /// Open connections at once (default 1024); more wait in the kernel's queue.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Request bodies read and held at once (default: 4 per core, at least 16).
    #[arg(long, value_name = "N")]
    pub bodies: Option<usize>,
    /// Of --bodies, how many may go to requests whose token was not checked before their
    /// body (default: a quarter).
    #[arg(long, value_name = "N")]
    pub anonymous_bodies: Option<usize>,
    /// Longest wait for a body slot before answering `ratelimited` (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub slot_wait: Option<std::time::Duration>,
    /// Time to send the request line and headers (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub header_timeout: Option<std::time::Duration>,
    /// Time to send a whole request body (default 60s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub request_timeout: Option<std::time::Duration>,
    /// Longest pause inside a body, and the grace before --body-min-rate (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub body_idle_timeout: Option<std::time::Duration>,
    /// Least average body rate in bytes a second after the grace (default 8192; 0: none).
    #[arg(long, value_name = "BYTES")]
    pub body_min_rate: Option<u64>,
    /// Longest a write to a client may stay blocked (default 20s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub write_timeout: Option<std::time::Duration>,
    /// Avatar file bodies streamed at once; past it 503 (default 128).
    #[arg(long, value_name = "N")]
    pub files_in_flight: Option<usize>,
}

/// A duration: a whole number with an optional unit `s`, `m`, `h` or `d` (seconds if none).
#[cfg(feature = "server")]
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number with s, m, h or d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    n.checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// `setphoto token ...`.
#[cfg(feature = "server")]
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user (created on first use) and print it, alone, on stdout.
    #[command(
        after_help = "Example:\n  TOKEN=$(setphoto token create --user U0123ABC --scopes users.profile:write,users.profile:read)\n\nThe token is shown once; only its SHA-256 digest is stored."
    )]
    Create(TokenCreateArgs),
}

/// Flags of `setphoto token create`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The user the token acts for: a Slack-style id, `U` then upper-case letters and digits.
    #[arg(long, value_name = "ID")]
    pub user: String,
    /// The user's team: `T` then at least 8 upper-case letters and digits.
    #[arg(long, value_name = "ID", default_value = crate::server::DEFAULT_TEAM)]
    pub team: String,
    /// Comma-separated scopes (default: every scope the server checks).
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// Folder of the server's database.
    #[arg(long, value_name = "DIR", default_value = "./setphoto-data")]
    pub data: PathBuf,
    /// The server's database, if not SQLite in --data: `sqlite://PATH` or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    #[arg(long, value_name = "URL", value_parser = crate::server::Database::parse)]
    pub database: Option<crate::server::Database>,
}

/// The square crop box, as the `crop_x`, `crop_y`, `crop_w` form fields (`process`,
/// `upload`).
#[derive(Debug, Args)]
pub struct CropArgs {
    /// Left edge of the square crop box (decimal; defaults to 0 with --crop-w).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub crop_x: Option<String>,
    /// Top edge of the square crop box (decimal; defaults to 0 with --crop-w).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub crop_y: Option<String>,
    /// Side of the square crop box (decimal). Without it a non-square image is letterboxed.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub crop_w: Option<String>,
}

/// What the engine renders (`process`, `batch`, `serve`).
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Limits to apply.
    #[arg(long, value_enum, default_value_t = PolicyPreset::Default)]
    pub policy: PolicyPreset,
    /// Make every size, upscaling images smaller than 1024 px.
    #[arg(long)]
    pub upscale: bool,
    /// Store the upload byte for byte as the original, metadata and all (default: the
    /// original keeps its pixels, orientation and colour profile and loses other EXIF,
    /// XMP, IPTC, comments, text chunks and trailing bytes). The avatar_hash is the same
    /// either way.
    #[arg(long)]
    pub keep_original_metadata: bool,
    /// What a PNG upload's renditions are: `auto`, JPEG when no pixel is transparent and
    /// PNG otherwise; `always`, PNG.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = PngRenditionsArg::Auto)]
    pub png_renditions: PngRenditionsArg,
    /// Resize in linear light (16-bit): fine patterns and edges keep their brightness
    /// (a 1 px black and white pattern becomes 188, not 128); costs some speed.
    #[arg(long)]
    pub linear: bool,
    /// How hard the JPEG encoder works for fewer bytes: `standard`; `smallest`, fewer
    /// bytes at the same quality for a few times the encoding time.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = JpegEffortArg::Standard)]
    pub jpeg_effort: JpegEffortArg,
}

impl RenderArgs {
    /// The engine policy these flags ask for.
    #[must_use]
    pub fn to_policy(&self) -> Policy {
        self.policy
            .policy(self.upscale)
            .with_keep_original_metadata(self.keep_original_metadata)
            .with_png_renditions(match self.png_renditions {
                PngRenditionsArg::Auto => PngRenditions::Auto,
                PngRenditionsArg::Always => PngRenditions::Always,
            })
            .with_linear(self.linear)
            .with_jpeg_effort(match self.jpeg_effort {
                JpegEffortArg::Standard => JpegEffort::Standard,
                JpegEffortArg::Smallest => JpegEffort::Smallest,
            })
    }
}

/// `--jpeg-effort`: [`JpegEffort`] as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JpegEffortArg {
    /// Coefficients rounded, tables fitted to each rendition.
    Standard,
    /// Rate-distortion quantisation too: fewer bytes, more encoding time.
    Smallest,
}

/// `--png-renditions`: [`PngRenditions`] as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PngRenditionsArg {
    /// JPEG renditions when the picture has no transparent pixel, PNG otherwise.
    Auto,
    /// PNG renditions always.
    Always,
}

/// Flags of `setphoto process`.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// The image file (JPEG, PNG or GIF; the format is read from its bytes).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// The square crop box.
    #[command(flatten)]
    pub crop: CropArgs,
    /// Folder the files are written to.
    #[arg(long, value_name = "DIR", default_value = "avatars")]
    pub out: PathBuf,
    /// Base of the URLs in the profile (default: the file:// URL of --out).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The policy and whether to upscale.
    #[command(flatten)]
    pub render: RenderArgs,
}

/// Flags of `setphoto batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// A folder (walked recursively; id = path relative to it) or a .jsonl / .csv manifest.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Where each input's files go, under `<id>/`: a folder, file://PATH, or
    /// s3://BUCKET/PREFIX (credentials and endpoint from the AWS_* environment).
    #[arg(long, value_name = "DEST")]
    pub out: Target,
    /// Base of the URLs in the profiles, `<URL>/<id>/<file>` (default: the folder's
    /// file:// URL, or the objects' s3:// URL).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Images processed at once (default: all cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Memory the images in flight may need together, by their estimated peaks
    /// (`300MiB`, `2GiB`, or bytes); an image waits until it fits, one larger than the
    /// budget runs alone. Default: half the machine's memory, 256 MiB to 16 GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::budget::parse_bytes)]
    pub memory: Option<u64>,
    /// Process only shard K of N (0 <= K < N), a stable partition by id.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Write the JSON Lines report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Redo inputs whose outputs already exist.
    #[arg(long)]
    pub force: bool,
    /// Exit 1 if any input was rejected.
    #[arg(long)]
    pub strict: bool,
    /// Let manifest paths leave the manifest's folder (absolute paths, `..`, links out).
    #[arg(long)]
    pub allow_outside: bool,
    /// No progress or summary on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// The policy and whether to upscale.
    #[command(flatten)]
    pub render: RenderArgs,
}

/// The `--out` argument of `setphoto batch`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local folder: a plain path or a `file://` URL.
    Folder(PathBuf),
    /// An S3 bucket and a key prefix (no leading or trailing `/`; may be empty).
    S3 {
        /// The bucket name.
        bucket: String,
        /// Keys start with `<prefix>/` (or nothing, when empty).
        prefix: String,
    },
}

impl FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(split) = crate::s3::split_url(text) {
            let (bucket, prefix) = split?;
            return Ok(Self::S3 { bucket, prefix });
        }
        if text.starts_with("file://") {
            let url = url::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))?;
            let path = url
                .to_file_path()
                .map_err(|()| format!("{text:?} is not a local file URL"))?;
            return Ok(Self::Folder(path));
        }
        if let Some((scheme, _)) = text.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(format!(
                "{scheme}:// outputs are not supported: use a folder, file://PATH or s3://BUCKET/PREFIX"
            ));
        }
        if text.is_empty() {
            return Err("the output is empty".to_owned());
        }
        Ok(Self::Folder(PathBuf::from(text)))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// One shard of a partition: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u64,
    /// How many shards.
    pub count: u64,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("expected K/N, got {text:?}"))?;
    let index: u64 = k
        .parse()
        .map_err(|_| format!("K in {text:?} is not a number"))?;
    let count: u64 = n
        .parse()
        .map_err(|_| format!("N in {text:?} is not a number"))?;
    if count == 0 || index >= count {
        return Err(format!("need 0 <= K < N, got {text:?}"));
    }
    Ok(Shard { index, count })
}

/// A named policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyPreset {
    /// 16384 px a side, 50 MP, 20 MiB, 100 GIF frames.
    Default,
    /// Slack's page guidance: at most 1024 px a side.
    Documented,
}

impl PolicyPreset {
    /// The policy this preset names, with `upscale` applied.
    #[must_use]
    pub fn policy(self, upscale: bool) -> Policy {
        match self {
            Self::Default => Policy::default(),
            Self::Documented => Policy::documented(),
        }
        .with_upscale(upscale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "server")]
    fn durations_take_a_unit() {
        use std::time::Duration;
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn targets_parse_from_paths_and_urls() {
        assert_eq!(
            "out/avatars".parse(),
            Ok(Target::Folder(PathBuf::from("out/avatars")))
        );
        assert_eq!(
            "file:///srv/avatars".parse(),
            Ok(Target::Folder(PathBuf::from("/srv/avatars")))
        );
        assert_eq!(
            "s3://bucket/a/b/".parse(),
            Ok(Target::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            })
        );
        assert_eq!(
            "s3://bucket".parse(),
            Ok(Target::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            })
        );
        for bad in [
            "s3://",
            "s3:///x",
            "s3://b/../x",
            "s3://b/a//c",
            "gs://b/x",
            "",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
        // A folder name with a colon is still a folder.
        assert_eq!("a:b".parse(), Ok(Target::Folder(PathBuf::from("a:b"))));
    }
}
