//! The constant tables of the bit-thrifty discrete Laplace: floor(2^64·e^-v),
//! the CDF of I = floor(256·F) scaled by 2^64, and the two look-up tables built
//! from them at compile time. The tests check every entry against exact
//! big-integer arithmetic (`tables_are_the_exact_floors`).

/// floor(2^64 · e^-v) for v = 1..=44 (index v - 1); e^-45 < 2^-64.
#[rustfmt::skip]
pub(super) const EXP_NEG_WHOLE: [u64; 44] = [
    0x5e2d58d8b3bcdf1a, 0x22a555477f03973f, 0x0cbed86667585764,
    0x04b0556e084f3d1d, 0x01b993fe00d53761, 0x00a2728f889ea6ae,
    0x003bc2d73849531d, 0x0015fc21041027ac, 0x0008167912932a2c,
    0x0002f9af36ac8f93, 0x000118354238f676, 0x0000671530ed0ef2,
    0x000025ec0a77303b, 0x00000df3637ed80b, 0x00000521d72889fb,
    0x000001e355bbaee8, 0x000000b1cf18bad3, 0x00000041698a31a6,
    0x000000181056ff2c, 0x00000008da432af9, 0x0000000341b61a1b,
    0x0000000132b48bf1, 0x0000000070d49f90, 0x0000000029820f1f,
    0x000000000f451bd2, 0x00000000059e14a9, 0x0000000002110a53,
    0x0000000000c29f80, 0x000000000047990a, 0x00000000001a56e0,
    0x000000000009b090, 0x000000000003908c, 0x0000000000014fb5,
    0x0000000000007b80, 0x0000000000002d6e, 0x00000000000010b6,
    0x0000000000000626, 0x0000000000000243, 0x00000000000000d5,
    0x000000000000004e, 0x000000000000001c, 0x000000000000000a,
    0x0000000000000003, 0x0000000000000001,
];

