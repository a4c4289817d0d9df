//! The batch path of the bit-thrifty discrete Laplace: [`Laplace::fill`].
//!
//! [`Laplace::sample`] reads one 64-bit word a sample and, now and then, a
//! few more bits: V's first byte or I's 12-bit slot may not decide, and then
//! 56 or 52 more bits come from the reservoir — the next word of the stream
//! when the reservoir holds fewer than 32 bits, which is how it always is
//! after such a draw. So a sample is, but for rare cases, a function of the
//! word it starts at and the one or two words after it. This file computes
//! that function on every word of a window of the stream at once — eight
//! words at a time with AVX-512, in plain 64-bit integer arithmetic (its
//! scalar twin, one word at a time, checks the lanes in the tests; CPUs
//! without AVX-512 draw one sample after another, which measured faster than
//! the twin) — and then walks the window: a sample at each word
//! where one starts, the words it used skipped and the reservoir left as
//! [`Laplace::sample`] leaves it. The rest (about 8 words in 1000: V's byte
//! 0, a small acceptance uniform, an unfixed floor, a rejected negative
//! zero, a tie with a table entry, the reservoir holding 32 bits or more) go
//! to [`Laplace::sample`] itself, which reads them as always. A decision
//! made here is the one [`Laplace::sample`] makes from the same words, so a
//! batch gives the same values, from the same keystream words, as one sample
//! at a time (tested on every path, over millions of words and on chosen
//! words at every table entry).
//!
//! The word at which a sample starts, w, holds (low bits first) V's first
//! byte b, I's slot s (12 bits), 8 bits of G's acceptance uniform, the sign,
//! and G's first bits at the top. When b is the top byte of e^-v for one
//! v in 1..=5, only that table entry is not known to be above or below R, and
//! the next word w1 extends R to 64 bits: x1 = b·2^56 + (w1 mod 2^56); V is
//! v - 1, plus 1 if x1 is below the entry (a tie: to `sample`). When the slot
//! holds the CDF value c_j, the next word not used yet extends R to 64 bits
//! the same way (x2 = s·2^52 + its low 52 bits) and I is j, plus 1 if x2 is
//! above c_j.
//!
//! The floor: with `den = 2^e`, Y = floor(num·Xr / 2^s) for a real Xr in
//! [X, X + 1), X = 256·2^b·V + 2^b·I + g (b bits of G known: g) and
//! s = e + 8 + b. With num_lo = floor(num / 2^d) and num_hi = ceil(num / 2^d),
//! num_lo·2^d·X <= num·Xr < num_hi·2^d·(X + 1), so Y lies between
//! floor(num_lo·X / 2^(s-d)) and floor((num_hi·(X + 1) - 1) / 2^(s-d)); when
//! those agree, that is Y. d is the smallest shift that keeps both products
//! below 2^64: d = 0 when num < 2^(53 - b) (integer scales such as the
//! benchmark's), and then the bounds are exactly those of
//! [`Laplace::sample`]; with d > 0 (numerators of 48 bits, as calibration
//! gives) the interval is wider, so a few more words (about 1 in 2000) go to
//! [`Laplace::sample`], which decides them exactly.

use super::tables::{
    EXP_NEG_WHOLE, EXP_NEG_WHOLE_TOP, GUIDE_BITS, TRUNC_GEOM_CDF, TRUNC_GEOM_GUIDE,
};
use super::Laplace;
use crate::samplers::StreamRng;

/// Below this k = 256·V + I every word this path decides lies: V <= 5.
const K_END: u64 = 6 * 256;

/// The constants of the batch path for one scale, when it applies: the
/// denominator a power of two, and G's first bits all in the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Batch {
    g_bits: u32,
    num_lo: u64,
    num_hi: u64,
    /// s - d (may reach 64 or more: then Y = 0).
    shift: u32,
}

/// A sample decided from the words at and after its first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Decision {
    pub(super) z: i64,
    /// 64-bit words used: 1, or 2 or 3 when V's byte or I's slot (or both)
    /// did not decide.
    pub(super) words: u8,
    /// The reservoir after it (bits, how many) when `words > 1`.
    pub(super) reservoir: (u64, u32),
}

