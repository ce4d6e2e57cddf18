// MoE gate selection: top-k experts per token from the router probabilities,
// with gates renormalised over the chosen experts (GShard top-2) or the raw
// probability for k = 1 (Switch), and the gradient back to the probabilities.
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
bool renormalises(bool renormalize, int k) { return renormalize && k > 1; }
}  // namespace

template <typename T>
void topk_gates_forward(const Context& ctx, const Tensor& probs, int k, bool renormalize, Tensor& idx, Tensor& gates) {
  const int64_t E = probs.cols(), N = probs.rows();
  if (k < 1 || k > E) throw_runtime("topk_gates_forward: k = {} must be in [1, {}]", k, E);
  check_type(idx, ElemType::i32, "topk_gates_forward", "idx");
  check_numel(idx, N * k, "topk_gates_forward", "idx");
  check_numel(gates, N * k, "topk_gates_forward", "gates");
  const T* pp = probs.as<T>();
  int32_t* pi = idx.as<int32_t>();
  T* pg = gates.as<T>();
  const bool renorm = renormalises(renormalize, k);
  ctx.parallel_for(N, 256, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const T* row = pp + n * E;
      int32_t* ir = pi + n * k;
      T sum = 0;
      for (int c = 0; c < k; ++c) {
        int best = -1;
        for (int e = 0; e < E; ++e) {
          bool taken = false;
          for (int q = 0; q < c; ++q) taken |= ir[q] == e;
          if (!taken && (best < 0 || row[e] > row[best])) best = e;  // strict >: ties go to the lower index
        }
        ir[c] = best;
        sum += row[best];
      }
      for (int c = 0; c < k; ++c) pg[n * k + c] = renorm ? row[ir[c]] / sum : row[ir[c]];
    }
  });
}

template <typename T>
void topk_gates_backward(const Context& ctx, const Tensor& probs, const Tensor& idx, bool renormalize,
                         const Tensor& dgates, Tensor& dprobs) {
  const int64_t E = probs.cols(), N = probs.rows(), k = idx.numel() / std::max<int64_t>(N, 1);
  check_numel(dgates, N * k, "topk_gates_backward", "dgates");
  check_numel(dprobs, N * E, "topk_gates_backward", "dprobs");
  const T *pp = probs.as<T>(), *pdg = dgates.as<T>();
  const int32_t* pi = idx.as<int32_t>();
  T* pd = dprobs.as<T>();
  const bool renorm = renormalises(renormalize, static_cast<int>(k));
  ctx.parallel_for(N, 256, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const int32_t* ir = pi + n * k;
      const T* dg = pdg + n * k;
      if (!renorm) {
        for (int64_t c = 0; c < k; ++c) pd[n * E + ir[c]] += dg[c];
        continue;
      }
      // g_c = p_c / S  =>  dp_c = dg_c / S - sum_q dg_q p_q / S^2
      T S = 0, dot = 0;
      for (int64_t c = 0; c < k; ++c) S += pp[n * E + ir[c]];
      for (int64_t c = 0; c < k; ++c) dot += dg[c] * pp[n * E + ir[c]];
      for (int64_t c = 0; c < k; ++c) pd[n * E + ir[c]] += dg[c] / S - dot / (S * S);
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                                    \
  template void topk_gates_forward<T>(const Context&, const Tensor&, int, bool, Tensor&, Tensor&);            \
  template void topk_gates_backward<T>(const Context&, const Tensor&, const Tensor&, bool, const Tensor&,     \
                                       Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
