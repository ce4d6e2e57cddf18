// Counter-based random numbers shared by every backend. Each draw is a pure
// function of (key, salt, counter), so noise does not depend on thread count,
// batch composition or device: a row key is derived from (noise_seed,
// example id, position) and every random use in a step has its own salt.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/splitmix.h"

namespace mds {
namespace rng {

// One SplitMix64 step from x (core/splitmix.h): a strong 64-bit mixer.
MDS_HD inline uint64_t mix64(uint64_t x) { return splitmix64_finalize(x + kSplitMixGamma); }

MDS_HD inline uint64_t combine(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b + 0x632BE59BD9B4E019ull)); }

// Key of one token slot of one example for one step.
MDS_HD inline uint64_t row_key(uint64_t seed, uint64_t example_id, uint64_t position) {
  return combine(combine(seed, example_id), position);
}

MDS_HD inline uint64_t draw(uint64_t key, uint64_t salt, uint64_t counter) {
  return combine(combine(key, salt), counter);
}

// Uniform in (0, 1): 53 random bits, never exactly 0 or 1.
MDS_HD inline double uniform(uint64_t key, uint64_t salt, uint64_t counter) {
  return (static_cast<double>(draw(key, salt, counter) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Standard normal by Box-Muller from two independent uniforms of one counter.
MDS_HD inline double normal(uint64_t key, uint64_t salt, uint64_t counter) {
  const uint64_t h = draw(key, salt, counter);
  const double u1 = (static_cast<double>(h >> 32) + 0.5) * (1.0 / 4294967296.0);
  const double u2 = (static_cast<double>(h & 0xFFFFFFFFull) + 0.5) * (1.0 / 4294967296.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Salts of the random uses inside one training step.
enum Salt : uint64_t {
  kSaltEmbedNoise = 1,   // x0 = Emb(w) + sqrt(1 - abar_0) eps0
  kSaltDiffusion = 2,    // x_t noise
  kSaltAbsorb = 3,       // soft absorbing Bernoulli draws
  kSaltDropoutBase = 16  // + site index
};

}  // namespace rng
}  // namespace mds
