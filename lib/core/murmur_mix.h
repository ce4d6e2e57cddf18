// MurmurHash3's 64-bit finaliser (Appleby, MurmurHash3.cpp, fmix64), the one
// home of the mixer behind the metrics' open-addressing tables (n-gram ids in
// metrics/ngram.cpp, token ids in metrics/token_vocab.cpp). The random
// streams use SplitMix64's finaliser instead (core/splitmix.h).
#pragma once

#include <cstdint>

namespace mds {

// A bijective 64-bit mixer: every input bit affects every output bit.
inline uint64_t murmur3_fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

}  // namespace mds
