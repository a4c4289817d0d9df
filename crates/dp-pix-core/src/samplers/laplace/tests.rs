//! The discrete Laplace samplers: the law at many scales, each test with a
//! power check; every fast path against its exact slow path; the tables.

use num_bigint::BigUint;

use super::slow::trunc_geometric_cdf_bounds;
use super::*;
use crate::samplers::bernoulli::coin;
use crate::samplers::bernoulli_exp::{bernoulli_exp_fraction, bernoulli_exp_one};
use crate::samplers::lazy::exp_neg_bounds;
use crate::samplers::stats::{assert_fits_with_power, fits_and_not, scaled, seeded, Model, ALPHA};
use crate::samplers::uniform::uniform_below;
use tables::{EXP_NEG_WHOLE_TOP, TRUNC_GEOM_GUIDE};

#[test]
fn laplace_saturates_at_i64_max() {
    assert_eq!(signed_saturating(false, u128::MAX), i64::MAX);
    assert_eq!(signed_saturating(true, u128::MAX), -i64::MAX);
    assert_eq!(signed_saturating(true, 5), -5);
    assert_eq!(signed_saturating(false, 0), 0);
    // Scale 2^64 - 1: |Z| > 2^63 with probability ≈ e^-0.5, so both
    // saturated values show up, and nothing panics.
    let mut rng = seeded(7);
    let zs: Vec<i64> = (0..400)
        .map(|_| {
            discrete_laplace(
                &mut rng,
                Ratio {
                    num: u64::MAX,
                    den: 1,
                },
            )
        })
        .collect();
    assert!(zs.contains(&i64::MAX));
    assert!(zs.contains(&-i64::MAX));
    assert!(!zs.contains(&i64::MIN));
}

const N_LAPLACE: usize = 20_000;

fn laplace_fits(scale: Ratio, seed: u64) {
    let model = Model::laplace(scale, 50);
    assert_fits_with_power(
        &format!("discrete_laplace({scale:?})"),
        &model,
        N_LAPLACE,
        seed,
        scale,
        [scaled(scale, 11, 10), scaled(scale, 9, 10)],
        discrete_laplace,
    );
}

#[test]
fn discrete_laplace_fits_scale_0_5() {
    laplace_fits(Ratio { num: 1, den: 2 }, 40);
}

#[test]
fn discrete_laplace_fits_scale_1_5() {
    laplace_fits(Ratio { num: 3, den: 2 }, 41);
}

#[test]
fn discrete_laplace_fits_scale_40() {
    laplace_fits(Ratio { num: 40, den: 1 }, 42);
}

#[test]
fn discrete_laplace_fits_scale_8160() {
    laplace_fits(Ratio { num: 8160, den: 1 }, 43);
}

#[test]
fn discrete_laplace_fits_scale_8160_over_7() {
    laplace_fits(Ratio { num: 8160, den: 7 }, 44);
}

#[test]
fn discrete_laplace_fits_a_2_to_the_40_denominator() {
    // As calibration produces them: den a power of two, num up to 2^48.
    laplace_fits(
        Ratio {
            num: (31 << 40) + 12345,
            den: 1 << 40,
        },
        45,
    );
}

/// CKS Alg. 2 without the rejection of (B = 1, Y = 0): 0 comes out twice as often.
fn laplace_without_negative_zero_rejection(rng: &mut StreamRng, scale: Ratio) -> i64 {
    loop {
        let u = uniform_below(rng, scale.num);
        if !bernoulli_exp_fraction(rng, u128::from(u), u128::from(scale.num)) {
            continue;
        }
        let mut v: u64 = 0;
        while bernoulli_exp_one(rng) {
            v += 1;
        }
        let y = ((u + scale.num * v) / scale.den) as i64;
        return if coin(rng) { -y } else { y };
    }
}

#[test]
fn laplace_without_negative_zero_rejection_is_caught() {
    let scale = Ratio { num: 3, den: 2 };
    let model = Model::laplace(scale, 50);
    let mut rng = seeded(46);
    let (g, df, p) = model.p_value(N_LAPLACE, || {
        laplace_without_negative_zero_rejection(&mut rng, scale)
    });
    assert!(p < ALPHA, "not caught: G = {g:.1}, df = {df}, p = {p:e}");
}

