//! Criterion benches: one group per pipeline stage, one end to end, and batch throughput
//! with 1 and 2 threads. Inputs: the real photos in `../shared/bench/corpus/` (skipped with a
//! notice when absent), their progressive twins in `target/progressive-twins/` when
//! `benches/progressive_twins.sh` has made them, and the small fixtures in `testdata/inputs/`.
//!
//! `cargo bench` runs them all; `cargo bench -- process` one group. Every set is made with
//! `upscale` on, so all seven sizes are made, as the peers in `../shared/bench/` do.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use setphoto::{Policy, SetPhotoRequest, decode, encode, geometry, resize, square, validate};

/// (name, bytes) of every bench input.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let shared = root.join("../shared/bench/corpus");
    let names = [
        "sq_1080.jpg",
        "photo_12mp.jpg",
        "wide_600x400.jpg",
        "alpha_800x600.png",
        "anim_512.gif",
    ];
    if shared.is_dir() {
        for name in names {
            if let Ok(bytes) = std::fs::read(shared.join(name)) {
                out.push((name.to_owned(), bytes));
            }
        }
    } else {
        eprintln!("notice: ../shared/bench/corpus is absent; benching the small fixtures only");
    }
    let twins = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), Into::into)
        .join("progressive-twins");
    let mut names: Vec<_> = std::fs::read_dir(&twins)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        eprintln!("notice: no progressive twins; make them with benches/progressive_twins.sh");
    }
    for name in names {
        if let Ok(bytes) = std::fs::read(twins.join(&name)) {
            out.push((format!("twins/{}", name.to_string_lossy()), bytes));
        }
    }
    for name in ["sample.jpg", "alpha_60x40.png", "transparent.gif"] {
        let bytes = std::fs::read(root.join("testdata/inputs").join(name)).expect("fixture");
        out.push((format!("testdata/{name}"), bytes));
    }
    out
}

fn policy() -> Policy {
    Policy::default().with_upscale(true)
}

fn stages(c: &mut Criterion) {
    let policy = policy();
    for (name, bytes) in inputs() {
        let large = bytes.len() > 200_000;
        let validated = validate::inspect(&bytes, &policy).expect("valid input");
        let (w, h) = validated.oriented_size();
        let pixels = u64::from(w) * u64::from(h);
        let plan = geometry::plan((w, h), None, &policy).expect("plan");
        // As the pipeline decodes: a large JPEG reduced in the DCT domain.
        let reduction = plan.dct_reduction();
        let oriented =
            decode::decode_reduced(&bytes, &validated, &policy, reduction).expect("decodes");
        let output = encode::output_format(
            validated.format(),
            oriented.pixels().has_transparency(),
            policy.png_renditions,
        );
        let sq = square::apply(oriented.clone(), plan.square, encode::bars(output, &policy));
        let resized = resize::Renderer::new()
            .render(&sq, &plan.sizes)
            .expect("resizes");

        let mut g = c.benchmark_group("validate");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| validate::inspect(black_box(&bytes), &policy))
        });
        g.finish();

        let mut g = c.benchmark_group("decode");
        if large {
            g.sample_size(10);
        }
        g.throughput(Throughput::Elements(pixels));
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| decode::decode_reduced(black_box(&bytes), &validated, &policy, reduction))
        });
        if reduction > 1 {
            // The full-size decode it replaces, for the comparison.
            g.bench_function(BenchmarkId::new("full", &name), |b| {
                b.iter(|| decode::decode(black_box(&bytes), &validated, &policy))
            });
        }
        g.finish();

        let mut g = c.benchmark_group("resize");
        if large {
            g.sample_size(10);
        }
        g.throughput(Throughput::Elements(pixels));
        let mut renderer = resize::Renderer::new();
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| renderer.render(black_box(&sq), &plan.sizes))
        });
        g.finish();

        let mut g = c.benchmark_group("encode");
        let out_pixels: u64 = resized
            .iter()
            .map(|r| u64::from(r.size) * u64::from(r.size))
            .sum();
        g.throughput(Throughput::Elements(out_pixels));
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| {
                resized
                    .iter()
                    .map(|r| encode::encode(&r.pixels, output, &policy).map(|v| v.len()))
                    .collect::<Result<Vec<_>, _>>()
            })
        });
        g.finish();

        let mut g = c.benchmark_group("process");
        if large {
            g.sample_size(10);
        }
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let request = SetPhotoRequest::new(bytes.clone());
        g.bench_function(BenchmarkId::from_parameter(&name), |b| {
            b.iter(|| setphoto::process(black_box(&request), &policy))
        });
        g.finish();
    }
}

/// Images per second over the bench inputs on a pool of 1 and 2 threads.
fn batch(c: &mut Criterion) {
    let policy = policy();
    // Four rounds over every input, interleaved (a, b, c, .., a, b, c, ..) as a real
    // collection mixes sizes: rayon halves the list, and four copies of the 12 MP photo
    // side by side would leave one thread alone with them at the end, measuring that
    // tail rather than throughput.
    let inputs = inputs();
    let requests: Vec<SetPhotoRequest> = (0..4)
        .flat_map(|_| inputs.iter())
        .map(|(_, bytes)| SetPhotoRequest::new(bytes.clone()))
        .collect();
    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(requests.len() as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        g.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter(|| {
                use rayon::prelude::*;
                pool.install(|| {
                    requests
                        .par_iter()
                        .map(|r| setphoto::process(r, &policy).map(|s| s.renditions().len()))
                        .collect::<Vec<_>>()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, stages, batch);
criterion_main!(benches);
