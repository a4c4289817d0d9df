//! Criterion benchmarks of the Rust kernels: cell sums, writers, samplers, and
//! the whole pixelate on the shapes of benches/run.py (at the top of the
//! repository).
//!
//! ```text
//! cargo bench -p dp-pix-core --bench kernels            # all
//! cargo bench -p dp-pix-core --bench kernels -- laplace # a group
//! ```

use std::hint::black_box;
use std::mem::MaybeUninit;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ndarray::{s, Array3, Array4, Axis};
use rand::SeedableRng;

use dp_pix_core::grid::{self, Edges, Geometry, Noise, Output, RowLayout, Scratch, Streams};
use dp_pix_core::samplers::{self, Ratio, StreamRng};

/// (name, H, W, C, block): the cases of benches/run.py.
const SHAPES: [(&str, usize, usize, usize, usize); 3] = [
    ("a grey 112x92 b8", 112, 92, 1, 8),
    ("b rgb 84x84 b4", 84, 84, 3, 4),
    ("c rgb 3840x2160 b16", 2160, 3840, 3, 16),
];

fn image(h: usize, w: usize, c: usize) -> Array3<u8> {
    Array3::from_shape_fn((h, w, c), |(y, x, ch)| {
        ((y * 31 + x * 17 + ch * 7 + y * x) % 256) as u8
    })
}

fn sums(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("sums");
    for (name, h, w, c, b) in SHAPES {
        let img = image(h, w, c);
        let geo = Geometry::new(h, w, b, b, Edges::Partial).unwrap();
        let layout = RowLayout::new(&geo, c);
        let mut scratch = Scratch::default();
        let mut out = vec![0u64; geo.cols() * c];
        g.throughput(Throughput::Bytes((geo.row_span(0).len() * w * c) as u64));
        g.bench_function(format!("cell row, {name}"), |bch| {
            bch.iter(|| {
                grid::cell_row_sums(
                    img.view(),
                    &geo,
                    &layout,
                    black_box(0),
                    &mut scratch,
                    &mut out,
                )
            })
        });
        // Any strides: a view with every other column.
        let wide = image(h, 2 * w, c);
        let strided = wide.slice(s![.., ..;2, ..]);
        g.bench_function(format!("cell row, strided, {name}"), |bch| {
            bch.iter(|| {
                grid::cell_row_sums(strided, &geo, &layout, black_box(0), &mut scratch, &mut out)
            })
        });
    }
    g.finish();
}

fn writers(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("writers");
    for (name, h, w, c, b) in SHAPES {
        let geo = Geometry::new(h, w, b, b, Edges::Partial).unwrap();
        let values: Vec<u8> = (0..geo.cols() * c).map(|k| k as u8).collect();
        let layout = RowLayout::new(&geo, c);
        let mut line = Vec::new();
        for output in [Output::Full, Output::Grid] {
            let rows = if output == Output::Full { b } else { 1 };
            let len = rows * geo.out_shape(output).1 * c;
            let mut out = vec![MaybeUninit::<u8>::uninit(); len];
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_function(format!("{output:?}, {name}"), |bch| {
                bch.iter(|| {
                    grid::write_cell_row(
                        black_box(&values),
                        &geo,
                        &layout,
                        c,
                        output,
                        false,
                        &mut line,
                        &mut out,
                    )
                })
            });
        }
    }
    g.finish();
}

fn samplers(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("samplers");
    g.throughput(Throughput::Elements(1));
    let laplace_scales = [
        ("8160", Ratio { num: 8160, den: 1 }),
        ("24480", Ratio { num: 24480, den: 1 }),
        (
            "13600 as 2^48-ish/2^34",
            Ratio {
                num: 233_646_220_902_401,
                den: 1 << 34,
            },
        ),
        ("8160/7", Ratio { num: 8160, den: 7 }),
        ("1/2", Ratio { num: 1, den: 2 }),
    ];
    for (label, scale) in laplace_scales {
        let mut rng = StreamRng::seed_from_u64(1);
        let laplace = samplers::Laplace::new(scale);
        g.bench_function(format!("laplace {label}"), |b| {
            b.iter(|| laplace.sample(&mut rng))
        });
        let mut rng = StreamRng::seed_from_u64(1);
        g.bench_function(format!("laplace CKS Alg. 2 {label}"), |b| {
            b.iter(|| samplers::discrete_laplace_cks(&mut rng, black_box(scale)))
        });
    }
    for (label, sigma2) in [
        ("sigma 3", Ratio { num: 9, den: 1 }),
        (
            "sigma 200",
            Ratio {
                num: 40_000,
                den: 1,
            },
        ),
    ] {
        let mut rng = StreamRng::seed_from_u64(2);
        g.bench_function(format!("gaussian {label}"), |b| {
            b.iter(|| samplers::discrete_gaussian(&mut rng, black_box(sigma2)))
        });
    }
    let mut rng = StreamRng::seed_from_u64(3);
    g.bench_function("bernoulli_exp 5/2", |b| {
        b.iter(|| samplers::bernoulli_exp(&mut rng, black_box(Ratio { num: 5, den: 2 })))
    });
    let mut rng = StreamRng::seed_from_u64(4);
    g.bench_function("uniform_below 8160", |b| {
        b.iter(|| samplers::uniform_below(&mut rng, black_box(8160)))
    });
    let key = [9u8; 32];
    let mut row = 0u64;
    g.bench_function("row_stream", |b| {
        b.iter(|| {
            row += 1;
            samplers::row_stream(&key, 1, row)
        })
    });
    let mut keys = Vec::new();
    g.throughput(Throughput::Elements(14));
    g.bench_function("row_keys, 14 rows", |b| {
        b.iter(|| samplers::row_keys(&key, black_box(1), 14, &mut keys))
    });
    g.finish();
}

fn pixelate(cr: &mut Criterion) {
    let mut g = cr.benchmark_group("pixelate");
    g.sample_size(20);
    for (name, h, w, c, b) in SHAPES {
        let n = if h * w > 1 << 20 { 1 } else { 100 };
        let one = image(h, w, c);
        let batch = Array4::from_shape_fn((n, h, w, c), |(k, y, x, ch)| {
            one[[y, x, ch]].wrapping_add(k as u8)
        });
        g.throughput(Throughput::Elements((n * h * w) as u64));
        let laplace = Noise::Laplace {
            scale: Ratio {
                num: 8160 * c as u64,
                den: 1,
            },
        };
        let key = [5u8; 32];
        for (label, noise) in [("mosaic", Noise::None), ("DP laplace", laplace)] {
            for output in [Output::Full, Output::Grid] {
                g.bench_function(format!("{label} {output:?}, {n} x {name}"), |bch| {
                    bch.iter_batched(
                        || (),
                        |()| {
                            let streams = Streams::one(&key, 0);
                            grid::pixelate(
                                batch.view(),
                                b,
                                b,
                                Edges::Partial,
                                output,
                                &noise,
                                &streams,
                            )
                            .unwrap()
                        },
                        BatchSize::SmallInput,
                    )
                });
            }
        }
        let _ = batch.index_axis(Axis(0), 0);
    }
    g.finish();
}

criterion_group!(benches, sums, writers, samplers, pixelate);
criterion_main!(benches);
