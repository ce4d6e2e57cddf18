// Per-example random numbers for sampling. Every generated sequence draws its
// noise from its own stream, keyed by (run seed, input index, candidate
// index), and consumes it in a fixed order (initial noise, then each step's
// Gaussian noise and absorbing draws over its own target slots). So an
// example's output does not depend on the batch it was run in, nor on the
// batch size, nor on the other inputs.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/splitmix.h"

namespace mds {

// The stream key of one generated sequence.
inline uint64_t example_seed(uint64_t run_seed, uint64_t input_index, uint64_t candidate) {
  uint64_t h = splitmix64_finalize(run_seed ^ 0x5851F42D4C957F2Dull);
  h = splitmix64_finalize(h ^ (input_index + kSplitMixGamma));
  return splitmix64_finalize(h ^ (candidate + 0x3C6EF372FE94F82Bull));
}

// xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", 2021) seeded by SplitMix64, with Box-Muller normals.
class ExampleRng {
 public:
  explicit ExampleRng(uint64_t seed = 0) {
    uint64_t z = seed;
    for (auto& w : s_) w = splitmix64_next(z);
  }
  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller; the second value of each pair is kept).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 6.283185307179586 * u2;
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace mds
