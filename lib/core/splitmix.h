// The SplitMix64 mixer (Steele, Lea & Flood, "Fast splittable pseudorandom
// number generators", OOPSLA 2014; constants from Vigna's splitmix64.c), the
// one home of the hash behind every random stream of mds: the backends'
// counter-based noise (backend/rng.h), the trainer's streams (train/rng.h)
// and the sampler's per-example generators (sample/example_rng.h); also the
// mixer of the tokenizer trainer's word table (text/word_counts.cpp).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define MDS_HD __host__ __device__
#else
#define MDS_HD
#endif

namespace mds {

// The Weyl increment of SplitMix64 (2^64 / golden ratio).
inline constexpr uint64_t kSplitMixGamma = 0x9E3779B97F4A7C15ull;

// SplitMix64's finaliser: a bijective 64-bit mixer.
MDS_HD inline uint64_t splitmix64_finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The next output of a SplitMix64 generator whose state is `state`.
MDS_HD inline uint64_t splitmix64_next(uint64_t& state) { return splitmix64_finalize(state += kSplitMixGamma); }

}  // namespace mds
