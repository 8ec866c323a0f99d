//! PNG rendition bytes and encode time under other deflate levels and filter choices, for
//! the PNG part of `benches/quality/png_sizes.py`: reads the renditions that script kept
//! (`--keep DIR`) and re-encodes each one's exact rows (same colour type, bit depth,
//! palette) with each strategy, then prints bytes against Pillow's per class and the
//! median encode time per size.
//!
//! `python3 benches/quality/png_sizes.py --keep DIR && cargo run --release --example png_strategies -- DIR`

use std::collections::BTreeMap;
use std::time::Instant;

use png::{DeflateCompression, Filter};

/// A strategy: renditions up to `small` px are deflated at `small_level`, trying
/// `small_filters` (the smallest result is kept); larger ones at `level` with the adaptive
/// filter (palette rows unfiltered), as the engine does.
struct Strategy {
    name: &'static str,
    level: u8,
    small: u32,
    small_level: u8,
    small_filters: &'static [Filter],
}

const ALL: &[Filter] = &[
    Filter::Adaptive,
    Filter::NoFilter,
    Filter::Sub,
    Filter::Up,
    Filter::Avg,
    Filter::Paeth,
    Filter::MinEntropy,
];

const ADAPTIVE: &[Filter] = &[Filter::Adaptive];

const fn strategy(
    name: &'static str,
    level: u8,
    small: u32,
    small_level: u8,
    small_filters: &'static [Filter],
) -> Strategy {
    Strategy {
        name,
        level,
        small,
        small_level,
        small_filters,
    }
}

const STRATEGIES: &[Strategy] = &[
    strategy("L6", 6, 0, 6, ADAPTIVE),
    strategy("L7", 7, 0, 7, ADAPTIVE),
    strategy("L8", 8, 0, 8, ADAPTIVE),
    strategy("L9", 9, 0, 9, ADAPTIVE),
    strategy("L7, L8<=192", 7, 192, 8, ADAPTIVE),
    strategy("L7, L9<=72", 7, 72, 9, ADAPTIVE),
    strategy("L7, all<=72", 7, 72, 7, ALL),
    strategy("L6, L9<=192", 6, 192, 9, ADAPTIVE),
    strategy("L6, L7<=512", 6, 512, 7, ADAPTIVE),
];

/// Encodes of each rendition timed; the fastest counts.
const REPEAT: usize = 5;

/// One rendition's rows as the PNG writer needs them.
struct Raw {
    info: png::Info<'static>,
    data: Vec<u8>,
}

fn read(path: &std::path::Path) -> Raw {
    let mut decoder =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().unwrap();
    let mut data = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut data).unwrap();
    data.truncate(frame.buffer_size());
    let source = reader.info();
    let mut info = png::Info::with_size(source.width, source.height);
    info.color_type = source.color_type;
    info.bit_depth = source.bit_depth;
    info.palette = source.palette.as_ref().map(|p| p.to_vec().into());
    info.trns = source.trns.as_ref().map(|t| t.to_vec().into());
    Raw { info, data }
}

fn encode(raw: &Raw, level: u8, filter: Filter) -> usize {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::with_info(&mut out, raw.info.clone()).unwrap();
    encoder.set_deflate_compression(DeflateCompression::Level(level));
    // Palette rows stay unfiltered on our default path; the strategies may try others.
    encoder.set_filter(filter);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&raw.data).unwrap();
    writer.finish().unwrap();
    out.len()
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: png_strategies DIR");
    let tsv = std::fs::read_to_string(std::path::Path::new(&dir).join("pillow.tsv")).unwrap();
    // class -> (pillow bytes, bytes per strategy); size -> microseconds per strategy.
    let mut classes: BTreeMap<String, (usize, Vec<usize>)> = BTreeMap::new();
    let mut times: BTreeMap<u32, Vec<Vec<f64>>> = BTreeMap::new();
    for line in tsv.lines() {
        let [file, class, size, pillow] = line.split('\t').collect::<Vec<_>>()[..] else {
            continue;
        };
        let raw = read(std::path::Path::new(file));
        let size: u32 = size.parse().unwrap();
        let entry = classes
            .entry(class.to_string())
            .or_insert_with(|| (0, vec![0; STRATEGIES.len()]));
        entry.0 += pillow.parse::<usize>().unwrap();
        let per_size = times
            .entry(size)
            .or_insert_with(|| vec![Vec::new(); STRATEGIES.len()]);
        for (i, strategy) in STRATEGIES.iter().enumerate() {
            let indexed = raw.info.color_type == png::ColorType::Indexed;
            let (level, filters) = if size <= strategy.small {
                (strategy.small_level, strategy.small_filters)
            } else {
                (strategy.level, ADAPTIVE)
            };
            let filters: &[Filter] = if indexed && filters.len() == 1 {
                &[Filter::NoFilter]
            } else {
                filters
            };
            let mut fastest = f64::INFINITY;
            let mut bytes = 0;
            for _ in 0..REPEAT {
                let start = Instant::now();
                bytes = filters
                    .iter()
                    .map(|&f| encode(&raw, level, f))
                    .min()
                    .unwrap();
                fastest = fastest.min(start.elapsed().as_secs_f64() * 1e6);
            }
            per_size[i].push(fastest);
            entry.1[i] += bytes;
        }
    }
    println!("bytes / Pillow's (zlib 6) per class:");
    print!("{:10}", "class");
    for s in STRATEGIES {
        print!(" {:>12}", s.name);
    }
    println!();
    for (class, (pillow, ours)) in &classes {
        print!("{class:10}");
        for o in ours {
            print!(" {:>12.3}", *o as f64 / *pillow as f64);
        }
        println!();
    }
    println!("median over renditions of the fastest of {REPEAT} encodes, microseconds, by size:");
    for (size, per) in &mut times {
        print!("{size:>10}");
        for t in per.iter_mut() {
            t.sort_by(f64::total_cmp);
            print!(" {:>12.0}", t[t.len() / 2]);
        }
        println!();
    }
}
