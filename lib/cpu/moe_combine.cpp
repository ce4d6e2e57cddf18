// Weighted combination of expert outputs back into token order:
// out[n] = sum_c gate[n,c] * yp[slot(n,c)], and its backward to the expert
// outputs and to the gates.
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void moe_combine_forward(const Context& ctx, const Tensor& yp, const Tensor& gates, const MoeDispatch& d,
                         Tensor& out) {
  const int64_t C = out.cols(), N = out.rows(), k = d.top_k;
  check_numel(yp, d.slots * C, "moe_combine_forward", "yp");
  check_numel(gates, N * k, "moe_combine_forward", "gates");
  // slot of each (token, choice); -1 when dropped or not routed.
  std::vector<int64_t> slot_of(static_cast<size_t>(N * k), -1);
  const int32_t* sc = d.slot_choice.as<int32_t>();
  for (int64_t s = 0; s < d.slots; ++s) slot_of[sc[s]] = s;
  const T *py = yp.as<T>(), *pg = gates.as<T>();
  T* po = out.as<T>();
  ctx.parallel_for(N, 32, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      T* o = po + n * C;
      std::fill(o, o + C, T(0));
      for (int64_t c = 0; c < k; ++c) {
        const int64_t s = slot_of[n * k + c];
        if (s < 0) continue;
        const T g = pg[n * k + c];
        for (int64_t j = 0; j < C; ++j) o[j] += g * py[s * C + j];
      }
    }
  });
}

template <typename T>
void moe_combine_backward(const Context& ctx, const Tensor& yp, const Tensor& gates, const MoeDispatch& d,
                          const Tensor& dout, Tensor& dyp, Tensor& dgates) {
  const int64_t C = dout.cols(), k = d.top_k;
  check_numel(yp, d.slots * C, "moe_combine_backward", "yp");
  const int32_t *st = d.slot_token.as<int32_t>(), *sc = d.slot_choice.as<int32_t>();
  const T *py = yp.as<T>(), *pg = gates.as<T>(), *pd = dout.as<T>();
  T* pdy = dyp.defined() ? dyp.as<T>() : nullptr;
  T* pdg = dgates.defined() ? dgates.as<T>() : nullptr;
  if (pdy) check_numel(dyp, d.slots * C, "moe_combine_backward", "dyp");
  if (pdg) check_numel(dgates, gates.numel(), "moe_combine_backward", "dgates");
  (void)k;
  // Each slot owns a distinct (token, choice), so slots never collide.
  ctx.parallel_for(d.slots, 32, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const T* g_out = pd + int64_t(st[s]) * C;
      const T g = pg[sc[s]];
      T dot = 0;
      for (int64_t j = 0; j < C; ++j) {
        if (pdy) pdy[s * C + j] += g * g_out[j];
        dot += g_out[j] * py[s * C + j];
      }
      if (pdg) pdg[sc[s]] += dot;
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                                      \
  template void moe_combine_forward<T>(const Context&, const Tensor&, const Tensor&, const MoeDispatch&,        \
                                       Tensor&);                                                                \
  template void moe_combine_backward<T>(const Context&, const Tensor&, const Tensor&, const MoeDispatch&,       \
                                        const Tensor&, Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