#[test]
fn discrete_laplace_fits_scale_24480() {
    laplace_fits(Ratio { num: 24480, den: 1 }, 47);
}

#[test]
fn discrete_laplace_fits_a_calibrated_scale_near_2_to_the_48() {
    // laplace_scale(0.3, 4080): the numerator fills 48 bits.
    laplace_fits(
        Ratio {
            num: 233_646_220_902_401,
            den: 1 << 34,
        },
        48,
    );
}

#[test]
fn discrete_laplace_fits_a_huge_scale() {
    // G needs more bits than the fast path draws: the exact floor path.
    let scale = Ratio {
        num: 1 << 52,
        den: 3,
    };
    // Scale 2^52/3: too large for a binned pmf; check the mean of |Z|
    // (t·(1 + O(1/t))) and the sign.
    let mut rng = seeded(49);
    let n = 1500;
    let mut pos = 0u32;
    let mut sum_abs = 0f64;
    for _ in 0..n {
        let z = discrete_laplace(&mut rng, scale);
        pos += u32::from(z > 0);
        sum_abs += (z as f64).abs();
    }
    let t = (1u64 << 52) as f64 / 3.0;
    let mean = sum_abs / f64::from(n);
    assert!((mean / t - 1.0).abs() < 0.1, "mean |Z| / t = {}", mean / t);
    assert!((f64::from(pos) / f64::from(n) - 0.5).abs() < 0.05);
}

fn geometric_model(ratio: f64) -> Model {
    Model::from_weights(0, 60, |v| ratio.powi(v as i32), 8)
}

#[test]
fn geometric_exp_one_fits_fast_and_slow() {
    let e = (-1f64).exp();
    let wrong = geometric_model((-1.1f64).exp());
    let mut rng = seeded(61);
    let fast: Vec<i64> = (0..N_LAPLACE)
        .map(|_| {
            let b = rng.bits(8);
            geometric_exp_one(&mut rng, b) as i64
        })
        .collect();
    fits_and_not("geometric_exp_one", &fast, &geometric_model(e), &wrong);
    // Every comparison through the big-integer path, from no known bits.
    let slow: Vec<i64> = (0..4000)
        .map(|_| geometric_exp_one_slow(&mut rng, LazyReal::new(0, 0)) as i64)
        .collect();
    let wrong = geometric_model((-1.3f64).exp());
    fits_and_not("geometric_exp_one_slow", &slow, &geometric_model(e), &wrong);
}

fn trunc_geometric_model(gamma: f64) -> Model {
    Model::from_weights(0, 255, |i| (-(i as f64) * gamma / 256.0).exp(), 16)
}

#[test]
fn trunc_geometric_256_fits_fast_and_slow() {
    // Power: the same test rejects the law with e^(-1.5·i/256).
    let wrong = trunc_geometric_model(1.5);
    let mut rng = seeded(62);
    let fast: Vec<i64> = (0..N_LAPLACE)
        .map(|_| {
            let s = rng.bits(GUIDE_BITS);
            trunc_geometric_256(&mut rng, s) as i64
        })
        .collect();
    fits_and_not(
        "trunc_geometric_256",
        &fast,
        &trunc_geometric_model(1.0),
        &wrong,
    );
    let slow: Vec<i64> = (0..2000)
        .map(|_| trunc_geometric_256_slow(&mut rng, LazyReal::new(0, 0)) as i64)
        .collect();
    let wrong = trunc_geometric_model(2.0);
    fits_and_not(
        "trunc_geometric_256_slow",
        &slow,
        &trunc_geometric_model(1.0),
        &wrong,
    );
}

