//! The batch driver against a naive mosaic: layouts, edge modes, outputs,
//! given and seeded noise, thread-independent streams.

use ndarray::{s, Array4, ShapeBuilder};

use super::*;

fn naive_mosaic(img: &Array4<u8>, bh: usize, bw: usize, edges: Edges) -> Array4<u8> {
    let (n, h, w, c) = img.dim();
    let geo = Geometry::new(h, w, bh, bw, edges).unwrap();
    let (oh, ow) = geo.out_shape(Output::Full);
    let mut out = Array4::<u8>::zeros((n, oh, ow, c));
    for k in 0..n {
        for y in 0..oh {
            for x in 0..ow {
                let (i, j) = (y / bh, x / bw);
                for ch in 0..c {
                    let mut s = 0i64;
                    for yy in geo.row_span(i) {
                        for xx in geo.col_span(j) {
                            s += img[[k, yy, xx, ch]] as i64;
                        }
                    }
                    out[[k, y, x, ch]] = cell_value(s, geo.count(i, j));
                }
            }
        }
    }
    out
}

fn test_image(n: usize, h: usize, w: usize, c: usize) -> Array4<u8> {
    Array4::from_shape_fn((n, h, w, c), |(k, y, x, ch)| {
        ((k * 131 + y * 31 + x * 17 + ch * 7 + y * x) % 256) as u8
    })
}

#[test]
fn a_streamed_full_output_equals_the_grid() {
    // A large full output (streamed) equals the naive mosaic.
    let img = test_image(1, 1400, 4001, 3);
    let got = pixelate(
        img.view(),
        16,
        16,
        Edges::Partial,
        Output::Full,
        &Noise::None,
        &Streams::none(),
    )
    .unwrap();
    assert!(got.len() >= STREAM_MIN_OUTPUT);
    let grid = pixelate(
        img.view(),
        16,
        16,
        Edges::Partial,
        Output::Grid,
        &Noise::None,
        &Streams::none(),
    )
    .unwrap();
    for y in (0..1400).step_by(37) {
        for x in (0..4001).step_by(41) {
            assert_eq!(
                got.slice(s![0, y, x, ..]),
                grid.slice(s![0, y / 16, x / 16, ..])
            );
        }
    }
}

#[test]
fn long_cells_flush_the_column_sums() {
    // 600 rows in one cell: more than one flush of the u16 sums.
    let img = Array4::<u8>::from_elem((1, 600, 5, 2), 255);
    let got = pixelate(
        img.view(),
        600,
        2,
        Edges::Partial,
        Output::Grid,
        &Noise::None,
        &Streams::none(),
    )
    .unwrap();
    assert!(got.iter().all(|&v| v == 255));
    let img = test_image(1, 600, 7, 3);
    let want = naive_mosaic(&img, 599, 3, Edges::Partial);
    let got = pixelate(
        img.view(),
        599,
        3,
        Edges::Partial,
        Output::Full,
        &Noise::None,
        &Streams::none(),
    )
    .unwrap();
    assert_eq!(got, want);
}

#[test]
fn mosaic_matches_naive_for_layouts() {
    for &(n, h, w, c, bh, bw) in &[
        (1, 1, 1, 1, 1, 1),
        (2, 7, 5, 1, 3, 2),
        (1, 13, 11, 3, 4, 4),
        (3, 5, 5, 4, 8, 8),
        (1, 17, 19, 2, 5, 3),
    ] {
        let img = test_image(n, h, w, c);
        // C order, Fortran order and a strided slice of a larger array.
        let mut f = Array4::<u8>::zeros((n, h, w, c).f());
        f.assign(&img);
        let big = test_image(n, 2 * h, 2 * w, c);
        let strided = big.slice(s![.., ..;2, ..;2, ..]);
        for edges in [Edges::Partial, Edges::Pad, Edges::Crop] {
            if Geometry::new(h, w, bh, bw, edges).is_err() {
                continue;
            }
            let want = naive_mosaic(&img, bh, bw, edges);
            for view in [img.view(), f.view()] {
                let got = pixelate(
                    view,
                    bh,
                    bw,
                    edges,
                    Output::Full,
                    &Noise::None,
                    &Streams::none(),
                )
                .unwrap();
                assert_eq!(got, want, "{:?} {edges:?}", (n, h, w, c, bh, bw));
            }
            let got = pixelate(
                strided,
                bh,
                bw,
                edges,
                Output::Full,
                &Noise::None,
                &Streams::none(),
            )
            .unwrap();
            assert_eq!(got, naive_mosaic(&strided.to_owned(), bh, bw, edges));
            // The grid is the full output sampled at each cell's first pixel.
            let grid = pixelate(
                img.view(),
                bh,
                bw,
                edges,
                Output::Grid,
                &Noise::None,
                &Streams::none(),
            )
            .unwrap();
            let sampled = want.slice(s![.., ..;bh, ..;bw, ..]);
            assert_eq!(grid, sampled);
        }
    }
}

#[test]
fn given_noise_lands_on_the_sums() {
    let img = Array4::<u8>::from_elem((1, 4, 4, 1), 100);
    let mut z = Array4::<i64>::zeros((1, 2, 2, 1));
    z[[0, 0, 1, 0]] = 2; // (400 + 2)/4 = 100.5 → 100 (even)
    z[[0, 1, 0, 0]] = 6; // 406/4 = 101.5 → 102
    z[[0, 1, 1, 0]] = -1000;
    let out = pixelate(
        img.view(),
        2,
        2,
        Edges::Partial,
        Output::Grid,
        &Noise::Given(z.view()),
        &Streams::none(),
    )
    .unwrap();
    assert_eq!(out.as_slice().unwrap(), &[100, 100, 102, 0]);
    let bad = Array4::<i64>::zeros((1, 3, 2, 1));
    assert!(pixelate(
        img.view(),
        2,
        2,
        Edges::Partial,
        Output::Grid,
        &Noise::Given(bad.view()),
        &Streams::none()
    )
    .is_err());
}

