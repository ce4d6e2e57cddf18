// Fused sliding-window + global self-attention on the GPU, forward and
// backward, flash-style: score tiles live in shared memory only; the forward
// keeps the per-row log-sum-exp for the backward.
//
// Pattern (docs/design.md §4; the CPU backend's definition):
// query i of example b sees key j iff j < length[b] (keys beyond the length
// are batch padding) and (i is global, or j is global, or j = i + k·dilation[h]
// with |k| <= window). A window >= seq_len with dilation 1 is dense attention.
// Every query row is computed, padding rows included; a row that sees no key
// outputs 0 with lse = -inf and gets zero gradient.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/context.h"

namespace mds::cuda {

constexpr int kAttentionMaxHeads = 64;

struct AttentionShape {
  int batch = 0, seq_len = 0, heads = 0, head_dim = 0;  // head_dim in {32, 64, 128}
  // Score scale; 0 means 1/sqrt(head_dim). Callers that zero-pad narrower
  // heads to a supported width pass 1/sqrt(their true width).
  float scale = 0.f;
};

struct AttentionPattern {
  int window = 0;              // keys per side; window >= seq_len means dense
  std::vector<int> dilation;   // per head (empty: 1 everywhere)
};

// Global positions of each example, on the device: a byte mask [B, L] (global
// queries), a list of global positions per example (row b at list + b·stride,
// first count[b] entries used; global keys) and the counts [B]. Either built
// here from half-open position ranges per example (a single range list applies
// to every example; positions at or beyond L are ignored), or a non-owning
// view of tables that already live on the device (the model's pattern).
class AttentionGlobals {
 public:
  using Ranges = std::vector<std::pair<int, int>>;
  AttentionGlobals(Context& ctx, int batch, int seq_len, const std::vector<Ranges>& ranges);
  AttentionGlobals(int batch, int seq_len, const uint8_t* mask, const int32_t* list, long long list_stride,
                   const int32_t* count)
      : mask_(mask), list_(list), count_(count), list_stride_(list_stride), batch_(batch), seq_len_(seq_len),
        max_count_(int(list_stride)) {}

  const uint8_t* mask() const { return mask_; }
  const int32_t* list() const { return list_; }
  const int32_t* count() const { return count_; }
  long long list_stride() const { return list_stride_; }
  int batch() const { return batch_; }
  int seq_len() const { return seq_len_; }
  // An upper bound on count[b] (the list stride for a view): sizes the grid
  // of the global-row kernels.
  int max_count() const { return max_count_; }

 private:
  DeviceBuffer buf_;
  const uint8_t* mask_ = nullptr;
  const int32_t* list_ = nullptr;
  const int32_t* count_ = nullptr;
  long long list_stride_ = 0;
  int batch_ = 0, seq_len_ = 0;
  int max_count_ = 0;
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
  bf16* dq = nullptr;          // gradients: written, or added to with `accumulate`
  bf16* dk = nullptr;
  bf16* dv = nullptr;
  long long ld_dqkv = 0;
  bool accumulate = false;
};

void attention_forward(Context& ctx, const AttentionShape& shape, const AttentionPattern& pattern,
                       const AttentionForwardArgs& args);
void attention_backward(Context& ctx, const AttentionShape& shape, const AttentionPattern& pattern,
                        const AttentionBackwardArgs& args);

// lengths[b] = number of leading ones of valid[b*L .. b*L+L) (the batch's
// padding is at the end of each example, as pack_batch lays it out).
void attention_lengths_from_valid(Context& ctx, const uint8_t* valid, int batch, int seq_len, int32_t* lengths);

}  // namespace mds::cuda