impl Batch {
    pub(super) fn new(num: u64, den: u64, g_bits: u32) -> Option<Batch> {
        if num == 0 || !den.is_power_of_two() || g_bits > 35 {
            return None;
        }
        // The largest X + 1 is K_END·2^b; both products stay below 2^64
        // when num_hi·K_END·2^b <= 2^64.
        let x_end = u128::from(K_END) << g_bits;
        let mut d = 0u32;
        while u128::from(num.div_ceil(1 << d)) * x_end > 1u128 << 64 {
            d += 1;
        }
        let s = den.trailing_zeros() + 8 + g_bits;
        Some(Batch {
            g_bits,
            num_lo: num >> d,
            num_hi: num.div_ceil(1 << d),
            shift: s.checked_sub(d)?,
        })
    }

    /// The sample that starts at word `w`, the next words being `w1` and
    /// `w2` (None: not known), when the reservoir holds fewer than 32 bits;
    /// None when this path leaves it to [`Laplace::sample`]. The scalar twin
    /// of the AVX-512 lanes below, and the portable batch path.
    #[inline(always)]
    pub(super) fn decide(&self, w: u64, w1: Option<u64>, w2: Option<u64>) -> Option<Decision> {
        const LOW56: u64 = (1 << 56) - 1;
        const LOW52: u64 = (1 << 52) - 1;
        let b = w & 0xff;
        if b == 0 {
            return None; // V >= 5: many entries to compare
        }
        let mut v = 0;
        let mut next = w1;
        let mut words = 1u8;
        let mut reservoir = (0, 0);
        for (idx, top) in EXP_NEG_WHOLE_TOP.into_iter().enumerate() {
            if b == top {
                let w1 = next?;
                let x1 = (b << 56) | (w1 & LOW56);
                let e = EXP_NEG_WHOLE[idx];
                if x1 == e {
                    return None;
                }
                v = idx as u64 + u64::from(x1 < e);
                next = w2;
                words = 2;
                reservoir = (w1 >> 56, 8);
                break;
            }
            v += u64::from(b < top);
        }
        let s = (w >> 8) & ((1 << GUIDE_BITS) - 1);
        let entry = u64::from(TRUNC_GEOM_GUIDE[s as usize]);
        let mut i = entry & 0xff;
        if entry & 0x100 != 0 {
            let wi = next?;
            let x2 = (s << (64 - GUIDE_BITS)) | (wi & LOW52);
            let c = TRUNC_GEOM_CDF[i as usize];
            if x2 == c {
                return None;
            }
            i += u64::from(x2 > c);
            words += 1;
            reservoir = (wi >> 52, 12);
        }
        if (w >> 20) & 0xff == 0 {
            return None;
        }
        let negative = (w >> 28) & 1 == 1;
        let g = w >> (64 - self.g_bits);
        let x = (((v << 8) | i) << self.g_bits) | g;
        let lo = self.num_lo * x;
        let hi = self.num_hi * (x + 1) - 1;
        let (y, y_hi) = (
            lo.checked_shr(self.shift).unwrap_or(0),
            hi.checked_shr(self.shift).unwrap_or(0),
        );
        if y != y_hi || (negative && y == 0) {
            return None;
        }
        Some(Decision {
            // y < 6·t: far below 2^63.
            z: if negative { -(y as i64) } else { y as i64 },
            words,
            reservoir,
        })
    }
}

/// The most words decided at once (the bits of a `u128`).
const WINDOW: usize = 128;

/// The decisions on a window of consecutive 64-bit keystream words, each
/// taken as the first word of a sample: unless bit j of `open` is set, the
/// sample starting at word j is `z[j]`; it uses the next word too where bit
/// j of `vwide` (V's byte did not decide) or of `iwide` (I's slot did not)
/// is set, the next two where both are.
struct Decided {
    z: [i64; WINDOW],
    open: u128,
    vwide: u128,
    iwide: u128,
}

impl Decided {
    fn new() -> Decided {
        Decided {
            z: [0; WINDOW],
            open: 0,
            vwide: 0,
            iwide: 0,
        }
    }
}

/// The 64-bit word at `j` of the 32-bit words `w`, if there.
#[inline(always)]
fn word_at(w: &[u32], j: usize) -> Option<u64> {
    Some((u64::from(*w.get(2 * j + 1)?) << 32) | u64::from(w[2 * j]))
}

