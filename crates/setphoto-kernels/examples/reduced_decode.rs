//! Decodes JPEGs with the reduced decoder, for profiles and output comparisons: for each
//! FILE, `REPEAT` decodes at 1/REDUCTION (default 1 and 2), then one line with the file,
//! the reduced size, an FNV-1a checksum of the RGB bytes and the median decode time.
//!
//! `cargo run --release -p setphoto-kernels --example reduced_decode -- [-r REDUCTION]
//! [-n REPEAT] FILE...`
//!
//! One decode of one file is what `valgrind --tool=callgrind` wants; the checksums show
//! whether a change of the decoder changed its output (a refused file prints its refusal).
//!
//! With `-b BASELINE`, each decode of a FILE follows one of BASELINE (its baseline twin)
//! in the same process, and the line ends with the median of the pairs' time ratios:
//! on a shared machine whose speed drifts from second to second, a pair decoded back to
//! back sees the same machine, so the ratio holds still where either time does not.

use std::time::Instant;

use setphoto_kernels::jpeg::decoder::Decoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut reduction = 2;
    let mut repeat = 1;
    let mut baseline = None;
    let mut files = Vec::new();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "-r" => reduction = arguments.next().ok_or("-r needs a value")?.parse()?,
            "-n" => repeat = arguments.next().ok_or("-n needs a value")?.parse()?,
            "-b" => baseline = Some(std::fs::read(arguments.next().ok_or("-b needs a file")?)?),
            _ => files.push(argument),
        }
    }
    for file in files {
        let bytes = std::fs::read(&file)?;
        let mut times = Vec::with_capacity(repeat);
        let mut ratios = Vec::with_capacity(repeat);
        let mut last = None;
        for _ in 0..repeat {
            let before = baseline.as_ref().map(|baseline| {
                let start = Instant::now();
                let _ = Decoder::new(baseline).scale(reduction).decode();
                start.elapsed()
            });
            let start = Instant::now();
            let decoded = Decoder::new(&bytes).scale(reduction).decode();
            let elapsed = start.elapsed();
            times.push(elapsed);
            if let Some(before) = before {
                ratios.push(elapsed.as_secs_f64() / before.as_secs_f64());
            }
            last = Some(decoded);
        }
        times.sort();
        let median = times[times.len() / 2];
        ratios.sort_by(f64::total_cmp);
        let ratio = ratios
            .get(ratios.len() / 2)
            .map(|ratio| format!(" {ratio:.3}x"))
            .unwrap_or_default();
        match last.ok_or("-n 0")? {
            Ok(reduced) => {
                let checksum = reduced.rgb.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                println!(
                    "{file} {}x{} {checksum:016x} {:.2} ms{ratio}",
                    reduced.width,
                    reduced.height,
                    median.as_secs_f64() * 1e3
                );
            }
            Err(refusal) => println!("{file} refused: {refusal:?}"),
        }
    }
    Ok(())
}
