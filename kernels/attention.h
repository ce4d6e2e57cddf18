// Fused sliding-window + global self-attention on the GPU, forward and
// backward, flash-style: score tiles live in shared memory only; the forward
// keeps the per-row log-sum-exp for the backward.
//
// Pattern (DESIGN.md §4, algorithm.md §2.2): query i of example b attends to
// key j iff both are inside the example's length and
//   i is global, or j is global, or the layer is dense (window >= seq_len), or
//   |i - j| <= window * dilation[h] and dilation[h] divides |i - j|.
// Queries at or beyond the example's length produce zero output (lse = 0) and
// zero gradients; keys beyond it get zero gradients.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/context.h"

namespace mds::cuda {

constexpr int kAttentionMaxHeads = 64;

struct AttentionShape {
  int batch = 0, seq_len = 0, heads = 0, head_dim = 0;  // head_dim in {32, 64, 128}
};

struct AttentionPattern {
  int window = 0;              // keys per side; window >= seq_len means dense
  std::vector<int> dilation;   // per head (empty: 1 everywhere)
};

// Global positions of each example, on the device: a byte mask [B, L], the
// sorted list of global positions [B, L] (first count[b] entries used) and the
// counts [B]. Built from half-open position ranges per example; a single range
// list applies to every example. Positions at or beyond L are ignored.
class AttentionGlobals {
 public:
  using Ranges = std::vector<std::pair<int, int>>;
  AttentionGlobals(Context& ctx, int batch, int seq_len, const std::vector<Ranges>& ranges);

  const uint8_t* mask() const { return mask_; }
  const int32_t* list() const { return list_; }
  const int32_t* count() const { return count_; }
  int batch() const { return batch_; }
  int seq_len() const { return seq_len_; }
  const std::vector<uint8_t>& host_mask() const { return host_mask_; }

 private:
  DeviceBuffer buf_;
  const uint8_t* mask_ = nullptr;
  const int32_t* list_ = nullptr;
  const int32_t* count_ = nullptr;
  int batch_ = 0, seq_len_ = 0;
  std::vector<uint8_t> host_mask_;
};

// Tensors are token-major: element (b, i, head h, d) of q/k/v sits at
// base[(b*L + i) * ld + h*head_dim + d], so a fused QKV projection [B*L, 3·H]
// is passed as q = p, k = p + H, v = p + 2H with ld = 3·H. Every ld must be a
// multiple of 8 and every base pointer 16-byte aligned.
struct AttentionForwardArgs {
  const bf16* q = nullptr;
  const bf16* k = nullptr;
  const bf16* v = nullptr;
  long long ld_qkv = 0;
  const int32_t* lengths = nullptr;  // device [B]
  const AttentionGlobals* globals = nullptr;  // optional
  bf16* out = nullptr;                // [B*L, ld_out], heads side by side
  long long ld_out = 0;
  float* lse = nullptr;               // device [B, heads, L]
};

struct AttentionBackwardArgs {
  const bf16* q = nullptr;
  const bf16* k = nullptr;
  const bf16* v = nullptr;
  long long ld_qkv = 0;
  const int32_t* lengths = nullptr;
  const AttentionGlobals* globals = nullptr;
  const bf16* out = nullptr;   // forward output
  const bf16* dout = nullptr;  // gradient of the output (same layout and ld_out)
  long long ld_out = 0;
  const float* lse = nullptr;  // from the forward
  bf16* dq = nullptr;          // gradients, written (not accumulated)
  bf16* dk = nullptr;
  bf16* dv = nullptr;
  long long ld_dqkv = 0;
};

void attention_forward(Context& ctx, const AttentionShape& shape, const AttentionPattern& pattern,
                       const AttentionForwardArgs& args);
void attention_backward(Context& ctx, const AttentionShape& shape, const AttentionPattern& pattern,
                        const AttentionBackwardArgs& args);

}  // namespace mds::cuda
