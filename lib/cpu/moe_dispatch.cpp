// Token-to-expert dispatch: turns top-k choices into expert-contiguous slots.
// With a capacity, first choices of all tokens are placed before any second
// choice (GShard priority), in token order; picks beyond capacity are dropped
// and the token keeps its other experts (or only the residual path).
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

MoeDispatch moe_dispatch(const Tensor& idx, const Tensor& valid, int experts, int64_t capacity,
                         const std::function<Tensor(std::vector<int64_t>, ElemType)>& alloc) {
  check_type(idx, ElemType::i32, "moe_dispatch", "idx");
  const int64_t k = idx.cols(), N = idx.rows();
  if (valid.defined()) check_numel(valid, N, "moe_dispatch", "valid");
  const int32_t* pi = idx.as<int32_t>();
  const uint8_t* pv = valid.defined() ? valid.as<uint8_t>() : nullptr;
  MoeDispatch d;
  d.experts = experts;
  d.top_k = static_cast<int>(k);
  d.assigned.assign(experts, 0);
  d.top1_fraction.assign(experts, 0.0);
  std::vector<int64_t> count(experts, 0), top1(experts, 0);
  std::vector<uint8_t> keep(static_cast<size_t>(N * k), 0);
  for (int64_t n = 0; n < N; ++n)
    if (!pv || pv[n]) ++d.routed_tokens;
  for (int64_t c = 0; c < k; ++c) {
    for (int64_t n = 0; n < N; ++n) {
      if (pv && !pv[n]) continue;
      const int e = pi[n * k + c];
      if (e < 0 || e >= experts) throw_runtime("moe_dispatch: expert index {} outside [0, {})", e, experts);
      ++d.assigned[e];
      if (c == 0) ++top1[e];
      if (capacity < 0 || count[e] < capacity) {
        keep[n * k + c] = 1;
        ++count[e];
      } else {
        ++d.dropped;
      }
    }
  }
  d.offsets.assign(experts + 1, 0);
  for (int e = 0; e < experts; ++e) d.offsets[e + 1] = d.offsets[e] + count[e];
  d.slots = d.offsets[experts];
  for (int e = 0; e < experts; ++e)
    d.top1_fraction[e] = d.routed_tokens ? double(top1[e]) / double(d.routed_tokens) : 0.0;
  d.slot_token = alloc({d.slots}, ElemType::i32);
  d.slot_choice = alloc({d.slots}, ElemType::i32);
  int32_t* st = d.slot_token.as<int32_t>();
  int32_t* sc = d.slot_choice.as<int32_t>();
  std::vector<int64_t> fill(d.offsets.begin(), d.offsets.end() - 1);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < k; ++c)
      if (keep[n * k + c]) {
        const int e = pi[n * k + c];
        st[fill[e]] = static_cast<int32_t>(n);
        sc[fill[e]] = static_cast<int32_t>(n * k + c);
        ++fill[e];
      }
  return d;
}

}  // namespace cpu
}  // namespace mds
