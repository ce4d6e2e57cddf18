// Counter-based random numbers for the trainer. Every random choice of a run
// (epoch shuffles, timestep draws, the model's noise seed) is derived from
// (seed, purpose, counters) by hashing, so a run resumed at step s draws
// exactly what an uninterrupted run draws at step s without saving any
// generator state beyond the seed.
#pragma once

#include <cstdint>

#include "core/splitmix.h"

namespace mds::train {

// SplitMix64's finaliser (core/splitmix.h).
inline uint64_t mix64(uint64_t z) { return splitmix64_finalize(z); }

// Purposes keep the streams of one seed apart.
enum class Stream : uint64_t { epoch_order = 1, batch_order = 2, timesteps = 3, noise = 4, valid = 5, init = 6 };

// A 64-bit key for (seed, stream, a, b): hashing each word in turn.
inline uint64_t derive_seed(uint64_t seed, Stream s, uint64_t a = 0, uint64_t b = 0) {
  uint64_t h = mix64(seed ^ 0x6A09E667F3BCC908ull);
  h = mix64(h ^ static_cast<uint64_t>(s));
  h = mix64(h ^ (a + kSplitMixGamma));
  h = mix64(h ^ (b + 0x3C6EF372FE94F82Bull));
  return h;
}

// SplitMix64 generator: a Weyl sequence through mix64. Small, fast and passes
// BigCrush; ample for shuffles and timestep draws.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() { return splitmix64_next(state_); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), unbiased (rejection of the short last interval).
  uint64_t below(uint64_t n) {
    if (n <= 1) return 0;
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
  }
  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

}  // namespace mds::train
