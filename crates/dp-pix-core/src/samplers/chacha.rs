//! The ChaCha20 block function (Bernstein 2008), many blocks per call.
//!
//! The variant of the original paper and of `rand_chacha`: a 64-bit block
//! counter in state words 12–13 and a 64-bit nonce (the stream) in words
//! 14–15; 20 rounds. The keystream is a sequence of 32-bit words, block after
//! block. Three backends compute the same words, chosen at run time:
//!
//! * AVX-512: 16 blocks at once, one block per 32-bit lane of a 512-bit vector;
//! * AVX2: 8 blocks at once, one per lane of a 256-bit vector;
//! * portable: one block at a time, in plain integer code.
//!
//! The vector backends keep the state "vertically" (vector `i` holds word `i`
//! of every block), so the rounds need no shuffles; the 16 result vectors are
//! transposed into block order once at the end. The tests check every
//! backend against the published keystream and against `rand_chacha`.

/// 32-bit words in a ChaCha block.
pub(crate) const BLOCK_WORDS: usize = 16;

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The ways of computing blocks on this CPU, widest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// 16 blocks at once (AVX-512F).
    Avx512,
    /// 8 blocks at once (AVX2).
    Avx2,
    /// One block at a time, any CPU.
    Portable,
}

impl Backend {
    /// The widest backend this CPU runs (detected once; cached by std).
    #[inline]
    pub(crate) fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Backend::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Backend::Avx2;
            }
        }
        Backend::Portable
    }

    /// Every backend this CPU runs (for the tests).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Backend> {
        let all = [Backend::Avx512, Backend::Avx2, Backend::Portable];
        let widest = all.iter().position(|&b| b == Backend::detect()).unwrap();
        all[widest..].to_vec()
    }

    /// Blocks computed by one pass of the backend.
    #[inline]
    pub(crate) fn pass_blocks(self) -> usize {
        match self {
            Backend::Avx512 => 16,
            Backend::Avx2 => 8,
            // Any count works; four blocks keep a refill's overhead small.
            Backend::Portable => 4,
        }
    }
}

/// The most blocks any backend computes in one pass.
pub(crate) const MAX_PASS_BLOCKS: usize = 16;

/// A ChaCha20 key, stream and position (the next block to compute).
#[derive(Clone)]
pub(crate) struct ChaCha20 {
    key: [u32; 8],
    counter: u64,
    stream: u64,
}

impl std::fmt::Debug for ChaCha20 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("ChaCha20").finish_non_exhaustive()
    }
}

impl ChaCha20 {
    /// The keystream of `key` (read as eight little-endian words) on
    /// `stream`, from block 0.
    pub(crate) fn new(key: &[u8; 32], stream: u64) -> ChaCha20 {
        let key = core::array::from_fn(|i| {
            u32::from_le_bytes(key[4 * i..4 * i + 4].try_into().expect("4 bytes"))
        });
        ChaCha20 {
            key,
            counter: 0,
            stream,
        }
    }

    /// The key as eight words.
    pub(crate) fn key_words(&self) -> &[u32; 8] {
        &self.key
    }

    /// The keystream of the key of eight words `key` on stream 0, from block 0.
    pub(crate) fn from_words(key: &[u32; 8]) -> ChaCha20 {
        ChaCha20 {
            key: *key,
            counter: 0,
            stream: 0,
        }
    }