#[test]
fn fast_decisions_agree_with_the_exact_ones() {
    // Prefixes at and around every table entry, and random ones: where
    // the 64 bits decide, the slow path (from the same 64 bits) agrees.
    let mut rng = seeded(63);
    let mut prefixes: Vec<u64> = (0..200).map(|_| rng.next_u64()).collect();
    for &c in EXP_NEG_WHOLE.iter().chain(TRUNC_GEOM_CDF.iter()) {
        prefixes.extend([c.wrapping_sub(1), c.wrapping_add(1)]);
    }
    for x in prefixes {
        let v_fast = EXP_NEG_WHOLE.iter().take_while(|&&l| x < l).count() as u64;
        if v_fast < 44 && x != EXP_NEG_WHOLE[v_fast as usize] {
            assert_eq!(
                geometric_exp_one_slow(&mut rng, LazyReal::new(x, 64)),
                v_fast
            );
        }
        let i_fast = TRUNC_GEOM_CDF.iter().filter(|&&c| c < x).count() as u64;
        if !TRUNC_GEOM_CDF.contains(&x) {
            assert_eq!(
                trunc_geometric_256_slow(&mut rng, LazyReal::new(x, 64)),
                i_fast
            );
        }
    }
    // At a tie the exact answer is one of the two neighbours.
    for (j, &l) in EXP_NEG_WHOLE.iter().enumerate() {
        let v = geometric_exp_one_slow(&mut rng, LazyReal::new(l, 64));
        assert!(v == j as u64 || v == j as u64 + 1, "v = {v}, j = {j}");
    }
    for (i, &c) in TRUNC_GEOM_CDF.iter().enumerate() {
        let got = trunc_geometric_256_slow(&mut rng, LazyReal::new(c, 64));
        assert!(got == i as u64 || got == i as u64 + 1);
    }
}

#[test]
fn floor_scaled_fast_agrees_with_exact() {
    let mut rng = seeded(64);
    for scale in [
        Ratio { num: 1, den: 2 },
        Ratio { num: 3, den: 2 },
        Ratio { num: 8160, den: 1 },
        Ratio { num: 8160, den: 7 },
        Ratio {
            num: 233_646_220_902_401,
            den: 1 << 34,
        },
        Ratio {
            num: u64::MAX,
            den: 1,
        },
    ] {
        let lap = Laplace::new(scale);
        for _ in 0..3000 {
            let k = rng.next_u64() % (1 << 14);
            let g = rng.next_u64() >> (64 - lap.g_bits);
            let lo = u128::from(scale.num) * ((u128::from(k) << lap.g_bits) | u128::from(g));
            let d = u128::from(scale.den) << (8 + lap.g_bits);
            let exact = floor_scaled_slow(
                &mut rng,
                scale.num,
                scale.den,
                k,
                &mut LazyReal::new(g, u64::from(lap.g_bits)),
            );
            // When lo and lo + num - 1 share their quotient, that is the answer.
            if lo / d == (lo + u128::from(scale.num) - 1) / d {
                assert_eq!(exact, lo / d, "{scale:?} k = {k} g = {g}");
            } else {
                assert!(exact >= lo / d && exact <= (lo + u128::from(scale.num) - 1) / d);
            }
        }
    }
}

#[test]
fn acceptance_after_a_small_uniform_fits() {
    // With 8 bits of G, A_1 is undecided by 64 bits of U_1 in 1 of 256
    // tests, so the exact continuation is exercised too. Given a first
    // uniform below 1/s, the acceptance probability is
    // s²(1 - e^(-1/s)) - (s - 1) (see bernoulli_exp_lazy_fits).
    let lap = Laplace::new(Ratio {
        num: 1,
        den: 1 << 20,
    });
    assert_eq!(lap.g_bits, 8);
    let mut rng = seeded(66);
    let n = 200_000;
    let mut accepted = 0usize;
    let mut lazy = 0usize;
    for _ in 0..n {
        let g = rng.bits(8);
        match lap.accept_after_small_uniform(&mut rng, g) {
            Accept::Fast => accepted += 1,
            Accept::Lazy(_) => {
                accepted += 1;
                lazy += 1;
            }
            Accept::Reject => {}
        }
    }
    let s = 256f64;
    let p = s * s * (1.0 - (-1.0 / s).exp()) - (s - 1.0);
    let (_, _, pv) = Model::bernoulli(p).g_test((0..n).map(|i| i64::from(i < accepted)));
    assert!(
        pv > ALPHA,
        "P(accept) = {}, want {p}",
        accepted as f64 / n as f64
    );
    assert!(lazy > 100, "the continuation ran {lazy} times");
}