/// `dst[..run] = src[..run]`, in copies of 8 where both have room for them
/// (the values past `run` written then are overwritten later or not read).
#[inline(always)]
fn copy_run(dst: &mut [i64], src: &[i64], run: usize) {
    if dst.len() >= run + 8 && src.len() >= run + 8 {
        let mut k = 0;
        while k < run {
            dst[k..k + 8].copy_from_slice(&src[k..k + 8]);
            k += 8;
        }
    } else {
        dst[..run].copy_from_slice(&src[..run]);
    }
}

impl Laplace {
    /// `out.len()` samples: the values, and the keystream words, of as many
    /// calls of [`Laplace::sample`] in a row (see the top of `batch.rs`).
    pub fn fill(&self, rng: &mut StreamRng, out: &mut [i64]) {
        self.fill_on(Path::detect(), rng, out);
    }

    /// [`Laplace::fill`] with the words decided on `path`.
    pub(super) fn fill_on(&self, path: Path, rng: &mut StreamRng, out: &mut [i64]) {
        if self.num == 0 {
            out.fill(0);
            return;
        }
        let (Some(batch), false) = (self.batch, path == Path::Sample) else {
            for z in out {
                *z = self.sample(rng);
            }
            return;
        };
        let mut decided = Decided::new();
        let mut i = 0;
        while i < out.len() {
            let words = rng.peek();
            // About 11 words make 10 samples (and 2 more: measured the best
            // margin against a second window for cell rows of 63 cells).
            let left = out.len() - i;
            let n = (words.len() / 2).min(WINDOW).min(left + left / 10 + 2);
            decide_words(path, &batch, words, n, &mut decided);
            i += self.walk(&decided, n, rng, &mut out[i..]);
        }
    }

    /// The samples of a decided window of `n` words into `out`, until it
    /// is full or the stream leaves the window; returns how many.
    #[inline(always)]
    fn walk(&self, d: &Decided, n: usize, rng: &mut StreamRng, out: &mut [i64]) -> usize {
        let start = rng.position();
        let special = d.open | d.vwide | d.iwide;
        let mut i = 0;
        let mut j = 0;
        while i < out.len() {
            // The run of one-word samples from word j.
            let end_bit = 1u128.checked_shl((n - j) as u32).unwrap_or(0);
            let run = ((special >> j) | end_bit).trailing_zeros() as usize;
            let run = run.min(out.len() - i);
            copy_run(&mut out[i..], &d.z[j..], run);
            rng.skip_u64(run);
            i += run;
            j += run;
            if i == out.len() || j == n {
                break;
            }
            if (d.open >> j) & 1 == 0 && rng.reservoir().1 < 32 {
                // A decided sample of 2 or 3 words: the reservoir left is the
                // top of the last word read (12 bits after I's draw, else 8).
                let (vwide, iwide) = ((d.vwide >> j) & 1 == 1, (d.iwide >> j) & 1 == 1);
                let w1 = rng.peek_word64(1);
                let (reservoir, words) = match (vwide, iwide) {
                    (true, true) => ((rng.peek_word64(2) >> 52, 12), 3),
                    (false, true) => ((w1 >> 52, 12), 2),
                    _ => ((w1 >> 56, 8), 2),
                };
                out[i] = d.z[j];
                i += 1;
                rng.skip_u64(words);
                rng.set_reservoir(reservoir.0, reservoir.1);
                j += words;
            } else {
                out[i] = self.sample(rng);
                i += 1;
                let at = rng.position() - start;
                if !at.is_multiple_of(2) {
                    break; // off the 64-bit grid: decide anew
                }
                j = (at / 2) as usize;
            }
            if j >= n {
                break;
            }
        }
        i
    }

    /// Whether the batch path applies to this scale.
    #[cfg(test)]
    pub(super) fn has_batch(&self) -> bool {
        self.batch.is_some()
    }

    /// The batch constants (tests).
    #[cfg(test)]
    pub(super) fn batch(&self) -> Option<Batch> {
        self.batch
    }
}

/// How [`Laplace::fill`] decides its words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Path {
    /// Eight words at once (AVX-512F, DQ, BW and VBMI).
    Avx512,
    /// One word at a time: the scalar twin of the lanes, for the tests (it
    /// measured slower than [`Path::Sample`]: 16.7 against 13.2 ms for 1.32
    /// million samples).
    #[cfg(test)]
    Portable,
    /// No batch: one [`Laplace::sample`] after another (CPUs without AVX-512).
    Sample,
}

impl Path {
    #[inline]
    fn detect() -> Path {
        #[cfg(target_arch = "x86_64")]
        if x86::available() {
            return Path::Avx512;
        }
        Path::Sample
    }