    /// The 32 bytes of the key.
    pub(crate) fn key_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, w) in out.chunks_exact_mut(4).zip(self.key) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Continue from block number `block`.
    pub(crate) fn seek(&mut self, block: u64) {
        self.counter = block;
    }

    /// The next `out.len() / 16` blocks of the keystream into `out` (its
    /// length a multiple of 16), with `backend` (which this CPU must run:
    /// one of [`Backend::available`]; [`Backend::detect`] in production).
    #[inline]
    pub(crate) fn blocks(&mut self, backend: Backend, out: &mut [u32]) {
        assert_eq!(out.len() % BLOCK_WORDS, 0, "whole blocks");
        let mut rest = out;
        while !rest.is_empty() {
            let n = rest.len() / BLOCK_WORDS;
            let done = match backend {
                #[cfg(target_arch = "x86_64")]
                Backend::Avx512 if n >= 16 => {
                    let (head, _) = rest.split_at_mut(16 * BLOCK_WORDS);
                    let head: &mut [u32; 256] = head.try_into().expect("16 blocks");
                    // SAFETY: Backend::Avx512 is only chosen (detect, available)
                    // when the CPU has AVX-512F.
                    unsafe { x86::blocks16_avx512(&self.key, self.counter, self.stream, head) };
                    16
                }
                #[cfg(target_arch = "x86_64")]
                Backend::Avx512 | Backend::Avx2 if n >= 8 => {
                    let (head, _) = rest.split_at_mut(8 * BLOCK_WORDS);
                    let head: &mut [u32; 128] = head.try_into().expect("8 blocks");
                    // SAFETY: both backends are only chosen when the CPU has
                    // AVX2 (every AVX-512 CPU has it).
                    unsafe { x86::blocks8_avx2(&self.key, self.counter, self.stream, head) };
                    8
                }
                _ => {
                    let head: &mut [u32; 16] =
                        (&mut rest[..BLOCK_WORDS]).try_into().expect("one block");
                    block_portable(&self.key, self.counter, self.stream, head);
                    1
                }
            };
            self.counter = self.counter.wrapping_add(done as u64);
            rest = &mut rest[done * BLOCK_WORDS..];
        }
    }
}

