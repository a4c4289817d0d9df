//! Seeded outputs pinned by digest: moving code must not change a byte.
//!
//! Each group hashes (FNV-1a 64) the seeded outputs of one kind of noise of
//! `grid::pixelate` over a grid of shapes, blocks, edge modes, output forms and
//! image offsets, or the first samples of the samplers on
//! `row_stream(key, 0, 0)`. A changed digest means the noise streams, the
//! samplers, the sums, the post-processing or the writers changed: acceptable
//! only in a commit that says why and updates the pin, never as a side effect.
//! `tests/test_digests.py` pins the same through Python.

use ndarray::{Array4, ShapeBuilder};

use crate::grid::{self, Edges, Noise, Output, Streams};
use crate::samplers::{self as noise, Key, Ratio};

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// (N, H, W, C): grey, RGB, 4 channels, odd and prime sizes.
const SHAPES: [(usize, usize, usize, usize); 5] = [
    (2, 13, 17, 1),
    (1, 16, 16, 3),
    (2, 31, 29, 4),
    (1, 64, 48, 1),
    (3, 7, 5, 2),
];
const BLOCKS: [(usize, usize); 4] = [(1, 1), (3, 3), (4, 6), (16, 16)];
const EDGES: [Edges; 3] = [Edges::Partial, Edges::Pad, Edges::Crop];
const OUTPUTS: [Output; 2] = [Output::Full, Output::Grid];
const OFFSETS: [u64; 2] = [0, 5];

/// Pixels from a xorshift generator of their own (no dependency on `rand`).
fn image(shape: (usize, usize, usize, usize), seed: u64) -> Array4<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array4::from_shape_fn(shape, |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 56) as u8
    })
}

fn key(tag: u8) -> Key {
    core::array::from_fn(|i| tag.wrapping_mul(31).wrapping_add(i as u8))
}

fn crop_leaves_nothing(shape: (usize, usize, usize, usize), block: (usize, usize)) -> bool {
    shape.1 < block.0 || shape.2 < block.1
}

/// The digest of one group: `noise_for(case, image)` gives the noise of each
/// case, drawn under `key(tag)`; every case runs at every offset in `offsets`,
/// on a C-order and a Fortran-order copy of its images (which must agree).
fn digest<'a>(
    offsets: &[u64],
    tag: u8,
    noise_for: impl Fn(&Array4<u8>, (usize, usize), Edges) -> Noise<'a>,
) -> u64 {
    let key = key(tag);
    let mut h = Fnv::new();
    for (si, &shape) in SHAPES.iter().enumerate() {
        let x = image(shape, si as u64 + 1);
        let mut f = Array4::<u8>::zeros(shape.f());
        f.assign(&x);
        for block in BLOCKS {
            for edges in EDGES {
                if edges == Edges::Crop && crop_leaves_nothing(shape, block) {
                    continue;
                }
                let noise = noise_for(&x, block, edges);
                for output in OUTPUTS {
                    for &offset in offsets {
                        let run = |v| {
                            let streams = Streams::one(&key, offset);
                            grid::pixelate(v, block.0, block.1, edges, output, &noise, &streams)
                                .expect("a valid case")
                        };
                        let out = run(x.view());
                        assert_eq!(out, run(f.view()), "layouts disagree");
                        let case = format!("{shape:?} {block:?} {edges:?} {output:?} {offset}");
                        h.bytes(case.as_bytes());
                        for &d in out.shape() {
                            h.u64(d as u64);
                        }
                        h.bytes(out.as_slice().expect("C-contiguous output"));
                    }
                }
            }
        }
    }
    h.0
}

fn grid_dims(x: &Array4<u8>, block: (usize, usize), edges: Edges) -> (usize, usize, usize, usize) {
    let (n, h, w, c) = x.dim();
    match edges {
        Edges::Crop => (n, h / block.0, w / block.1, c),
        _ => (n, h.div_ceil(block.0), w.div_ceil(block.1), c),
    }
}

