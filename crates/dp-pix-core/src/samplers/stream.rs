//! The streams of randomness: keys and ChaCha20 generators.
//!
//! A 256-bit key (the caller's seed, or fresh bytes from the operating system)
//! is expanded as a PRF into one generator per (image, cell row), so the noise
//! of a cell row never depends on which thread draws it or in which order. The
//! generator buffers a whole pass of the ChaCha20 block function (16 blocks
//! with AVX-512, 8 with AVX2: `chacha.rs`) and keeps a small reservoir of bits,
//! for the bit-thrifty discrete Laplace (which takes a few bits at a time).

use rand::SeedableRng;

use super::chacha::{row_prefixes, Backend, ChaCha20, RowPrefix, BLOCK_WORDS, MAX_PASS_BLOCKS};
use crate::{Error, Result};

/// A 256-bit secret key for [`row_stream`].
pub type Key = [u8; 32];

/// Words kept at the front of the buffer when it is refilled, so that a
/// reader can always see 8 consecutive 64-bit words ([`StreamRng::peek`]).
const CARRY_WORDS: usize = 16;
const BUF_WORDS: usize = CARRY_WORDS + MAX_PASS_BLOCKS * BLOCK_WORDS;

/// The generator every sampler in dp-pix draws from: the ChaCha20 keystream
/// (20 rounds, 64-bit counter and nonce, the keystream of
/// `rand_chacha::ChaCha20Rng` for the same key: tested), read as 32-bit
/// words in order, plus a small reservoir of bits for draws of a few bits at
/// a time (the discrete Laplace takes one 64-bit word a sample and, now and
/// then, a few more bits).
///
/// Words come straight from the keystream: `next_u32` takes the next word,
/// `next_u64` the next two (the first as the low half), `fill_bytes` whole
/// words in little-endian order (the unused bytes of a last, partial word are
/// dropped) — the order of `rand_chacha`, so every seeded stream is the same
/// as with it. [`StreamRng::bits`] takes bits from the reservoir, refilled
/// with a fresh 64-bit word when it runs short (the few bits left over are
/// dropped, never reused). Every bit is used at most once, so all draws stay
/// independent.
#[derive(Clone)]
pub struct StreamRng {
    chacha: ChaCha20,
    backend: Backend,
    /// Keystream words `index..end` are not used yet.
    buf: [u32; BUF_WORDS],
    index: usize,
    end: usize,
    /// Words used before `buf[0]`: the stream position is `used + index`.
    used: u64,
    reservoir: u64,
    available: u32,
}

