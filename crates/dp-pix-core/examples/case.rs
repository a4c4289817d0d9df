//! One `grid::pixelate` call on a case of `benches/run.py`, for instruction
//! counts that do not depend on the machine's load:
//!
//! ```text
//! cargo build --profile profiling -p dp-pix-core --example case
//! valgrind --tool=callgrind target/profiling/examples/case b dp full
//! target/profiling/examples/case b dp full 50   # 50 calls: time per call
//! ```
//!
//! With several calls it prints the wall-clock and the on-CPU time per call
//! (the process's CPU time: on a loaded machine it leaves out the time other
//! processes had the cores, though not their effect on the caches).
//! Valgrind runs no AVX-512 code: under it the AVX2 and portable paths run.
//!
//! Arguments: the case (`a`, `b`, `c`), the noise (`dp` for the exact Laplace
//! of the benchmark, `mosaic`, or `none` to build the input only, whose count
//! is subtracted), the output (`full`, `grid`) and an optional number of calls.
//! One thread: run under `RAYON_NUM_THREADS=1` to be sure.

use std::time::Instant;

use ndarray::Array4;

use dp_pix_core::grid::{self, Edges, Noise, Output, Streams};
use dp_pix_core::samplers::Ratio;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.to_string());
    let (n, h, w, c, b) = match arg(0, "b").as_str() {
        "a" => (1000, 112, 92, 1, 8),
        "b" => (1000, 84, 84, 3, 4),
        "c" => (1, 2160, 3840, 3, 16),
        other => panic!("unknown case {other:?}: a, b or c"),
    };
    let noise = match arg(1, "dp").as_str() {
        "dp" => Some(Noise::Laplace {
            scale: Ratio {
                num: 8160 * c as u64,
                den: 1,
            },
        }),
        "mosaic" => Some(Noise::None),
        "none" => None,
        other => panic!("unknown noise {other:?}: dp, mosaic or none"),
    };
    let output = match arg(2, "full").as_str() {
        "full" => Output::Full,
        "grid" => Output::Grid,
        other => panic!("unknown output {other:?}: full or grid"),
    };
    let calls: usize = arg(3, "1").parse().expect("a number of calls");
    // Pixels from a xorshift generator: no method's cost depends on them.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let images = Array4::from_shape_simple_fn((n, h, w, c), || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 56) as u8
    });
    let Some(noise) = noise else { return };
    let key = [5u8; 32];
    let mut times = Vec::with_capacity(calls);
    let mut cpu = Vec::with_capacity(calls);
    let mut check = 0u64;
    for _ in 0..calls {
        let start = Instant::now();
        let cpu_start = on_cpu_ns();
        let out = grid::pixelate(
            images.view(),
            b,
            b,
            Edges::Partial,
            output,
            &noise,
            &Streams::one(&key, 0),
        )
        .expect("a valid case");
        times.push(start.elapsed().as_secs_f64());
        cpu.push((on_cpu_ns() - cpu_start) as f64 * 1e-9);
        check = check.wrapping_add(u64::from(out[[0, 0, 0, 0]]));
    }
    if calls > 1 {
        let mp = (n * h * w) as f64 / 1e6;
        for (label, t) in [("wall", &mut times), ("on-CPU", &mut cpu)] {
            t.sort_by(f64::total_cmp);
            println!(
                "{label:6}: median {:.3} ms ({:.0} MP/s), min {:.3} ms, {calls} calls",
                t[calls / 2] * 1e3,
                mp / t[calls / 2],
                t[0] * 1e3,
            );
        }
        println!("({check})");
    }
}

/// The process's time on a CPU so far, all threads, in ns
/// (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`; 0 off Linux).
fn on_cpu_ns() -> u64 {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        unsafe extern "C" {
            fn clock_gettime(clock: i32, t: *mut Timespec) -> i32;
        }
        const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: clock_gettime writes one timespec (two 64-bit fields on
        // 64-bit Linux) into `t`.
        if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0 {
            return (t.sec as u64) * 1_000_000_000 + t.nsec as u64;
        }
    }
    0
}
