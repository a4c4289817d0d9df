//! Nanoseconds per sample of each sampler (a measurement, not a test):
//!
//! ```text
//! cargo test --release -p dp-pix-core --lib samplers::timing -- --ignored --nocapture
//! ```

use rand::Rng;

use super::stats::seeded;
use super::*;

#[test]
#[ignore = "timing; run in release"]
fn timing() {
    use std::hint::black_box;
    use std::time::Instant;
    let n = 2_000_000u32;
    let mut rng = seeded(99);
    let mut time = |label: &str, f: &mut dyn FnMut(&mut StreamRng) -> i64| {
        let start = Instant::now();
        let mut acc = 0i64;
        for _ in 0..n {
            acc = acc.wrapping_add(f(&mut rng));
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        black_box(acc);
        println!("{label:32} {ns:8.1} ns/sample");
    };
    for scale in [
        Ratio { num: 1, den: 2 },
        Ratio { num: 40, den: 1 },
        Ratio { num: 8160, den: 1 },
        Ratio {
            num: 8160 << 20,
            den: 7 << 20,
        },
    ] {
        time(&format!("laplace {}/{}", scale.num, scale.den), &mut |r| {
            discrete_laplace(r, black_box(scale))
        });
        time(
            &format!("laplace CKS {}/{}", scale.num, scale.den),
            &mut |r| discrete_laplace_cks(r, black_box(scale)),
        );
    }
    // The batch path, in calls of 64 (a cell row of case (b)) and of 4096.
    let mut fill_rng = seeded(98);
    for scale in [
        Ratio { num: 8160, den: 1 },
        Ratio { num: 24480, den: 1 },
        Ratio {
            num: 233_646_220_902_401,
            den: 1 << 34,
        },
    ] {
        for len in [64usize, 4096] {
            let lap = Laplace::new(scale);
            let mut out = vec![0i64; len];
            let calls = n / len as u32;
            let start = Instant::now();
            for _ in 0..calls {
                lap.fill(&mut fill_rng, &mut out);
                black_box(&out);
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(calls * len as u32);
            let label = format!("laplace fill {}/{} x{len}", scale.num, scale.den);
            println!("{label:32} {ns:8.1} ns/sample");
        }
    }
    for sigma2 in [
        Ratio { num: 9, den: 1 },
        Ratio {
            num: 40_000,
            den: 1,
        },
        Ratio {
            num: (31 << 40) + 5,
            den: 1 << 40,
        },
    ] {
        time(
            &format!("gaussian {}/{}", sigma2.num, sigma2.den),
            &mut |r| discrete_gaussian(r, black_box(sigma2)),
        );
    }
    let huge = Ratio {
        num: (9 << 60) + 1,
        den: 1 << 60,
    };
    time("gaussian 9+2^-60 (BigUint path)", &mut |r| {
        discrete_gaussian(r, black_box(huge))
    });
    time("bernoulli_exp 5/2", &mut |r| {
        i64::from(bernoulli_exp(r, black_box(Ratio { num: 5, den: 2 })))
    });
    time("next_u32 (reference)", &mut |r| i64::from(r.next_u32()));
    time("next_u64", &mut |r| r.next_u64() as i64);
    // The keystream alone, per 64-bit word, on each backend.
    for backend in chacha::Backend::available() {
        let mut c = chacha::ChaCha20::new(&[1u8; 32], 0);
        let mut out = [0u32; 256];
        let passes = 20_000u32;
        let start = Instant::now();
        for _ in 0..passes {
            c.blocks(backend, &mut out);
            black_box(&out);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(passes) / 128.0;
        println!(
            "{:32} {ns:8.2} ns/u64 word",
            format!("ChaCha20 {backend:?}")
        );
    }
    let key = [3u8; 32];
    let mut row = 0u64;
    time("row_stream + 1 word", &mut |_| {
        row += 1;
        row_stream(&key, 1, row).next_u32() as i64
    });
}