impl std::fmt::Debug for StreamRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key or the keystream.
        f.debug_struct("StreamRng")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl StreamRng {
    /// The generator for `key` from the start of its keystream, computed with
    /// `backend` (one this CPU runs).
    fn with_backend(key: Key, backend: Backend) -> StreamRng {
        StreamRng::with_chacha(ChaCha20::new(&key, 0), backend)
    }

    /// The generator of the keystream `chacha`, computed with `backend`.
    fn with_chacha(chacha: ChaCha20, backend: Backend) -> StreamRng {
        StreamRng {
            chacha,
            backend,
            buf: [0; BUF_WORDS],
            index: 0,
            end: 0,
            used: 0,
            reservoir: 0,
            available: 0,
        }
    }

    /// Start over from the keystream `chacha` (as a fresh generator,
    /// keeping the buffer's memory).
    fn reset(&mut self, chacha: ChaCha20) {
        self.chacha = chacha;
        self.index = 0;
        self.end = 0;
        self.used = 0;
        self.reservoir = 0;
        self.available = 0;
    }

    /// The generator of [`SeedableRng::from_seed`], on every backend this CPU
    /// runs (for the tests: each must give the same words).
    #[cfg(test)]
    pub(crate) fn on_every_backend(key: Key) -> Vec<StreamRng> {
        Backend::available()
            .into_iter()
            .map(|b| StreamRng::with_backend(key, b))
            .collect()
    }

    /// A generator that gives `words` first (at most a buffer's worth), then
    /// the keystream of an all-zero key: for tests that need chosen words.
    #[cfg(test)]
    pub(crate) fn replay(words: &[u32]) -> StreamRng {
        let mut rng = StreamRng::from_seed([0; 32]);
        rng.buf[..words.len()].copy_from_slice(words);
        rng.end = words.len();
        rng
    }

    /// The reservoir: its bits not used yet (the low `available` bits of the
    /// first value) and how many they are.
    #[inline(always)]
    pub(crate) fn reservoir(&self) -> (u64, u32) {
        (self.reservoir, self.available)
    }

    /// Set the reservoir to `available` bits (the low ones of `bits`; the
    /// others zero) — what [`StreamRng::bits`] leaves after drawing the
    /// rest of the word they come from: for a reader that used that word
    /// without calling it (and the tests check the same state results).
    #[inline(always)]
    pub(crate) fn set_reservoir(&mut self, bits: u64, available: u32) {
        debug_assert!(available < 64 && bits >> available == 0);
        self.reservoir = bits;
        self.available = available;
    }

    /// The 32-byte key of the underlying ChaCha20.
    pub fn get_seed(&self) -> Key {
        self.chacha.key_bytes()
    }

    /// Compute one more pass of the keystream after the words not used yet
    /// (fewer than [`CARRY_WORDS`] of them), which move to the front.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) {
        let left = self.end - self.index;
        debug_assert!(left < CARRY_WORDS);
        self.buf.copy_within(self.index..self.end, 0);
        self.used += self.index as u64;
        let pass = self.backend.pass_blocks() * BLOCK_WORDS;
        self.chacha
            .blocks(self.backend, &mut self.buf[left..left + pass]);
        self.index = 0;
        self.end = left + pass;
    }

    /// The next keystream word.
    #[inline(always)]
    pub fn next_word(&mut self) -> u32 {
        if self.index == self.end {
            self.refill();
        }
        let v = self.buf[self.index];
        self.index += 1;
        v
    }

    /// The next two keystream words, the first as the low half.
    #[inline(always)]
    pub fn next_word64(&mut self) -> u64 {
        if self.end - self.index < 2 {
            self.refill();
        }
        let lo = self.buf[self.index];
        let hi = self.buf[self.index + 1];
        self.index += 2;
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// The keystream words not used yet, without using them (see
    /// [`StreamRng::skip_u64`]): at least 16 (8 values of
    /// [`StreamRng::next_word64`], as the little-endian bytes of 8 `u64`),
    /// computing more first if needed.
    #[inline(always)]
    pub(crate) fn peek(&mut self) -> &[u32] {
        if self.end - self.index < 16 {
            self.refill();
        }
        &self.buf[self.index..self.end]
    }

    /// The `k`-th 64-bit word from the position (0: the next), without
    /// using it; it must be among those [`StreamRng::peek`] showed.
    #[inline(always)]
    pub(crate) fn peek_word64(&self, k: usize) -> u64 {
        let at = self.index + 2 * k;
        assert!(at + 2 <= self.end, "peeking at unseen words");
        (u64::from(self.buf[at + 1]) << 32) | u64::from(self.buf[at])
    }

    /// Use `n` of the 64-bit words [`StreamRng::peek`] showed.
    #[inline(always)]
    pub(crate) fn skip_u64(&mut self, n: usize) {
        assert!(2 * n <= self.end - self.index, "skipping unseen words");
        self.index += 2 * n;
    }

    /// Keystream words used so far (32-bit words: a `next_word64` uses two).
    #[inline(always)]
    pub(crate) fn position(&self) -> u64 {
        self.used + self.index as u64
    }

    /// `k` fresh uniform bits, `1 <= k <= 32`, as the low bits of the result.
    #[inline(always)]
    pub fn bits(&mut self, k: u32) -> u64 {
        debug_assert!((1..=32).contains(&k));
        if self.available < k {
            self.reservoir = self.next_word64();
            self.available = 64;
        }
        let v = self.reservoir & ((1u64 << k) - 1);
        self.reservoir >>= k;
        self.available -= k;
        v
    }

    /// `k` fresh uniform bits, `1 <= k <= 64`.
    #[inline(always)]
    pub(crate) fn wide_bits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            self.bits(k)
        } else {
            self.bits(32) | (self.bits(k - 32) << 32)
        }
    }
}

