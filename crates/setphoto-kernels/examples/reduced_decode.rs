//! Decodes JPEGs with the reduced decoder, for profiles and output comparisons: for each
//! FILE, `REPEAT` decodes at 1/REDUCTION (default 1 and 2), then one line with the file,
//! the reduced size, an FNV-1a checksum of the RGB bytes and the median decode time.
//!
//! `cargo run --release -p setphoto-kernels --example reduced_decode -- [-r REDUCTION]
//! [-n REPEAT] FILE...`
//!
//! One decode of one file is what `valgrind --tool=callgrind` wants; the checksums show
//! whether a change of the decoder changed its output (a refused file prints its refusal).

use std::time::Instant;

use setphoto_kernels::jpeg::decoder::Decoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut reduction = 2;
    let mut repeat = 1;
    let mut files = Vec::new();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "-r" => reduction = arguments.next().ok_or("-r needs a value")?.parse()?,
            "-n" => repeat = arguments.next().ok_or("-n needs a value")?.parse()?,
            _ => files.push(argument),
        }
    }
    for file in files {
        let bytes = std::fs::read(&file)?;
        let mut times = Vec::with_capacity(repeat);
        let mut last = None;
        for _ in 0..repeat {
            let start = Instant::now();
            let decoded = Decoder::new(&bytes).scale(reduction).decode();
            times.push(start.elapsed());
            last = Some(decoded);
        }
        times.sort();
        let median = times[times.len() / 2];
        match last.ok_or("-n 0")? {
            Ok(reduced) => {
                let checksum = reduced.rgb.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                println!(
                    "{file} {}x{} {checksum:016x} {:.2} ms",
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