/// floor(2^64 · c_i) for i = 1..=255 (index i - 1), with
/// c_i = P(I < i) = (1 - e^(-i/256)) / (1 - e^-1), the CDF of I = floor(256·F).
#[rustfmt::skip]
pub(super) const TRUNC_GEOM_CDF: [u64; 255] = [
    0x01943232231f192a, 0x0326d0fbe9e745d5, 0x04b7ddeff343da03,
    0x06475a9f4c4a4ad3, 0x07d5489971cb3baf, 0x0961a96c51e1fb44,
    0x0aec7ea44d8271bc, 0x0c75c9cc3a0581d0, 0x0dfd8c6d62b3de4b,
    0x0f83c80f8a4f5567, 0x11087e38ec9a93ba, 0x128bb06e3fdf6013,
    0x140d6032b67351e9, 0x158d8f08003b03ca, 0x170c3e6e4c2bc366,
    0x18896fe449cbc0a3, 0x1a0524e72ab0bd40, 0x1b7f5ef2a3fd3e90,
    0x1cf81f80efdc42b4, 0x1e6f680acefb7af0, 0x1fe53a078a040c6e,
    0x215996ecf311d90d, 0x22cc802f6729519a, 0x243df741cfabd2f3,
    0x25adfd95a3ca8f87, 0x271c949ae9f806a9, 0x2889bdc039580b1c,
    0x29f57a72bb2e5a59, 0x2b5fcc1e2c4bc5f2, 0x2cc8b42cde79f07e,
    0x2e303407b9e59f82, 0x2f964d163e87a3bf, 0x30fb00be858c5941,
    0x325e506542b9c0b4, 0x33c03d6dc5d4333c, 0x3520c939fc01b263,
    0x367ff52a712bd550, 0x37ddc29e516054da, 0x393a32f36a3037a9,
    0x3a9547862c0d9feb, 0x3bef01b1aba83be0, 0x3d4762cfa3485aa8,
    0x3e9e6c387428a6a5, 0x3ff41f4327ce86d7, 0x41487d457161287b,
    0x429b8793aeff3250, 0x43ed3f80eb1322d0, 0x453da65edda65aba,
    0x468cbd7dedb2d533, 0x47da862d32738ee2, 0x492701ba74b39d41,
    0x4a723172301bf788, 0x4bbc169f947ff26f, 0x4d04b28c8728701f,
    0x4e4c0681a41dc595, 0x4f9213c63f7056c6, 0x50d6dba0667feacc,
    0x521a5f54e141b95f, 0x535ca027338532e5, 0x549d9f599e37845f,
    0x55dd5e2d20a5d870, 0x571bdde179be56c3, 0x58591fb5294fe315,
    0x599524e571489d20, 0x5acfeeae56f322a2, 0x5c097e4aa43294c1,
    0x5d41d4f3e8bd620b, 0x5e78f3e27b56d644, 0x5faedc4d7b077145,
    0x60e38f6ad054061e, 0x62170e6f2e73a3b4, 0x63495a8e14844813,
    0x647a74f9cebe5fa3, 0x65aa5ee377a7117e, 0x66d9197af9415a0d,
    0x6806a5ef0e3df520, 0x6933056d432a18c0, 0x6a5e3921f79d01ce,
    0x6b8842385f6453b9, 0x6cb121da83af4c5e, 0x6dd8d9314438cd58,
    0x6eff696458703bce, 0x7024d39a50a137fc, 0x714918f8971a2d98,
    0x726c3aa37151be3a, 0x738e39be010b06e7, 0x74af176a4578c1f2,
    0x75ced4c91c5f4642, 0x76ed72fa43356530, 0x780af31c58442819,
    0x7927564cdbc56eb9, 0x7a429da831016f81, 0x7b5cca499f6b1af5,
    0x7c75dd4b53bb6337, 0x7d8dd7c6610b68da, 0x7ea4bad2c1ed8e0d,
    0x7fba87875985714a, 0x80cf3ef9f49ed08d, 0x81e2e23f4ac3563b,
    0x82f5726aff4f50bf, 0x8406f08fa28555fd, 0x85175dbeb2a0d3b1,
    0x8626bb089ce78dba, 0x8735097cbeba0b7a, 0x88424a2966a2f550,
    0x894e7e1bd5656334, 0x8a59a6603f0a1d91, 0x8b63c401cbebd168,
    0x8c6cd80a99c238bf, 0x8d74e383bcac386d, 0x8e7be7754038f452,
    0x8f81e4e6286fdafb, 0x9086dcdc72d7a9bd, 0x918ad05d177c6a56,
    0x928dc06c09f46b0b, 0x938fae0c3a643256, 0x94909a3f96816f1f,
    0x959086070a94e68a, 0x968f7262827b604f, 0x978d6050eaa592b4,
    0x988a50d031170f0c, 0x998644dd46642fd4, 0x9a813d741eaf095b,
    0x9b7b3b8fb2a35df9, 0x9c74402a007196d0, 0x9d6c4c3c0cc8c211,
    0x9e6360bde3cf97c1, 0x9f597ea69a1c85f1, 0xa04ea6ec4dacc56d,
    0xa142da8426da77cc, 0xa2361a625951cfdf, 0xa328677a2505456f,
    0xa419c2bdd720d549, 0xa50a2d1ecafc4e78, 0xa5f9a78d6b0cadb7,
    0xa6e832f931d487f5, 0xa7d5d050aad384ee, 0xa8c280817374eabe,
    0xa9ae44783bfd3b62, 0xaa991d20c876e50b, 0xab830b65f19e0642,
    0xac6c1031a5cb46b4, 0xad542c6ce9ddc5a2, 0xae3b60ffda241ecc,
    0xaf21aed1ab4486dd, 0xb00716c8ab24001b, 0xb0eb99ca41cca866,
    0xb1cf38baf2532152, 0xb2b1f47e5bbb1350, 0xb393cdf739daccc3,
    0xb474c607663dfdec, 0xb554dd8fd9079283, 0xb6341570a9d2a9f5,
    0xb7126e891092af0a, 0xb7efe9b766728ff0, 0xb8cc87d926b31776,
    0xb9a849caef886860, 0xba83306882f69bac, 0xbb5d3c8cc7ad82ae,
    0xbc366f11c9e38dc9, 0xbd0ec8d0bc2fd8bf, 0xbde64aa1f8635d58,
    0xbebcf55d00614d44, 0xbf92c9d87ef69411, 0xc067c8ea48b0820b,
    0xc13bf3675cb2a0d7, 0xc20f4a23e58bb2ad, 0xc2e1cdf33a09dcf8,
    0xc3b37fa7de0dff30, 0xc4846013835e36d6, 0xc55470070a779143,
    0xc623b052835eec3a, 0xc6f221c52e7105ff, 0xc7bfc52d7d31bdc3,
    0xc88c9b59131a853b, 0xc958a514c668042a, 0xca23e32ca0e6eead,
    0xcaee566be0c00f1a, 0xcbb7ff9cf943843c, 0xcc80df8993b334b1,
    0xcd48f6fa900c783b, 0xce1046b805d0f7d3, 0xced6cf8944cec53a,
    0xcf9c9234d5e7aad3, 0xd0618f807bd7b49d, 0xd125c83133faf2f9,
    0xd1e93d0b37127819, 0xd2abeed1fa0890d2, 0xd36dde482eb43996,
    0xd42f0c2fc49bd05b, 0xd4ef7949e9b70432, 0xd5af26570b30034e,
    0xd66e1416d623e83f, 0xd72c43483862671f, 0xd7e9b4a9612cbb71,
    0xd8a668f7c1f3d772, 0xd96260f00f15d59c, 0xda1d9d4e409aad10,
    0xdad81ecd92f029b1, 0xdb91e62887a5289f, 0xdc4af418e62419d8,
    0xdd034957bc6cc7af, 0xddbae69d5fcd64dd, 0xde71cca16d9ae1de,
    0xdf27fc1acbe88a56, 0xdfdd75bfaa3eeb33, 0xe0923a4582520243,
    0xe1464a6118b6b7fc, 0xe1f9a6c67d97a41a, 0xe2ac50290d691ddb,
    0xe35e473b719c9886, 0xe40f8cafa1534ce4, 0xe4c02136e2103077,
    0xe5700581c8693b07, 0xe61f3a4038b7fb49, 0xe6cdc02167c97b48,
    0xe77b97d3db8d753c, 0xe828c2056bc4d990, 0xe8d53f6342afa6a9,
    0xe9811099ddba133b, 0xea2c36550e290bc0, 0xead6b13ff9c603cc,
    0xeb8082051b8a1be5, 0xec29a94e44489c8b, 0xecd227c49b58c719,
    0xed79fe109f3efd29, 0xee212cda26553f29, 0xeec7b4c85f7302be,
    0xef6d9681d29461b2, 0xf012d2ac6180a1f5, 0xf0b769ed48701778,
    0xf15b5ce91eb1606f, 0xf1feac43d74dfcb2, 0xf2a158a0c1ae40d0,
    0xf34362a28a3ca587, 0xf3e4caeb3b08743a, 0xf485921c3c67d113,
    0xf525b8d65599235e, 0xf5c53fb9ad63dcde, 0xf6642765cab8a09b,
    0xf70270799550c9e4, 0xf7a01b93564d5413, 0xf83d2950b8d523bb,
    0xf8d99a4ecab2b1e1, 0xf9756f29fcf119cc, 0xfa10a87e24788a22,
    0xfaab46e67aaa19df, 0xfb454afd9dfb01bb, 0xfbdeb55d928f3ab5,
    0xfc77869fc2d3823f, 0xfd0fbf5d0016c4b9, 0xfda7602d8322eeca,
    0xfe3e69a8ecd5263d, 0xfed4dc6646b56ae3, 0xff6ab8fc038da02d,
];