#[test]
fn tables_are_the_exact_floors() {
    fn floor_2_64(bounds: impl Fn(u64) -> (BigUint, BigUint)) -> u64 {
        let mut q = 64;
        loop {
            let (lo, hi) = bounds(q);
            assert!(lo <= hi);
            let (a, b) = (&lo >> (q - 64), &hi >> (q - 64));
            if a == b {
                return u64::try_from(&a).expect("below 2^64");
            }
            q += 64;
        }
    }
    for v in 1..=44u64 {
        let want = floor_2_64(|q| exp_neg_bounds(v, 1, q));
        assert_eq!(EXP_NEG_WHOLE[v as usize - 1], want, "e^-{v}");
    }
    assert_eq!(floor_2_64(|q| exp_neg_bounds(45, 1, q)), 0);
    for i in 1..=255u64 {
        let want = floor_2_64(|q| trunc_geometric_cdf_bounds(i, q));
        assert_eq!(TRUNC_GEOM_CDF[i as usize - 1], want, "c_{i}");
    }
    // Strictly decreasing / increasing, and the CDF values more than one
    // guide slot apart (a slot holds at most one).
    assert!(EXP_NEG_WHOLE.windows(2).all(|w| w[0] > w[1]));
    assert!(TRUNC_GEOM_CDF
        .windows(2)
        .all(|w| w[1] - w[0] > 1 << (64 - GUIDE_BITS)));
    assert!(TRUNC_GEOM_CDF[0] > 1 << (64 - GUIDE_BITS));
    assert!(TRUNC_GEOM_CDF[254] < u64::MAX - (1 << (64 - GUIDE_BITS)));
    assert_eq!(EXP_NEG_WHOLE[5] >> 56, 0);
    // The bounds are tight: a few units apart.
    for (a, b) in [(0u64, 1u64), (1, 1), (1, 256), (255, 256), (44, 1), (7, 3)] {
        for q in [8u64, 64, 200] {
            let (lo, hi) = exp_neg_bounds(a, b, q);
            assert!(
                lo <= hi && &hi - &lo <= BigUint::from(4u8),
                "{a}/{b} at {q}"
            );
        }
    }
    let (lo, hi) = exp_neg_bounds(0, 1, 10);
    assert!(lo <= BigUint::from(1024u32) && BigUint::from(1024u32) <= hi);
}

#[test]
fn geometric_byte_table_matches_the_64_bit_table() {
    for b in 0..256u64 {
        let undecided = EXP_NEG_WHOLE.iter().any(|&l| l >> 56 == b) || b == 0;
        let e = GEOMETRIC_OF_BYTE[b as usize];
        assert_eq!(e == UNDECIDED, undecided, "byte {b}");
        if !undecided {
            let v = EXP_NEG_WHOLE
                .iter()
                .filter(|&&l| u128::from(b + 1) << 56 <= u128::from(l))
                .count();
            assert_eq!(usize::from(e), v, "byte {b}");
        }
    }
}

#[test]
fn guide_matches_the_cdf() {
    for s in 0..(1u64 << GUIDE_BITS) {
        let e = TRUNC_GEOM_GUIDE[s as usize];
        let shift = 64 - GUIDE_BITS;
        let below = TRUNC_GEOM_CDF.iter().filter(|&&c| c < s << shift).count();
        assert_eq!(usize::from(e & 0xff), below, "slot {s}");
        let inside = TRUNC_GEOM_CDF.iter().any(|&c| c >> shift == s);
        assert_eq!(e & 0x100 != 0, inside, "slot {s}");
    }
}

// ------------------------------------------------------------- the batch path