const PINNED_MOSAIC: u64 = 0x70be_0654_74e3_bbd6;
const PINNED_GIVEN: u64 = 0x87a6_7492_6250_b18a;
const PINNED_LAPLACE: u64 = 0xd5a0_d718_1aff_7477;
const PINNED_GAUSSIAN: u64 = 0x22c0_5fb2_f8ef_5e46;
const PINNED_FLOAT_GAUSSIAN: u64 = 0xc5b6_b341_ed5a_8b9f;
const PINNED_FLOAT_LAPLACE: u64 = 0xcdbe_edff_8b0e_d0a1;
const PINNED_SAMPLERS: u64 = 0x7acf_df0e_ba77_ef24;
const PINNED_LARGE: u64 = 0x3a7e_36c2_cd1d_d9a8;

#[test]
fn mosaic_unchanged() {
    assert_eq!(digest(&[0], 0, |_, _, _| Noise::None), PINNED_MOSAIC);
}

#[test]
fn given_noise_unchanged() {
    // Given noise is shaped per case; it lives as long as the digest needs it.
    let zs: Vec<Array4<i64>> = SHAPES
        .iter()
        .flat_map(|&shape| {
            BLOCKS.iter().flat_map(move |&block| {
                EDGES.iter().map(move |&edges| {
                    let x = Array4::<u8>::zeros(shape);
                    let dims = grid_dims(&x, block, edges);
                    let scale = (255 * block.0 * block.1) as i64;
                    let mut k = 0i64;
                    Array4::from_shape_fn(dims, |_| {
                        k += 1;
                        (k * 7919) % (4 * scale + 1) - 2 * scale
                    })
                })
            })
        })
        .collect();
    let index = |x: &Array4<u8>, block: (usize, usize), edges: Edges| {
        let si = SHAPES.iter().position(|&s| s == x.dim()).expect("a shape");
        let bi = BLOCKS.iter().position(|&b| b == block).expect("a block");
        let ei = EDGES
            .iter()
            .position(|&e| e == edges)
            .expect("an edge mode");
        (si * BLOCKS.len() + bi) * EDGES.len() + ei
    };
    let got = digest(&[0], 0, |x, block, edges| {
        Noise::Given(zs[index(x, block, edges)].view())
    });
    assert_eq!(got, PINNED_GIVEN);
}

#[test]
fn laplace_unchanged() {
    let got = digest(&OFFSETS, 1, |_, block, _| Noise::Laplace {
        scale: Ratio {
            num: 255 * (block.0 * block.1) as u64 * 3,
            den: 2,
        },
    });
    assert_eq!(got, PINNED_LAPLACE);
}

#[test]
fn gaussian_unchanged() {
    let got = digest(&OFFSETS, 2, |_, block, _| Noise::Gaussian {
        sigma2: Ratio {
            num: 9000 * (block.0 * block.1) as u64,
            den: 7,
        },
    });
    assert_eq!(got, PINNED_GAUSSIAN);
}

#[test]
fn float_gaussian_unchanged() {
    let got = digest(&OFFSETS, 3, |_, _, _| Noise::FloatGaussian { sigma: 5.0 });
    assert_eq!(got, PINNED_FLOAT_GAUSSIAN);
}

#[test]
fn float_laplace_unchanged() {
    let got = digest(&OFFSETS, 4, |_, _, _| Noise::FloatLaplace { scale: 3.5 });
    assert_eq!(got, PINNED_FLOAT_LAPLACE);
}