#[test]
fn seeded_noise_is_reproducible_and_split_independent() {
    let img = test_image(3, 20, 30, 3);
    let noise = Noise::Laplace {
        scale: Ratio { num: 100, den: 1 },
    };
    let (k7, k8) = ([7u8; 32], [8u8; 32]);
    let run = |view, streams: &Streams| {
        pixelate(view, 4, 4, Edges::Partial, Output::Grid, &noise, streams)
    };
    let all = run(img.view(), &Streams::one(&k7, 0)).unwrap();
    // Image 2 alone, with offset 2, gets the same bytes as inside the batch.
    let one = run(img.slice(s![2..3, .., .., ..]), &Streams::one(&k7, 2)).unwrap();
    assert_eq!(all.slice(s![2..3, .., .., ..]), one);
    assert_eq!(all, run(img.view(), &Streams::one(&k7, 0)).unwrap());
    assert_ne!(all, run(img.view(), &Streams::one(&k8, 0)).unwrap());
    // The last stream index is 2^64 - 1: one image there, not two.
    let last = img.slice(s![..1, .., .., ..]);
    assert!(run(last, &Streams::one(&k7, u64::MAX)).is_ok());
    let two = img.slice(s![..2, .., .., ..]);
    assert!(run(two, &Streams::one(&k7, u64::MAX)).is_err());
}

#[test]
fn one_key_per_image() {
    // Image k under keys[k] at index offset + k: the same bytes as that image
    // alone under its key, whatever the other images' keys.
    let img = test_image(3, 20, 30, 3);
    let noise = Noise::Gaussian {
        sigma2: Ratio { num: 900, den: 1 },
    };
    let keys = [[1u8; 32], [2u8; 32], [3u8; 32]];
    let run = |view, streams: &Streams| {
        pixelate(view, 4, 4, Edges::Partial, Output::Full, &noise, streams).unwrap()
    };
    let all = run(
        img.view(),
        &Streams {
            keys: &keys,
            offset: 5,
        },
    );
    for (k, key) in keys.iter().enumerate() {
        let alone = run(
            img.slice(s![k..k + 1, .., .., ..]),
            &Streams::one(key, 5 + k as u64),
        );
        assert_eq!(all.slice(s![k..k + 1, .., .., ..]), alone);
    }
    let other = [[1u8; 32], [9u8; 32], [3u8; 32]];
    let changed = run(
        img.view(),
        &Streams {
            keys: &other,
            offset: 5,
        },
    );
    assert_eq!(
        all.slice(s![0, .., .., ..]),
        changed.slice(s![0, .., .., ..])
    );
    assert_ne!(
        all.slice(s![1, .., .., ..]),
        changed.slice(s![1, .., .., ..])
    );
    // Two keys for three images, or none, is refused.
    let wrong = Streams {
        keys: &keys[..2],
        offset: 0,
    };
    assert!(pixelate(
        img.view(),
        4,
        4,
        Edges::Partial,
        Output::Grid,
        &noise,
        &wrong
    )
    .is_err());
    let empty = Streams::none();
    assert!(pixelate(
        img.view(),
        4,
        4,
        Edges::Partial,
        Output::Grid,
        &noise,
        &empty
    )
    .is_err());
}

#[test]
fn the_core_refuses_what_it_cannot_compute() {
    // Blocks past 2^48 pixels a cell, or a float scale that is not a number:
    // a clear error, never a panic or a wrapped value.
    let img = test_image(1, 3, 5, 1);
    let none = Streams::none();
    for (bh, bw) in [(1 << 30, 1 << 30), (usize::MAX, 1), (1, usize::MAX)] {
        assert!(pixelate(
            img.view(),
            bh,
            bw,
            Edges::Pad,
            Output::Grid,
            &Noise::None,
            &none
        )
        .is_err());
    }
    let ok = pixelate(
        img.view(),
        1 << 24,
        1 << 24,
        Edges::Pad,
        Output::Grid,
        &Noise::None,
        &none,
    );
    assert_eq!(ok.unwrap().as_slice().unwrap(), &[0]); // 15 pixels over 2^48: 0, not 255
    let key = [1u8; 32];
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        for noise in [
            Noise::FloatGaussian { sigma: bad },
            Noise::FloatLaplace { scale: bad },
        ] {
            let got = pixelate(
                img.view(),
                2,
                2,
                Edges::Partial,
                Output::Grid,
                &noise,
                &Streams::one(&key, 0),
            );
            assert!(got.is_err());
        }
    }
}

#[test]
fn full_output_repeats_the_grid() {
    let img = test_image(2, 11, 9, 3);
    let noise = Noise::Gaussian {
        sigma2: Ratio { num: 400, den: 1 },
    };
    let key = [1u8; 32];
    let streams = Streams::one(&key, 0);
    for edges in [Edges::Partial, Edges::Pad, Edges::Crop] {
        let grid = pixelate(img.view(), 3, 4, edges, Output::Grid, &noise, &streams).unwrap();
        let full = pixelate(img.view(), 3, 4, edges, Output::Full, &noise, &streams).unwrap();
        let (_, oh, ow, _) = full.dim();
        for y in 0..oh {
            for x in 0..ow {
                assert_eq!(
                    full.slice(s![.., y, x, ..]),
                    grid.slice(s![.., y / 3, x / 4, ..])
                );
            }
        }
    }
}