/// Scales for the batch path: integer, half-integer, calibrated (den = 2^k,
/// num up to 2^48), tiny (Y = 0 by a shift of 64 or more), and scales the
/// batch path leaves to `sample` (den not a power of two, G wider than the
/// word, no noise).
const BATCH_SCALES: [Ratio; 13] = [
    Ratio { num: 1, den: 2 },
    Ratio { num: 3, den: 2 },
    Ratio { num: 40, den: 1 },
    Ratio { num: 8160, den: 1 },
    Ratio { num: 24480, den: 1 },
    Ratio {
        num: 233_646_220_902_401,
        den: 1 << 34,
    },
    Ratio {
        num: (31 << 40) + 12345,
        den: 1 << 40,
    },
    Ratio {
        num: 1,
        den: 1 << 20,
    },
    Ratio {
        num: 3,
        den: 1 << 60,
    },
    Ratio { num: 8160, den: 7 },
    Ratio {
        num: 1 << 52,
        den: 3,
    },
    Ratio {
        num: u64::MAX,
        den: 1,
    },
    Ratio { num: 0, den: 1 },
];

/// The fill paths this CPU runs: one sample at a time, the portable batch
/// path and (with AVX-512) the vector one.
fn fill_paths() -> Vec<batch::Path> {
    batch::Path::available()
}

#[test]
fn fill_draws_what_sample_draws() {
    // Same values from the same keystream words as one sample at a time, on
    // every path, for lengths around the 8 lanes and long runs (where every
    // kind of word the batch path leaves to `sample` occurs).
    for (si, &scale) in BATCH_SCALES.iter().enumerate() {
        let lap = Laplace::new(scale);
        let long = if lap.has_batch() { 200_000 } else { 3_000 };
        for (li, n) in [0usize, 1, 7, 8, 9, 17, 63, long].into_iter().enumerate() {
            let seed = 1000 + 10 * si as u64 + li as u64;
            let mut want_rng = seeded(seed);
            let want: Vec<i64> = (0..n).map(|_| lap.sample(&mut want_rng)).collect();
            let next: Vec<u64> = (0..3).map(|_| want_rng.next_u64()).collect();
            for path in fill_paths() {
                let name = format!("{path:?}");
                let mut rng = seeded(seed);
                let mut got = vec![i64::MIN; n];
                lap.fill_on(path, &mut rng, &mut got);
                assert!(got == want, "{name}, {scale:?}, n = {n}");
                let after: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
                assert_eq!(after, next, "{name}, {scale:?}, n = {n}: stream position");
            }
        }
    }
}

/// First words that reach every decision of the batch path: every first
/// byte (V's undecided bytes included), guide slots with and without a CDF
/// value inside, acceptance bits 0 and not, both signs, G's bits at both ends.
fn edge_words() -> Vec<u64> {
    let inside: Vec<u64> = (0..1u64 << GUIDE_BITS)
        .filter(|&s| TRUNC_GEOM_GUIDE[s as usize] & 0x100 != 0)
        .step_by(40)
        .collect();
    let slots = [0u64, 1, 77, 2048, 4095].into_iter().chain(inside);
    let mut words = Vec::new();
    for slot in slots {
        for accept in [0u64, 1, 0xff] {
            for sign in [0u64, 1] {
                for g in [0u64, 0x5_5555_5555, (1 << 35) - 1] {
                    for b in 0..256u64 {
                        words.push(b | slot << 8 | accept << 20 | sign << 28 | g << 29);
                    }
                }
            }
        }
    }
    words
}

/// Next words for a first word `w`: random ones, and those that tie V's or
/// I's table entry (or miss it by one) at 64 bits.
fn next_words(w: u64, rng: &mut StreamRng) -> Vec<(u64, u64)> {
    let mut ties = vec![rng.next_u64()];
    let b = w & 0xff;
    if let Some(idx) = EXP_NEG_WHOLE_TOP.iter().position(|&t| t == b) {
        let e = EXP_NEG_WHOLE[idx];
        ties.extend(
            [e, e.wrapping_sub(1), e + 1].map(|x| (x & ((1 << 56) - 1)) | rng.next_u64() << 56),
        );
    }
    let entry = TRUNC_GEOM_GUIDE[((w >> 8) & 0xfff) as usize];
    if entry & 0x100 != 0 {
        let c = TRUNC_GEOM_CDF[usize::from(entry & 0xff)];
        ties.extend([c, c - 1, c + 1].map(|x| (x & ((1 << 52) - 1)) | rng.next_u64() << 52));
    }
    let mut pairs = Vec::new();
    for &a in &ties {
        for &b in &ties {
            pairs.push((a, b));
        }
    }
    pairs
}