    /// Every path this CPU runs (for the tests).
    #[cfg(test)]
    pub(super) fn available() -> Vec<Path> {
        let mut paths = vec![Path::Sample, Path::Portable];
        if Path::detect() == Path::Avx512 {
            paths.push(Path::Avx512);
        }
        paths
    }
}

/// [`Batch::decide`] on the first `n <= WINDOW` 64-bit words of `words` (the
/// words after them serve as the next words of the last ones).
#[inline(always)]
fn decide_words(path: Path, batch: &Batch, words: &[u32], n: usize, out: &mut Decided) {
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx512 {
        // SAFETY: Path::Avx512 is only chosen when the CPU has AVX-512F, DQ,
        // BW and VBMI (Path::detect, Path::available).
        unsafe { x86::decide_words(batch, words, n, out) };
        return;
    }
    let _ = path;
    out.open = 0;
    out.vwide = 0;
    out.iwide = 0;
    for j in 0..n {
        let w = word_at(words, j).expect("n words");
        match batch.decide(w, word_at(words, j + 1), word_at(words, j + 2)) {
            Some(d) => {
                out.z[j] = d.z;
                // I's draw leaves 12 bits; V's alone, 8.
                let iwide = d.reservoir.1 == 12;
                out.iwide |= u128::from(iwide) << j;
                out.vwide |= u128::from(d.words == 3 || (d.words == 2 && !iwide)) << j;
            }
            None => out.open |= 1 << j,
        }
    }
}