impl rand::TryRng for StreamRng {
    type Error = std::convert::Infallible;
    #[inline]
    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        Ok(self.next_word())
    }
    #[inline]
    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        Ok(self.next_word64())
    }
    #[inline]
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        // Whole words in order; the rest of a last, partial word is dropped.
        for chunk in dst.chunks_mut(4) {
            let w = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand::TryCryptoRng for StreamRng {}

impl SeedableRng for StreamRng {
    type Seed = Key;
    fn from_seed(seed: Key) -> Self {
        StreamRng::with_backend(seed, Backend::detect())
    }
}

/// Fresh 32 random bytes from the operating system (getrandom); `Error::Os` on failure.
pub fn os_key() -> Result<Key> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Os(e.to_string()))?;
    Ok(key)
}

/// The generator for image `image`, cell row `row`, derived from `key` as a PRF.
///
/// The 32 bytes at the start of ChaCha20 block number `row` of the keystream
/// keyed by `key` with stream (64-bit nonce) `image` become the key of a fresh
/// [`StreamRng`]. Distinct `(image, row)` pairs read distinct keystream blocks,
/// so their generators are independent (as far as ChaCha20 is a PRF), and the
/// noise of a cell row never depends on which thread computes it or in which
/// order.
pub fn row_stream(key: &Key, image: u64, row: u64) -> StreamRng {
    let mut prf = ChaCha20::new(key, image);
    // The block counter is 64-bit, so every `row` has a block of its own.
    prf.seek(row);
    let mut block = [0u32; BLOCK_WORDS];
    prf.blocks(Backend::Portable, &mut block);
    StreamRng::from_seed(key_of_block(&block))
}

/// The first 32 bytes of a keystream block: a derived key.
fn key_of_block(block: &[u32]) -> Key {
    let mut k = [0u8; 32];
    for (chunk, w) in k.chunks_exact_mut(4).zip(block) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    k
}

/// The generators of [`row_stream`] for rows `0..rows` of image `image`
/// into `streams` (reusing the generators there; `keys` is scratch space),
/// each with the first `blocks` blocks of its keystream computed (at most a
/// buffer's worth, 16). With AVX-512 the rows' keys and those blocks come
/// 16 blocks a pass of the block function (`chacha::row_prefixes`), where
/// each generator alone would compute a pass of 16 blocks however few it
/// uses; elsewhere each computes its own, when first read. The words are
/// those of [`row_stream`].
pub fn row_streams(
    key: &Key,
    image: u64,
    rows: usize,
    blocks: usize,
    keys: &mut Vec<Key>,
    streams: &mut Vec<StreamRng>,
) {
    let backend = Backend::detect();
    let blocks = blocks.min(MAX_PASS_BLOCKS);
    streams.truncate(rows);
    if backend != Backend::Avx512 || blocks == 0 {
        // One pass per generator, when first read.
        row_keys(key, image, rows, keys);
        for (r, k) in keys.iter().enumerate() {
            match streams.get_mut(r) {
                Some(rng) => rng.reset(ChaCha20::new(k, 0)),
                None => streams.push(StreamRng::from_seed(*k)),
            }
        }
        return;
    }
    let key_words = *ChaCha20::new(key, image).key_words();
    row_prefixes(backend, &key_words, image, rows, blocks, &mut |p| match p {
        RowPrefix::Key(r, k) => {
            let chacha = ChaCha20::from_words(k);
            if r < streams.len() {
                streams[r].reset(chacha);
            } else {
                streams.push(StreamRng::with_chacha(chacha, backend));
            }
        }
        RowPrefix::Block(r, b, words) => {
            streams[r].buf[b * BLOCK_WORDS..(b + 1) * BLOCK_WORDS].copy_from_slice(words);
        }
    });
    for rng in streams.iter_mut() {
        rng.end = blocks * BLOCK_WORDS;
        rng.chacha.seek(blocks as u64);
    }
}