/// `sample` from the words `w, w1, w2, ...` with an empty reservoir: the
/// value, 64-bit words used, and the reservoir after it.
fn sample_of_words(lap: &Laplace, w: u64, w1: u64, w2: u64) -> (i64, u64, (u64, u32)) {
    let mut words = Vec::new();
    for x in [w, w1, w2] {
        words.extend([x as u32, (x >> 32) as u32]);
    }
    let mut rng = StreamRng::replay(&words);
    let z = lap.sample(&mut rng);
    (z, rng.position(), rng.reservoir())
}

#[test]
fn batch_decides_every_word_as_sample_does() {
    // Where the batch path decides a sample, `sample` decides it the same
    // way from the same words (with an empty reservoir), uses as many words
    // and leaves the same reservoir; the AVX-512 lanes decide exactly as
    // their scalar twin, on every lane.
    let mut rng = seeded(90);
    let mut cases: Vec<(u64, u64, u64)> = Vec::new();
    for w in edge_words() {
        for (w1, w2) in next_words(w, &mut rng) {
            cases.push((w, w1, w2));
        }
    }
    cases.extend((0..300_000).map(|_| (rng.next_u64(), rng.next_u64(), rng.next_u64())));
    let vector = fill_paths().contains(&batch::Path::Avx512);
    for scale in BATCH_SCALES {
        let lap = Laplace::new(scale);
        let Some(batch) = lap.batch() else { continue };
        let (mut decided, mut wide) = (0usize, 0usize);
        for &(w, w1, w2) in &cases {
            let Some(d) = batch.decide(w, Some(w1), Some(w2)) else {
                continue;
            };
            decided += 1;
            wide += usize::from(d.words > 1);
            let at = format!("{scale:?}, words {w:#x} {w1:#x} {w2:#x}");
            let (z, used, reservoir) = sample_of_words(&lap, w, w1, w2);
            assert_eq!(z, d.z, "{at}");
            assert_eq!(used, 2 * u64::from(d.words), "{at}");
            if d.words > 1 {
                assert_eq!(reservoir, d.reservoir, "{at}");
            }
            // Without the next words, a sample that needs them stays open.
            if d.words > 1 {
                assert_eq!(batch.decide(w, None, None), None, "{at}");
            }
        }
        // (At scale 1/2 most words are a negative zero, redrawn by `sample`.)
        assert!(decided > cases.len() / 10, "{scale:?}: {decided} decided");
        assert!(wide > cases.len() / 100, "{scale:?}: {wide} wide");
        #[cfg(target_arch = "x86_64")]
        if vector {
            // Consecutive words of a stream: 8 first words and 2 more.
            let flat: Vec<u64> = cases.iter().flat_map(|&(a, b, c)| [a, b, c]).collect();
            for chunk in flat.chunks_exact(10) {
                let words: [u32; 20] =
                    core::array::from_fn(|i| (chunk[i / 2] >> (32 * (i % 2))) as u32);
                let want: [Option<batch::Decision>; 8] = core::array::from_fn(|j| {
                    batch
                        .decide(chunk[j], Some(chunk[j + 1]), Some(chunk[j + 2]))
                        .map(|d| batch::Decision {
                            reservoir: if d.words > 1 { d.reservoir } else { (0, 0) },
                            ..d
                        })
                });
                assert_eq!(
                    batch::decide_lanes(&batch, &words),
                    want,
                    "{scale:?} {chunk:x?}"
                );
            }
        }
    }
}

