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