/// floor(256 · e^-v) for v = 1..=5: the top bytes of EXP_NEG_WHOLE (0 from v = 6 on).
pub(super) const EXP_NEG_WHOLE_TOP: [u64; 5] = [
    EXP_NEG_WHOLE[0] >> 56,
    EXP_NEG_WHOLE[1] >> 56,
    EXP_NEG_WHOLE[2] >> 56,
    EXP_NEG_WHOLE[3] >> 56,
    EXP_NEG_WHOLE[4] >> 56,
];

/// V for each first byte b of R: #{v : (b+1)·2^56 <= floor(2^64·e^-v)}, or
/// UNDECIDED when b is the top byte of some floor(2^64·e^-v) (b = 0 included,
/// for every v >= 6).
pub(super) static GEOMETRIC_OF_BYTE: [u8; 256] = build_geometric_of_byte();
pub(super) const UNDECIDED: u8 = u8::MAX;

const fn build_geometric_of_byte() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let mut v = 0usize;
        let mut undecided = b == 0;
        while v < EXP_NEG_WHOLE_TOP.len() {
            let top = EXP_NEG_WHOLE_TOP[v] as usize;
            if b == top {
                undecided = true;
            }
            if b < top {
                table[b] += 1;
            }
            v += 1;
        }
        if undecided {
            table[b] = UNDECIDED;
        }
        b += 1;
    }
    table
}

/// Bits of the first look-up of I.
pub(super) const GUIDE_BITS: u32 = 12;

/// For each 12-bit prefix s of a uniform R (R in [s, s+1)/4096): the number of
/// CDF values below the slot (#{i : C_i < s·2^52}, in the low 8 bits), and
/// bit 8 set when a CDF value falls inside the slot (then R's next bits decide).
/// The CDF values are more than 1/4096 apart, so a slot holds at most one.
pub(super) static TRUNC_GEOM_GUIDE: [u16; 1 << GUIDE_BITS] = build_guide();

const fn build_guide() -> [u16; 1 << GUIDE_BITS] {
    let mut guide = [0u16; 1 << GUIDE_BITS];
    let shift = 64 - GUIDE_BITS;
    let mut s = 0usize;
    let mut below = 0usize;
    while s < guide.len() {
        let start = (s as u128) << shift;
        let end = ((s + 1) as u128) << shift;
        while below < TRUNC_GEOM_CDF.len() && (TRUNC_GEOM_CDF[below] as u128) < start {
            below += 1;
        }
        let inside = below < TRUNC_GEOM_CDF.len() && (TRUNC_GEOM_CDF[below] as u128) < end;
        guide[s] = below as u16 | if inside { 256 } else { 0 };
        s += 1;
    }
    guide
}