#[test]
fn batch_leaves_the_expected_share_to_sample() {
    // About 1 word in 125 goes to `sample`, 8 in 100 take the next words:
    // both are common enough to be tested above.
    for (scale, most) in [
        (Ratio { num: 24480, den: 1 }, 0.0085),
        // A calibrated scale (num of 48 bits: the floor's bounds are wider).
        (
            Ratio {
                num: 233_646_220_902_401,
                den: 1 << 34,
            },
            0.009,
        ),
    ] {
        let batch = Laplace::new(scale).batch().expect("a batch scale");
        let mut rng = seeded(92);
        let n = 1_000_000;
        let (mut open, mut wide) = (0usize, 0usize);
        for _ in 0..n {
            let w = [rng.next_u64(), rng.next_u64(), rng.next_u64()];
            match batch.decide(w[0], Some(w[1]), Some(w[2])) {
                None => open += 1,
                Some(d) => wide += usize::from(d.words > 1),
            }
        }
        let (open, wide) = (open as f64 / n as f64, wide as f64 / n as f64);
        // V's byte 0 (1/256), the acceptance (1/256), the floor (~2^-12).
        assert!(open < most && open > 0.0075, "{scale:?}: open {open}");
        // V's byte (5/256) or I's slot (255/4096) undecided: the next words.
        let want = 1.0 - (251.0 / 256.0) * (1.0 - 255.0 / 4096.0);
        assert!(
            (wide - want).abs() < 0.002,
            "{scale:?}: wide {wide}, want {want}"
        );
    }
}

/// `n` samples of `fill` on `path`.
fn filled(lap: &Laplace, path: batch::Path, seed: u64, n: usize) -> Vec<i64> {
    let mut rng = seeded(seed);
    let mut out = vec![0i64; n];
    lap.fill_on(path, &mut rng, &mut out);
    out
}

#[test]
fn fill_fits_the_pmf_on_every_path() {
    for (i, scale) in [
        Ratio { num: 3, den: 2 },
        Ratio { num: 40, den: 1 },
        Ratio { num: 8160, den: 1 },
        Ratio { num: 24480, den: 1 },
        Ratio {
            num: 233_646_220_902_401,
            den: 1 << 34,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let lap = Laplace::new(scale);
        let model = Model::laplace(scale, 50);
        for (pi, path) in fill_paths().into_iter().enumerate() {
            let z = filled(&lap, path, 200 + 10 * i as u64 + pi as u64, N_LAPLACE);
            let what = format!("fill {path:?}, {scale:?}");
            fits_and_not(
                &what,
                &z,
                &model,
                &Model::laplace(scaled(scale, 11, 10), 50),
            );
            fits_and_not(&what, &z, &model, &Model::laplace(scaled(scale, 9, 10), 50));
        }
    }
}

#[test]
fn fill_has_the_law_of_cks_algorithm_2() {
    // Two-sample tests against Algorithm 2 as written: the same law at the
    // same scale, and (power) not the law of a scale 10 % off either way.
    let n = 40_000;
    for (i, scale) in [
        Ratio { num: 3, den: 2 },
        Ratio { num: 8160, den: 1 },
        Ratio { num: 24480, den: 1 },
        Ratio {
            num: 233_646_220_902_401,
            den: 1 << 34,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let lap = Laplace::new(scale);
        let bins = Model::laplace(scale, 40);
        let cks = |scale: Ratio, seed: u64| -> Vec<i64> {
            let mut rng = seeded(seed);
            (0..n)
                .map(|_| discrete_laplace_cks(&mut rng, scale))
                .collect()
        };
        for (pi, path) in fill_paths().into_iter().enumerate() {
            let z = filled(&lap, path, 300 + 10 * i as u64 + pi as u64, n);
            let (g, df, p) = bins.g_test_two(&z, &cks(scale, 400 + i as u64));
            assert!(
                p > ALPHA,
                "{path:?}, {scale:?}: G = {g:.1}, df = {df}, p = {p:e}"
            );
            for wrong in [scaled(scale, 11, 10), scaled(scale, 9, 10)] {
                let (g, df, p) = bins.g_test_two(&z, &cks(wrong, 500 + i as u64));
                assert!(
                    p < ALPHA,
                    "{path:?}, {scale:?} vs {wrong:?}: no power, G = {g:.1}, df = {df}, p = {p:e}"
                );
            }
        }
    }
}
