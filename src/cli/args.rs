//! Command-line flags as clap parses them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::Policy;

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
}

/// Flags of `setphoto process`.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// The image file (JPEG, PNG or GIF; the format is read from its bytes).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Left edge of the square crop box (decimal; defaults to 0 with --crop-w).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub crop_x: Option<String>,
    /// Top edge of the square crop box (decimal; defaults to 0 with --crop-w).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub crop_y: Option<String>,
    /// Side of the square crop box (decimal). Without it a non-square image is letterboxed.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub crop_w: Option<String>,
    /// Folder the files are written to.
    #[arg(long, value_name = "DIR", default_value = "avatars")]
    pub out: PathBuf,
    /// Base of the URLs in the profile (default: the file:// URL of --out).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Limits to apply.
    #[arg(long, value_enum, default_value_t = PolicyPreset::Default)]
    pub policy: PolicyPreset,
    /// Make every size, upscaling images smaller than 1024 px.
    #[arg(long)]
    pub upscale: bool,
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