/// What [`row_prefixes`] hands over: a row's key, or block b of a row's keystream.
pub(crate) enum RowPrefix<'a> {
    Key(usize, &'a [u32; 8]),
    Block(usize, usize, &'a [u32; 16]),
}

/// The keystreams of the cell rows of one image, started at once: row r's
/// key is the first 8 words of block r of the keystream of `key` on
/// `stream` (as `row_stream` derives it), and its own keystream runs on
/// stream 0. `emit` receives each row's key (rows in order), then each of its
/// first `blocks` blocks (in any order, after its key).
///
/// With AVX-512 the keys of 16 rows come from one pass, and their blocks
/// 16 (row, block) pairs a pass, the key words of each lane permuted from
/// that pass's output without leaving the vector registers; elsewhere one
/// block at a time.
pub(crate) fn row_prefixes(
    backend: Backend,
    key: &[u32; 8],
    stream: u64,
    rows: usize,
    blocks: usize,
    emit: &mut dyn FnMut(RowPrefix),
) {
    #[cfg(target_arch = "x86_64")]
    if backend == Backend::Avx512 {
        // SAFETY: Backend::Avx512 is only chosen when the CPU has AVX-512F.
        unsafe { x86::row_prefixes_avx512(key, stream, rows, blocks, emit) };
        return;
    }
    let _ = backend;
    let mut block = [0u32; 16];
    for r in 0..rows {
        block_portable(key, r as u64, stream, &mut block);
        let row_key: [u32; 8] = block[..8].try_into().expect("8 words");
        emit(RowPrefix::Key(r, &row_key));
        for b in 0..blocks {
            let mut out = [0u32; 16];
            block_portable(&row_key, b as u64, 0, &mut out);
            emit(RowPrefix::Block(r, b, &out));
        }
    }
}

/// The 16 input words of block `counter`.
#[inline(always)]
fn initial_state(key: &[u32; 8], counter: u64, stream: u64) -> [u32; 16] {
    [
        SIGMA[0],
        SIGMA[1],
        SIGMA[2],
        SIGMA[3],
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        counter as u32,
        (counter >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ]
}

/// The quarter round on words a, b, c, d of a state (scalar).
#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

/// One block, in plain integer code.
fn block_portable(key: &[u32; 8], counter: u64, stream: u64, out: &mut [u32; 16]) {
    let input = initial_state(key, counter, stream);
    let mut x = input;
    for _ in 0..10 {
        quarter_round(&mut x, 0, 4, 8, 12);
        quarter_round(&mut x, 1, 5, 9, 13);
        quarter_round(&mut x, 2, 6, 10, 14);
        quarter_round(&mut x, 3, 7, 11, 15);
        quarter_round(&mut x, 0, 5, 10, 15);
        quarter_round(&mut x, 1, 6, 11, 12);
        quarter_round(&mut x, 2, 7, 8, 13);
        quarter_round(&mut x, 3, 4, 9, 14);
    }
    for (o, (x, i)) in out.iter_mut().zip(x.iter().zip(input)) {
        *o = x.wrapping_add(i);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The vector backends: one block per 32-bit lane.

    use std::arch::x86_64::*;

    use super::{initial_state, RowPrefix, SIGMA};

    /// Lane i of the counter words: block `counter + i` (the counter is
    /// 64-bit and wraps, as in rand_chacha).
    #[inline(always)]
    fn counters<const N: usize>(counter: u64) -> ([u32; N], [u32; N]) {
        let c = |i: usize| counter.wrapping_add(i as u64);
        (
            core::array::from_fn(|i| c(i) as u32),
            core::array::from_fn(|i| (c(i) >> 32) as u32),
        )
    }

    /// The double rounds on a vertical state, for any vector type: `add`,
    /// `xor` and `rot::<n>` (rotate left by n) on vectors of 32-bit lanes.
    macro_rules! double_rounds {
        ($x:ident, $add:expr, $xor:expr, $rot16:expr, $rot12:expr, $rot8:expr, $rot7:expr) => {{
            macro_rules! qr {
                ($a:expr, $b:expr, $c:expr, $d:expr) => {
                    $x[$a] = $add($x[$a], $x[$b]);
                    $x[$d] = $rot16($xor($x[$d], $x[$a]));
                    $x[$c] = $add($x[$c], $x[$d]);
                    $x[$b] = $rot12($xor($x[$b], $x[$c]));
                    $x[$a] = $add($x[$a], $x[$b]);
                    $x[$d] = $rot8($xor($x[$d], $x[$a]));
                    $x[$c] = $add($x[$c], $x[$d]);
                    $x[$b] = $rot7($xor($x[$b], $x[$c]));
                };
            }
            for _ in 0..10 {
                qr!(0, 4, 8, 12);
                qr!(1, 5, 9, 13);
                qr!(2, 6, 10, 14);
                qr!(3, 7, 11, 15);
                qr!(0, 5, 10, 15);
                qr!(1, 6, 11, 12);
                qr!(2, 7, 8, 13);
                qr!(3, 4, 9, 14);
            }
        }};
    }

    /// Blocks `counter .. counter + 16` into `out`, block after block.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn blocks16_avx512(
        key: &[u32; 8],
        counter: u64,
        stream: u64,
        out: &mut [u32; 256],
    ) {
        let words = initial_state(key, 0, stream);
        let (lo, hi) = counters::<16>(counter);
        let input: [__m512i; 16] = core::array::from_fn(|i| match i {
            // SAFETY (both loads): 16 u32 are 64 bytes; loadu takes any alignment.
            12 => unsafe { _mm512_loadu_si512(lo.as_ptr().cast()) },
            13 => unsafe { _mm512_loadu_si512(hi.as_ptr().cast()) },
            _ => _mm512_set1_epi32(words[i] as i32),
        });
        let mut x = input;
        double_rounds!(
            x,
            |a, b| _mm512_add_epi32(a, b),
            |a, b| _mm512_xor_si512(a, b),
            |a| _mm512_rol_epi32::<16>(a),
            |a| _mm512_rol_epi32::<12>(a),
            |a| _mm512_rol_epi32::<8>(a),
            |a| _mm512_rol_epi32::<7>(a)
        );
        for (x, i) in x.iter_mut().zip(input) {
            *x = _mm512_add_epi32(*x, i);
        }
        let dst = out.as_mut_ptr().cast::<__m512i>();
        for (b, v) in transpose16(x).into_iter().enumerate() {
            // SAFETY: block b < 16 lies within `out` (256 words = 16
            // vectors); storeu takes any alignment.
            unsafe { _mm512_storeu_si512(dst.add(b), v) };
        }
    }

    /// The 16×16 transpose of 32-bit words: row i of the result holds lane
    /// i of every input vector, in order. (From "vector w holds word w of
    /// 16 blocks" to "vector b holds block b", and back.) First a 4×4
    /// transpose inside each 128-bit lane of every group of four rows,
    /// then the 128-bit lanes across groups.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(x: [__m512i; 16]) -> [__m512i; 16] {
        let mut t = [_mm512_setzero_si512(); 16];
        for g in 0..4 {
            let r = &x[4 * g..4 * g + 4];
            let a = _mm512_unpacklo_epi32(r[0], r[1]);
            let b = _mm512_unpackhi_epi32(r[0], r[1]);
            let c = _mm512_unpacklo_epi32(r[2], r[3]);
            let d = _mm512_unpackhi_epi32(r[2], r[3]);
            // t[4g + j], 128-bit lane L: lane 4L + j of rows 4g..4g+4.
            t[4 * g] = _mm512_unpacklo_epi64(a, c);
            t[4 * g + 1] = _mm512_unpackhi_epi64(a, c);
            t[4 * g + 2] = _mm512_unpacklo_epi64(b, d);
            t[4 * g + 3] = _mm512_unpackhi_epi64(b, d);
        }
        let mut out = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let (u0, u1, u2, u3) = (t[j], t[4 + j], t[8 + j], t[12 + j]);
            let a = _mm512_shuffle_i32x4::<0x44>(u0, u1); // u0.l0 u0.l1 u1.l0 u1.l1
            let b = _mm512_shuffle_i32x4::<0x44>(u2, u3);
            let c = _mm512_shuffle_i32x4::<0xee>(u0, u1); // u0.l2 u0.l3 u1.l2 u1.l3
            let d = _mm512_shuffle_i32x4::<0xee>(u2, u3);
            // Lane 4L + j of every row = 128-bit lane L of u0, u1, u2, u3.
            out[j] = _mm512_shuffle_i32x4::<0x88>(a, b);
            out[4 + j] = _mm512_shuffle_i32x4::<0xdd>(a, b);
            out[8 + j] = _mm512_shuffle_i32x4::<0x88>(c, d);
            out[12 + j] = _mm512_shuffle_i32x4::<0xdd>(c, d);
        }
        out
    }

    /// [`super::row_prefixes`] with AVX-512.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row_prefixes_avx512(
        key: &[u32; 8],
        stream: u64,
        rows: usize,
        blocks: usize,
        emit: &mut dyn FnMut(RowPrefix),
    ) {
        let rounds = |input: [__m512i; 16]| -> [__m512i; 16] {
            let mut x = input;
            double_rounds!(
                x,
                |a, b| _mm512_add_epi32(a, b),
                |a, b| _mm512_xor_si512(a, b),
                |a| _mm512_rol_epi32::<16>(a),
                |a| _mm512_rol_epi32::<12>(a),
                |a| _mm512_rol_epi32::<8>(a),
                |a| _mm512_rol_epi32::<7>(a)
            );
            core::array::from_fn(|i| _mm512_add_epi32(x[i], input[i]))
        };
        let mut words = [0u32; 16];
        for first in (0..rows).step_by(16) {
            let group = (rows - first).min(16);
            // The keys of rows first..first + 16: blocks of the image's stream.
            let prf = initial_state(key, 0, stream);
            let (lo, hi) = counters::<16>(first as u64);
            let input: [__m512i; 16] = core::array::from_fn(|i| match i {
                // SAFETY (both loads): 16 u32 are 64 bytes; loadu takes any alignment.
                12 => unsafe { _mm512_loadu_si512(lo.as_ptr().cast()) },
                13 => unsafe { _mm512_loadu_si512(hi.as_ptr().cast()) },
                _ => _mm512_set1_epi32(prf[i] as i32),
            });
            // keys[j], lane l: word j of row first + l's key.
            let keys = rounds(input);
            for (l, v) in transpose16(keys).into_iter().enumerate().take(group) {
                // SAFETY: 16 u32 are 64 bytes; storeu takes any alignment.
                unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) };
                emit(RowPrefix::Key(
                    first + l,
                    words[..8].try_into().expect("8 words"),
                ));
            }
            // The (row, block) pairs of the group, 16 a pass.
            let pairs = group * blocks;
            for start in (0..pairs).step_by(16) {
                let lanes = (pairs - start).min(16);
                // Unused lanes repeat the first pair; they are not emitted.
                let pair = |l: usize| if l < lanes { start + l } else { start };
                let row: [u32; 16] = core::array::from_fn(|l| (pair(l) / blocks) as u32);
                let block: [u32; 16] = core::array::from_fn(|l| (pair(l) % blocks) as u32);
                // SAFETY (both loads): 16 u32 are 64 bytes; loadu takes any alignment.
                let (row_v, block_v) = unsafe {
                    (
                        _mm512_loadu_si512(row.as_ptr().cast()),
                        _mm512_loadu_si512(block.as_ptr().cast()),
                    )
                };
                let zero = _mm512_setzero_si512();
                let input: [__m512i; 16] = core::array::from_fn(|i| match i {
                    0..=3 => _mm512_set1_epi32(SIGMA[i] as i32),
                    4..=11 => _mm512_permutexvar_epi32(row_v, keys[i - 4]),
                    12 => block_v,
                    _ => zero, // counter high word, stream 0
                });
                for (l, v) in transpose16(rounds(input))
                    .into_iter()
                    .enumerate()
                    .take(lanes)
                {
                    // SAFETY: 16 u32 are 64 bytes; storeu takes any alignment.
                    unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) };
                    emit(RowPrefix::Block(
                        first + row[l] as usize,
                        block[l] as usize,
                        &words,
                    ));
                }
            }
        }
    }

    /// Blocks `counter .. counter + 8` into `out`, block after block.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blocks8_avx2(
        key: &[u32; 8],
        counter: u64,
        stream: u64,
        out: &mut [u32; 128],
    ) {
        let words = initial_state(key, 0, stream);
        let (lo, hi) = counters::<8>(counter);
        let input: [__m256i; 16] = core::array::from_fn(|i| match i {
            // SAFETY (both loads): 8 u32 are 32 bytes; loadu takes any alignment.
            12 => unsafe { _mm256_loadu_si256(lo.as_ptr().cast()) },
            13 => unsafe { _mm256_loadu_si256(hi.as_ptr().cast()) },
            _ => _mm256_set1_epi32(words[i] as i32),
        });
        // Rotations by whole bytes are byte shuffles.
        let r16 = _mm256_set_epi8(
            13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10, 5,
            4, 7, 6, 1, 0, 3, 2,
        );
        let r8 = _mm256_set_epi8(
            14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3, 14, 13, 12, 15, 10, 9, 8, 11, 6,
            5, 4, 7, 2, 1, 0, 3,
        );
        let mut x = input;
        double_rounds!(
            x,
            |a, b| _mm256_add_epi32(a, b),
            |a, b| _mm256_xor_si256(a, b),
            |a| _mm256_shuffle_epi8(a, r16),
            |a| _mm256_or_si256(_mm256_slli_epi32::<12>(a), _mm256_srli_epi32::<20>(a)),
            |a| _mm256_shuffle_epi8(a, r8),
            |a| _mm256_or_si256(_mm256_slli_epi32::<7>(a), _mm256_srli_epi32::<25>(a))
        );
        for (x, i) in x.iter_mut().zip(input) {
            *x = _mm256_add_epi32(*x, i);
        }
        // Transpose each half (words 0..8, 8..16) as an 8×8 matrix: a 4×4
        // transpose inside the 128-bit lanes, then the lanes across groups.
        let dst = out.as_mut_ptr().cast::<__m256i>();
        for half in 0..2 {
            let mut t = [_mm256_setzero_si256(); 8];
            for g in 0..2 {
                let r = &x[8 * half + 4 * g..8 * half + 4 * g + 4];
                let a = _mm256_unpacklo_epi32(r[0], r[1]);
                let b = _mm256_unpackhi_epi32(r[0], r[1]);
                let c = _mm256_unpacklo_epi32(r[2], r[3]);
                let d = _mm256_unpackhi_epi32(r[2], r[3]);
                t[4 * g] = _mm256_unpacklo_epi64(a, c);
                t[4 * g + 1] = _mm256_unpackhi_epi64(a, c);
                t[4 * g + 2] = _mm256_unpacklo_epi64(b, d);
                t[4 * g + 3] = _mm256_unpackhi_epi64(b, d);
            }
            for j in 0..4 {
                // Block 4L + j: lane L of t[j] (words 0..4 of the half) and
                // of t[4 + j] (words 4..8).
                let low = _mm256_permute2x128_si256::<0x20>(t[j], t[4 + j]);
                let high = _mm256_permute2x128_si256::<0x31>(t[j], t[4 + j]);
                // SAFETY: block b < 8 has its half at vector 2·b + half < 16
                // of `out` (128 words); storeu takes any alignment.
                unsafe {
                    _mm256_storeu_si256(dst.add(2 * j + half), low);
                    _mm256_storeu_si256(dst.add(2 * (4 + j) + half), high);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The keystream of rand_chacha's ChaCha20Rng for `key` on `stream`,
    /// from block `block`, `words` words.
    fn reference(key: &[u8; 32], stream: u64, block: u64, words: usize) -> Vec<u32> {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(*key);
        rng.set_stream(stream);
        rng.set_word_pos(u128::from(block) * 16);
        (0..words).map(|_| rng.next_u32()).collect()
    }

    #[test]
    fn the_published_keystream() {
        // ChaCha20 with the all-zero key and nonce, block 0 and block 1
        // (draft-agl-tls-chacha20poly1305-04, section 7; 64-bit nonce).
        let want_hex = "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7\
                        da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586\
                        9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed\
                        29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";
        let want: Vec<u8> = (0..want_hex.len() / 2)
            .map(|i| u8::from_str_radix(&want_hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        for backend in Backend::available() {
            let mut c = ChaCha20::new(&[0u8; 32], 0);
            let mut out = vec![0u32; 16 * 16];
            c.blocks(backend, &mut out);
            let bytes: Vec<u8> = out.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(&bytes[..128], &want[..], "{backend:?}");
        }
    }

    #[test]
    fn every_backend_gives_rand_chacha_keystream() {
        let mut gen = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        for case in 0..40 {
            let mut key = [0u8; 32];
            gen.fill_bytes(&mut key);
            let stream = match case % 4 {
                0 => 0,
                1 => u64::MAX,
                _ => gen.next_u64(),
            };
            // Counters near the 32-bit and 64-bit wrap-arounds, and anywhere.
            let block = match case % 5 {
                0 => 0,
                1 => u64::from(u32::MAX) - 5,
                2 => u64::MAX - 3,
                3 => gen.next_u64(),
                _ => gen.next_u64() % 100,
            };
            let blocks = 1 + (gen.next_u32() % 40) as usize;
            let want = reference(&key, stream, block, 16 * blocks);
            for backend in Backend::available() {
                let mut c = ChaCha20::new(&key, stream);
                c.seek(block);
                let mut got = vec![0u32; 16 * blocks];
                c.blocks(backend, &mut got);
                assert_eq!(got, want, "{backend:?}, case {case}");
                // And the position moves on by as many blocks.
                let mut next = [0u32; 16];
                c.blocks(backend, &mut next);
                let after = reference(&key, stream, block.wrapping_add(blocks as u64), 16);
                assert_eq!(next.to_vec(), after, "{backend:?}, case {case}");
            }
            assert_eq!(ChaCha20::new(&key, stream).key_bytes(), key);
        }
    }

    #[test]
    fn row_prefixes_are_the_row_keystreams() {
        // Row r's key: the first 8 words of block r of (key, stream); its
        // blocks: its keystream on stream 0 — by rand_chacha, on every backend.
        let mut gen = rand_chacha::ChaCha8Rng::seed_from_u64(18);
        for (rows, blocks) in [
            (0usize, 3usize),
            (1, 1),
            (14, 2),
            (16, 1),
            (21, 10),
            (40, 3),
            (5, 0),
        ] {
            let mut key = [0u8; 32];
            gen.fill_bytes(&mut key);
            let stream = if rows % 2 == 0 {
                gen.next_u64()
            } else {
                u64::MAX
            };
            let key_words = ChaCha20::new(&key, 0).key;
            for backend in Backend::available() {
                let mut keys = vec![None; rows];
                let mut seen = vec![vec![None; blocks]; rows];
                row_prefixes(
                    backend,
                    &key_words,
                    stream,
                    rows,
                    blocks,
                    &mut |p| match p {
                        RowPrefix::Key(r, k) => {
                            assert!(keys[r].is_none(), "{backend:?}: row {r} keyed twice");
                            keys[r] = Some(*k);
                        }
                        RowPrefix::Block(r, b, w) => {
                            assert!(
                                keys[r].is_some(),
                                "{backend:?}: block {r}, {b} before the key"
                            );
                            assert!(seen[r][b].is_none(), "{backend:?}: block {r}, {b} twice");
                            seen[r][b] = Some(*w);
                        }
                    },
                );
                for r in 0..rows {
                    let want_key = reference(&key, stream, r as u64, 8);
                    let got_key = keys[r].expect("every row keyed");
                    assert_eq!(got_key.to_vec(), want_key, "{backend:?}: key of row {r}");
                    let row_key = ChaCha20::from_words(&got_key).key_bytes();
                    let want = reference(&row_key, 0, 0, 16 * blocks);
                    let got: Vec<u32> = seen[r]
                        .iter()
                        .flat_map(|w| w.expect("every block"))
                        .collect();
                    assert_eq!(got, want, "{backend:?}: blocks of row {r}, rows {rows}");
                }
            }
        }
    }

    #[test]
    fn this_cpu_runs_its_widest_backend() {
        // Not a check of the law: the test machine's backends, for the log.
        let b = Backend::detect();
        assert!(b.pass_blocks() <= MAX_PASS_BLOCKS);
        println!("ChaCha20 backend: {b:?}");
    }
}