/// [`Batch::decide`] on eight words (and the two after them), by the AVX-512
/// lanes, for the tests.
#[cfg(all(test, target_arch = "x86_64"))]
pub(super) fn decide_lanes(batch: &Batch, words: &[u32; 20]) -> [Option<Decision>; 8] {
    assert!(x86::available(), "this CPU has no AVX-512");
    let mut d = Decided::new();
    // SAFETY: just checked.
    unsafe { x86::decide_words(batch, words, 8, &mut d) };
    core::array::from_fn(|j| {
        let (v, i) = ((d.vwide >> j) & 1, (d.iwide >> j) & 1);
        let w = |k: usize| word_at(words, j + k).expect("10 words");
        (d.open >> j & 1 == 0).then_some(Decision {
            z: d.z[j],
            words: 1 + (v + i) as u8,
            reservoir: match (v, i) {
                (0, 0) => (0, 0),
                (1, 1) => (w(2) >> 52, 12),
                (0, 1) => (w(1) >> 52, 12),
                _ => (w(1) >> 56, 8),
            },
        })
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! [`Batch::decide`] on eight words at once.

    use std::arch::x86_64::*;

    use super::{
        Batch, Decided, EXP_NEG_WHOLE, EXP_NEG_WHOLE_TOP, GUIDE_BITS, TRUNC_GEOM_CDF,
        TRUNC_GEOM_GUIDE, WINDOW,
    };

    /// The guide table widened to 32 bits, for the gather.
    static GUIDE32: [u32; TRUNC_GEOM_GUIDE.len()] = {
        let mut t = [0u32; TRUNC_GEOM_GUIDE.len()];
        let mut i = 0;
        while i < t.len() {
            t[i] = TRUNC_GEOM_GUIDE[i] as u32;
            i += 1;
        }
        t
    };

    /// For each first byte b of a word: V when the byte decides it; for the
    /// top byte of e^-(idx+1) (idx < 5), CODE_WIDE | idx (then V is idx or
    /// idx + 1, by the next word); CODE_OPEN for b = 0 (V >= 5).
    static BYTE_CODE: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            let mut v = 0;
            let mut code = 0;
            let mut idx = 0;
            while idx < EXP_NEG_WHOLE_TOP.len() {
                let top = EXP_NEG_WHOLE_TOP[idx] as usize;
                if b == top {
                    code = CODE_WIDE as u8 | idx as u8;
                }
                if b < top {
                    v += 1;
                }
                idx += 1;
            }
            t[b] = if b == 0 {
                CODE_OPEN as u8
            } else if code != 0 {
                code
            } else {
                v
            };
            b += 1;
        }
        t
    };
    const CODE_V: i64 = 0x07;
    const CODE_OPEN: i64 = 0x40;
    const CODE_WIDE: i64 = 0x80;

    #[inline]
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
    }

    /// Lanes of [`Batch::decide`] on words `w`, next words `w1`, `w2`
    /// (`known1`, `known2`: the lanes whose next words exist): the samples,
    /// and masks of the lanes left open, of those whose V took the next
    /// word, and of those whose I took the next word not used yet.
    /// `EXACT`: the floor's bounds are [`Laplace::sample`]'s own (d = 0).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vbmi")]
    fn lanes<const EXACT: bool>(
        batch: &Batch,
        w: __m512i,
        (w1, known1): (__m512i, __mmask8),
        (w2, known2): (__m512i, __mmask8),
    ) -> (__m512i, __mmask8, __mmask8, __mmask8) {
        let zero = _mm512_setzero_si512();
        let one = _mm512_set1_epi64(1);
        let low56 = _mm512_set1_epi64((1 << 56) - 1);
        let low52 = _mm512_set1_epi64((1 << 52) - 1);
        // V: decided by the byte, or by the entry e whose top byte it is
        // (BYTE_CODE, looked up 64 bytes at a time: only byte 0 of a lane counts).
        // SAFETY (the four loads): 64 bytes each, inside the 256 of BYTE_CODE.
        let t = |q: usize| unsafe { _mm512_loadu_si512(BYTE_CODE.as_ptr().add(64 * q).cast()) };
        let low = _mm512_permutex2var_epi8(t(0), w, t(1));
        let high = _mm512_permutex2var_epi8(t(2), w, t(3));
        let code = _mm512_and_si512(
            _mm512_mask_blend_epi8(_mm512_movepi8_mask(w), low, high),
            _mm512_set1_epi64(0xff),
        );
        let mut open = _mm512_test_epi64_mask(code, _mm512_set1_epi64(CODE_OPEN));
        let vwide = _mm512_test_epi64_mask(code, _mm512_set1_epi64(CODE_WIDE));
        let mut v = _mm512_and_si512(code, _mm512_set1_epi64(CODE_V));
        // SAFETY: EXP_NEG_WHOLE holds 44 entries: the first 8 are read.
        let e8 = unsafe { _mm512_loadu_si512(EXP_NEG_WHOLE.as_ptr().cast()) };
        let e = _mm512_permutexvar_epi64(v, e8);
        let b = _mm512_and_si512(w, _mm512_set1_epi64(0xff));
        let x1 = _mm512_or_si512(_mm512_slli_epi64::<56>(b), _mm512_and_si512(w1, low56));
        open |= vwide & !known1;
        open |= vwide & _mm512_cmpeq_epu64_mask(x1, e);
        v = _mm512_mask_add_epi64(v, vwide & _mm512_cmplt_epu64_mask(x1, e), v, one);
        // I: decided by the slot, or by the CDF value c inside it.
        let slot = _mm512_and_si512(
            _mm512_srli_epi64::<8>(w),
            _mm512_set1_epi64((1 << GUIDE_BITS) - 1),
        );
        // SAFETY: every slot is below 4096 = GUIDE32.len(), so every lane
        // reads 4 bytes inside the table.
        let entry = _mm512_cvtepu32_epi64(unsafe {
            _mm512_i64gather_epi32::<4>(slot, GUIDE32.as_ptr().cast())
        });
        let iwide = _mm512_test_epi64_mask(entry, _mm512_set1_epi64(0x100));
        let mut i = _mm512_and_si512(entry, _mm512_set1_epi64(0xff));
        // SAFETY: only the lanes of `iwide` read, at index i <= 254 (a slot
        // holding c_(i+1) has i values below it): inside the 255 entries.
        let c = unsafe {
            _mm512_mask_i64gather_epi64::<8>(zero, iwide, i, TRUNC_GEOM_CDF.as_ptr().cast())
        };
        // The next word not used yet: w1, or w2 after V's.
        let wi = _mm512_mask_mov_epi64(w1, vwide, w2);
        let known_i = (known1 & !vwide) | (known2 & vwide);
        let x2 = _mm512_or_si512(
            _mm512_slli_epi64::<{ 64 - GUIDE_BITS }>(slot),
            _mm512_and_si512(wi, low52),
        );
        open |= iwide & !known_i;
        open |= iwide & _mm512_cmpeq_epu64_mask(x2, c);
        i = _mm512_mask_add_epi64(i, iwide & _mm512_cmpgt_epu64_mask(x2, c), i, one);
        // The acceptance bits, the sign, the floor.
        open |= _mm512_testn_epi64_mask(w, _mm512_set1_epi64(0xff << 20));
        let negative = _mm512_test_epi64_mask(w, _mm512_set1_epi64(1 << 28));
        let g = _mm512_srlv_epi64(w, _mm512_set1_epi64(i64::from(64 - batch.g_bits)));
        let k = _mm512_or_si512(_mm512_slli_epi64::<8>(v), i);
        let x = _mm512_or_si512(
            _mm512_sllv_epi64(k, _mm512_set1_epi64(i64::from(batch.g_bits))),
            g,
        );
        let lo = _mm512_mullo_epi64(x, _mm512_set1_epi64(batch.num_lo as i64));
        let hi = if EXACT {
            // num_hi = num_lo = num: num·(x + 1) - 1 = lo + num - 1.
            _mm512_add_epi64(lo, _mm512_set1_epi64(batch.num_lo as i64 - 1))
        } else {
            _mm512_sub_epi64(
                _mm512_mullo_epi64(
                    _mm512_add_epi64(x, one),
                    _mm512_set1_epi64(batch.num_hi as i64),
                ),
                one,
            )
        };
        // Shifts of 64 or more give 0, as checked_shr's fallback does.
        let shift = _mm512_set1_epi64(i64::from(batch.shift));
        let y = _mm512_srlv_epi64(lo, shift);
        open |= _mm512_cmpneq_epu64_mask(y, _mm512_srlv_epi64(hi, shift));
        open |= negative & _mm512_cmpeq_epu64_mask(y, zero);
        let z = _mm512_mask_sub_epi64(y, negative, zero, y);
        (z, open, vwide, iwide)
    }

    /// [`Batch::decide`] on the first `n <= WINDOW` 64-bit words of `words`,
    /// eight at a time (the words after them serve as the next words of the
    /// last ones; lanes past the window are not used).
    ///
    /// # Safety
    /// The CPU must have AVX-512F, DQ, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vbmi")]
    pub(super) unsafe fn decide_words(batch: &Batch, words: &[u32], n: usize, out: &mut Decided) {
        debug_assert!(n <= WINDOW && 2 * n <= words.len());
        let have = words.len() / 2; // 64-bit words known
        let base = words.as_ptr().cast::<i64>();
        let (mut open, mut vwide, mut iwide) = (0u128, 0u128, 0u128);
        let exact = batch.num_lo == batch.num_hi;
        for g in 0..n.div_ceil(8) {
            let at = 8 * g;
            // Lanes whose word `ahead` places on exists: the others load
            // nothing (a masked load does not touch masked-off memory) and
            // count as unknown.
            let known = |ahead: usize| -> __mmask8 {
                let k = have.saturating_sub(at + ahead).min(8);
                ((1u32 << k) - 1) as __mmask8
            };
            // (Masked loads even where every lane is known: measured faster
            // than plain loads here.)
            let (k0, k1, k2) = (known(0), known(1), known(2));
            // SAFETY: the lanes of k_a read 64-bit words at + a + lane <
            // have, inside `words`; masked-off lanes are not accessed, and
            // loadu takes any alignment.
            let (w, w1, w2) = unsafe {
                (
                    _mm512_maskz_loadu_epi64(k0, base.add(at)),
                    _mm512_maskz_loadu_epi64(k1, base.add(at + 1)),
                    _mm512_maskz_loadu_epi64(k2, base.add(at + 2)),
                )
            };
            let (z, lanes_open, lanes_vwide, lanes_iwide) = if exact {
                lanes::<true>(batch, w, (w1, k1), (w2, k2))
            } else {
                lanes::<false>(batch, w, (w1, k1), (w2, k2))
            };
            // SAFETY: group g < WINDOW / 8 writes z[8g..8g + 8], inside `out.z`.
            unsafe { _mm512_storeu_si512(out.z.as_mut_ptr().add(at).cast(), z) };
            open |= u128::from(lanes_open) << at;
            vwide |= u128::from(lanes_vwide) << at;
            iwide |= u128::from(lanes_iwide) << at;
        }
        // Lanes past the last word are not words of the window.
        let keep = u128::MAX.checked_shr((WINDOW - n) as u32).unwrap_or(0);
        out.open = open & keep;
        let decided = keep & !out.open;
        out.vwide = vwide & decided;
        out.iwide = iwide & decided;
    }
}