#[test]
fn large_inputs_unchanged() {
    // Inputs large enough for the thread pool (one task per image, and one
    // per cell row), and an output large enough for the streaming stores.
    let mut h = Fnv::new();
    let cases = [
        ((40, 64, 112, 1), (4, 6), Output::Full),
        ((40, 64, 112, 1), (16, 16), Output::Grid),
        ((1, 600, 500, 3), (3, 3), Output::Full),
        ((1, 600, 500, 3), (16, 16), Output::Grid),
        ((1, 2200, 2600, 3), (16, 16), Output::Full),
    ];
    for (i, (shape, block, output)) in cases.into_iter().enumerate() {
        let x = image(shape, 100 + i as u64);
        let laplace = Noise::Laplace {
            scale: Ratio {
                num: 255 * 16 * 3,
                den: 1,
            },
        };
        let key = key(6);
        for (label, noise) in [("mosaic", Noise::None), ("laplace", laplace)] {
            let out = grid::pixelate(
                x.view(),
                block.0,
                block.1,
                Edges::Partial,
                output,
                &noise,
                &Streams::one(&key, 3),
            )
            .expect("a valid case");
            h.bytes(format!("{shape:?} {block:?} {output:?} {label}").as_bytes());
            h.bytes(out.as_slice().expect("C-contiguous output"));
        }
    }
    assert_eq!(h.0, PINNED_LARGE);
}

#[test]
fn samplers_unchanged() {
    let k = key(5);
    let mut h = Fnv::new();
    let laplace = [
        (Ratio { num: 1, den: 2 }, 2000),
        (Ratio { num: 3, den: 2 }, 2000),
        (Ratio { num: 8160, den: 1 }, 2000),
        (Ratio { num: 8160, den: 7 }, 2000),
        (
            Ratio {
                num: 233_646_220_902_401,
                den: 1 << 34,
            },
            2000,
        ),
        // The exact slow paths: a huge scale, a vanishing one.
        (
            Ratio {
                num: 1 << 52,
                den: 3,
            },
            300,
        ),
        (
            Ratio {
                num: 1,
                den: 1 << 20,
            },
            2000,
        ),
    ];
    for (scale, n) in laplace {
        let mut rng = noise::row_stream(&k, 0, 0);
        h.bytes(format!("laplace {scale:?}").as_bytes());
        for _ in 0..n {
            h.i64(noise::discrete_laplace(&mut rng, scale));
        }
    }
    let gaussian = [
        (Ratio { num: 16, den: 25 }, 2000),
        (Ratio { num: 9, den: 1 }, 2000),
        (
            Ratio {
                num: 40_000,
                den: 1,
            },
            2000,
        ),
        (
            Ratio {
                num: 123_456_789,
                den: 1000,
            },
            2000,
        ),
        // Every acceptance exponent through BigUint.
        (
            Ratio {
                num: (9 << 60) + 1,
                den: 1 << 60,
            },
            200,
        ),
    ];
    for (sigma2, n) in gaussian {
        let mut rng = noise::row_stream(&k, 0, 0);
        h.bytes(format!("gaussian {sigma2:?}").as_bytes());
        for _ in 0..n {
            h.i64(noise::discrete_gaussian(&mut rng, sigma2));
        }
    }
    for gamma in [
        Ratio { num: 0, den: 1 },
        Ratio { num: 1, den: 3 },
        Ratio { num: 1, den: 1 },
        Ratio { num: 5, den: 2 },
        Ratio {
            num: u64::MAX,
            den: u64::MAX - 1,
        },
    ] {
        let mut rng = noise::row_stream(&k, 0, 0);
        h.bytes(format!("bernoulli_exp {gamma:?}").as_bytes());
        for _ in 0..2000 {
            h.u64(u64::from(noise::bernoulli_exp(&mut rng, gamma)));
        }
    }
    assert_eq!(h.0, PINNED_SAMPLERS);
}

#[test]
fn digest_sees_one_changed_byte() {
    // The pin can fail: one different input byte changes the digest.
    let x = image((1, 16, 16, 3), 1);
    let mut y = x.clone();
    y[[0, 0, 0, 0]] ^= 1;
    let hash = |a: &Array4<u8>| {
        let out = grid::pixelate(
            a.view(),
            1,
            1,
            Edges::Partial,
            Output::Grid,
            &Noise::None,
            &Streams::none(),
        )
        .expect("a valid case");
        let mut h = Fnv::new();
        h.bytes(out.as_slice().expect("C-contiguous output"));
        h.0
    };
    assert_ne!(hash(&x), hash(&y));
}
