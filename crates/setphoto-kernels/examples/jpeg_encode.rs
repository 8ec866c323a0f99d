//! Encodes raw RGB pictures with the rendition encoder, for `benches/quality/jpeg_bytes.py`:
//! one job per line of standard input, `RAW WIDTH HEIGHT QUALITY SAMPLING OUT`, where RAW
//! holds `WIDTH * HEIGHT * 3` bytes of packed RGB, SAMPLING is `420` or `444` and the JPEG
//! goes to OUT. Prints nothing; fails on the first bad line.
//!
//! `cargo run --release -p setphoto-kernels --example jpeg_encode < jobs.txt`
//!
//! SAMPLING may end in `r` (`420r`, `444r`) for the rendition quantisation tables
//! ([`QuantTables::Rendition`]) instead of Annex K's, and then in `p` (`420rp`, `420p`) for
//! a progressive file ([`Encoder::with_progressive`]), and then in `t` (`420rpt`) for
//! rate-distortion quantisation ([`Encoder::with_trellis`]).
//!
//! With `--rule [qQUALITY] [smallest] SIZE...` it prints, one line per size, `SIZE QUALITY
//! SAMPLING`: the settings [`rendition_encoder`] gives a rendition of that size at QUALITY
//! (default 85, the engine's default policy), with rate-distortion quantisation after
//! `smallest` (the engine's smallest JPEG effort).

use std::io::BufRead;

use setphoto_kernels::jpeg::encoder::{
    ColorType, Encoder, QuantTables, Sampling, rendition_encoder,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.first().is_some_and(|a| a == "--rule") {
        let mut sizes = &arguments[1..];
        let mut quality = 85;
        if let Some(q) = sizes.first().and_then(|q| q.strip_prefix('q')) {
            quality = q.parse()?;
            sizes = &sizes[1..];
        }
        let trellis = sizes.first().is_some_and(|s| s == "smallest");
        if trellis {
            sizes = &sizes[1..];
        }
        for size in sizes {
            let encoder = rendition_encoder(quality, size.parse()?, trellis);
            let sampling = match encoder.sampling() {
                Sampling::Yuv420 => "420",
                Sampling::Yuv444 => "444",
            };
            let tables = match encoder.tables() {
                QuantTables::AnnexK => "",
                QuantTables::Rendition => "r",
            };
            let progressive = if encoder.progressive() { "p" } else { "" };
            let trellis = if encoder.trellis() { "t" } else { "" };
            println!(
                "{size} {} {sampling}{tables}{progressive}{trellis}",
                encoder.quality()
            );
        }
        return Ok(());
    }
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [raw, width, height, quality, sampling, out] = fields[..] else {
            return Err(format!("expected RAW WIDTH HEIGHT QUALITY SAMPLING OUT: {line}").into());
        };
        let (sampling, trellis) = match sampling.strip_suffix('t') {
            Some(sampling) => (sampling, true),
            None => (sampling, false),
        };
        let (sampling, progressive) = match sampling.strip_suffix('p') {
            Some(sampling) => (sampling, true),
            None => (sampling, false),
        };
        let (sampling, tables) = match sampling.strip_suffix('r') {
            Some(sampling) => (sampling, QuantTables::Rendition),
            None => (sampling, QuantTables::AnnexK),
        };
        let sampling = match sampling {
            "420" => Sampling::Yuv420,
            "444" => Sampling::Yuv444,
            other => return Err(format!("sampling is 420 or 444, not {other}").into()),
        };
        let jpeg = Encoder::new(quality.parse()?)
            .with_sampling(sampling)
            .with_tables(tables)
            .with_progressive(progressive)
            .with_trellis(trellis)
            .encode(
                &std::fs::read(raw)?,
                width.parse()?,
                height.parse()?,
                ColorType::Rgb,
            )?;
        std::fs::write(out, jpeg)?;
    }
    Ok(())
}
