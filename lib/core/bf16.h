// bfloat16 <-> float32 on the host, for weights stored as bf16 in .mds files
// (exported sampling checkpoints, docs/format.md). bf16 is the upper half of
// an IEEE float32; rounding is to nearest, ties to even, as the CUDA
// intrinsics and PyTorch do, so a weight converted here matches one converted
// on the GPU bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

namespace mds {

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN stays NaN (quiet)
  const uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace mds