/// The keys of [`row_stream`] for rows `0..rows` of image `image`, in one pass
/// over the PRF's keystream (block `row` for row `row`, as there), as many
/// blocks at once as the CPU computes.
pub fn row_keys(key: &Key, image: u64, rows: usize, keys: &mut Vec<Key>) {
    let backend = Backend::detect();
    let mut prf = ChaCha20::new(key, image);
    keys.clear();
    let mut pass = [0u32; MAX_PASS_BLOCKS * BLOCK_WORDS];
    let words = &mut pass[..backend.pass_blocks() * BLOCK_WORDS];
    while keys.len() < rows {
        // Whole passes (a shorter one would not be faster); the keys of the
        // blocks past the last row are not used.
        prf.blocks(backend, words);
        let take = (rows - keys.len()).min(backend.pass_blocks());
        keys.extend(words.chunks_exact(BLOCK_WORDS).take(take).map(key_of_block));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samplers::stats::{seeded, Model, ALPHA};
    use rand::Rng;

    fn first_words(mut rng: StreamRng) -> [u64; 4] {
        [
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        ]
    }

    #[test]
    fn row_stream_is_deterministic_and_separates_inputs() {
        let k1: Key = [7u8; 32];
        let mut k2 = k1;
        k2[31] ^= 1;
        let base = first_words(row_stream(&k1, 3, 5));
        assert_eq!(base, first_words(row_stream(&k1, 3, 5)));
        assert_ne!(base, first_words(row_stream(&k2, 3, 5)));
        assert_ne!(base, first_words(row_stream(&k1, 4, 5)));
        assert_ne!(base, first_words(row_stream(&k1, 3, 6)));
        assert_ne!(
            first_words(row_stream(&k1, 0, 1)),
            first_words(row_stream(&k1, 1, 0))
        );
        // Distinct pairs give distinct keys over a small grid, extremes included.
        let mut seen = std::collections::HashSet::new();
        for image in [0, 1, 2, 3, u64::MAX] {
            for row in [0, 1, 2, 3, 4, u64::MAX] {
                assert!(seen.insert(row_stream(&k1, image, row).get_seed()));
            }
        }
    }

    #[test]
    fn row_stream_key_is_the_chacha20_block() {
        // The derived key is the first 32 bytes of block `row` of the ChaCha20
        // keystream with key `key` and nonce `image`.
        let key: Key = core::array::from_fn(|i| i as u8);
        for (image, row) in [(0u64, 0u64), (9, 0), (2, 3), (1, 17)] {
            let mut prf = rand_chacha::ChaCha20Rng::from_seed(key);
            prf.set_stream(image);
            let mut stream = vec![0u8; 64 * (row as usize + 1)];
            prf.fill_bytes(&mut stream);
            let start = 64 * row as usize;
            let want: Key = stream[start..start + 32].try_into().unwrap();
            assert_eq!(row_stream(&key, image, row).get_seed(), want);
        }
    }

    #[test]
    fn row_keys_are_the_row_stream_keys() {
        let key: Key = core::array::from_fn(|i| (7 * i) as u8);
        let mut keys = Vec::new();
        for image in [0u64, 1, 5, u64::MAX] {
            // Fewer rows than a pass, exactly one, and several passes.
            for rows in [9, 1, 16, 21, 40] {
                row_keys(&key, image, rows, &mut keys);
                assert_eq!(keys.len(), rows);
                for (row, k) in keys.iter().enumerate() {
                    assert_eq!(*k, row_stream(&key, image, row as u64).get_seed());
                }
            }
        }
    }

    #[test]
    fn row_streams_are_the_row_streams() {
        // Prefilled or not, reused or fresh: the words of row_stream.
        let key: Key = core::array::from_fn(|i| (3 * i + 1) as u8);
        let (mut keys, mut streams) = (Vec::new(), Vec::new());
        for (image, rows, blocks) in [
            (0u64, 21, 10),
            (7, 14, 2),
            (7, 3, 0),
            (u64::MAX, 40, 16),
            (2, 5, 99),
        ] {
            row_streams(&key, image, rows, blocks, &mut keys, &mut streams);
            assert_eq!(streams.len(), rows);
            for (r, rng) in streams.iter_mut().enumerate() {
                let mut want = row_stream(&key, image, r as u64);
                assert_eq!(rng.get_seed(), want.get_seed());
                for i in 0..300 {
                    assert_eq!(
                        rng.next_u64(),
                        want.next_u64(),
                        "image {image}, row {r}, word {i}"
                    );
                }
            }
        }
    }

    /// One step of a random mix of reads, on both generators.
    #[derive(Clone, Copy, Debug)]
    enum Read {
        U32,
        U64,
        Bytes(usize),
        Peek(usize),
    }

    #[test]
    fn stream_words_are_rand_chacha_words() {
        // StreamRng reads the keystream of rand_chacha's ChaCha20Rng in its
        // order, on every backend, whatever mix of reads (so every seeded
        // stream is the same as before the generator was vectorised).
        let mut plan_rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for case in 0..30u8 {
            let key: Key = core::array::from_fn(|i| (i as u8).wrapping_mul(case + 3));
            let plan: Vec<Read> = (0..3000)
                .map(|_| match plan_rng.next_u32() % 8 {
                    0 | 1 => Read::U32,
                    2..=5 => Read::U64,
                    6 => Read::Bytes((plan_rng.next_u32() % 70) as usize),
                    _ => Read::Peek((plan_rng.next_u32() % 9) as usize),
                })
                .collect();
            for mut rng in StreamRng::on_every_backend(key) {
                let mut want = rand_chacha::ChaCha20Rng::from_seed(key);
                let mut position = 0u64;
                for (step, read) in plan.iter().enumerate() {
                    position += match *read {
                        Read::U32 => 1,
                        Read::U64 => 2,
                        Read::Bytes(n) => n.div_ceil(4) as u64,
                        Read::Peek(n) => 2 * n as u64,
                    };
                    let at = format!("{:?}, case {case}, step {step}: {read:?}", rng.backend);
                    match *read {
                        Read::U32 => assert_eq!(rng.next_u32(), want.next_u32(), "{at}"),
                        Read::U64 => assert_eq!(rng.next_u64(), want.next_u64(), "{at}"),
                        Read::Bytes(n) => {
                            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
                            rng.fill_bytes(&mut a);
                            want.fill_bytes(&mut b);
                            assert_eq!(a, b, "{at}");
                        }
                        Read::Peek(n) => {
                            let seen = rng.peek().to_vec();
                            assert!(seen.len() >= 16, "{at}");
                            let before = rng.position();
                            for pair in seen.chunks_exact(2).take(n) {
                                let w = (u64::from(pair[1]) << 32) | u64::from(pair[0]);
                                assert_eq!(w, want.next_u64(), "{at}");
                            }
                            for (k, pair) in seen.chunks_exact(2).take(n).enumerate() {
                                let w = (u64::from(pair[1]) << 32) | u64::from(pair[0]);
                                assert_eq!(rng.peek_word64(k), w, "{at}");
                            }
                            rng.skip_u64(n);
                            assert_eq!(rng.position(), before + 2 * n as u64, "{at}");
                        }
                    }
                    assert_eq!(rng.position(), position, "{at}");
                }
            }
        }
    }

    #[test]
    fn reservoir_bits_are_uniform_and_fresh() {
        let mut rng = seeded(70);
        // Every width, bit by bit: each bit position is a fair coin.
        for k in [1u32, 7, 8, 12, 23, 32] {
            let n = 20_000;
            let mut ones = vec![0u32; k as usize];
            for _ in 0..n {
                let v = rng.bits(k);
                assert!(v < 1 << k);
                for (b, o) in ones.iter_mut().enumerate() {
                    *o += ((v >> b) & 1) as u32;
                }
            }
            for o in ones {
                let (_, _, p) = Model::bernoulli(0.5).g_test((0..n).map(|i| i64::from(i < o)));
                assert!(p > ALPHA, "width {k}: {o} ones of {n}");
            }
        }
        // The reservoir holds the low bits of a fresh word, in order.
        let mut a = seeded(71);
        let mut b = seeded(71);
        let w = b.next_u64();
        assert_eq!(a.bits(12), w & 0xfff);
        assert_eq!(a.bits(20), (w >> 12) & 0xf_ffff);
        assert_eq!(a.bits(32), w >> 32);
        assert_eq!(a.bits(5), b.next_u64() & 0x1f);
    }

    #[test]
    fn os_key_gives_fresh_keys() {
        let a = os_key().expect("the OS random source works here");
        let b = os_key().expect("the OS random source works here");
        assert_ne!(a, b);
    }
}
