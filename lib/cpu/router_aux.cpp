// MoE auxiliary losses over the valid tokens of a layer:
// Switch load balancing E * sum_e f_e P_e (Fedus et al. 2021, eq. 4; f_e from
// the top-1 picks is a constant, P_e = mean router probability) and the router
// z-loss mean(logsumexp(logits)^2) (Zoph et al. 2022, ST-MoE eq. 5).
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
template <typename T>
double row_lse(const T* x, int64_t E) {
  double mx = x[0];
  for (int64_t e = 1; e < E; ++e) mx = std::max(mx, double(x[e]));
  double s = 0;
  for (int64_t e = 0; e < E; ++e) s += std::exp(double(x[e]) - mx);
  return mx + std::log(s);
}
}  // namespace

template <typename T>
Backend::RouterAux router_aux_forward(const Context& ctx, const Tensor& logits, const Tensor& probs,
                                      const Tensor& valid, const MoeDispatch& d) {
  (void)ctx;
  const int64_t E = logits.cols(), N = logits.rows();
  check_numel(probs, N * E, "router_aux_forward", "probs");
  if (static_cast<int64_t>(d.top1_fraction.size()) != E) throw_runtime("router_aux_forward: dispatch has {} experts, logits {}", d.top1_fraction.size(), E);
  const uint8_t* pv = valid.defined() ? valid.as<uint8_t>() : nullptr;
  const T *pl = logits.as<T>(), *pp = probs.as<T>();
  std::vector<double> P(E, 0.0);
  double z = 0;
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (pv && !pv[n]) continue;
    ++count;
    for (int64_t e = 0; e < E; ++e) P[e] += pp[n * E + e];
    const double l = row_lse(pl + n * E, E);
    z += l * l;
  }
  Backend::RouterAux r;
  if (count == 0) return r;
  for (int64_t e = 0; e < E; ++e) r.balance += d.top1_fraction[e] * P[e] / double(count);
  r.balance *= double(E);
  r.z = z / double(count);
  return r;
}

template <typename T>
void router_aux_backward(const Context& ctx, const Tensor& logits, const Tensor& probs, const Tensor& valid,
                         const MoeDispatch& d, double balance_weight, double z_weight, Tensor& dlogits,
                         Tensor& dprobs) {
  const int64_t E = logits.cols(), N = logits.rows();
  const uint8_t* pv = valid.defined() ? valid.as<uint8_t>() : nullptr;
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) count += (!pv || pv[n]);
  if (count == 0) return;
  const T *pl = logits.as<T>(), *pp = probs.as<T>();
  T* pdl = dlogits.defined() ? dlogits.as<T>() : nullptr;
  T* pdp = dprobs.defined() ? dprobs.as<T>() : nullptr;
  if (pdl) check_numel(dlogits, N * E, "router_aux_backward", "dlogits");
  if (pdp) check_numel(dprobs, N * E, "router_aux_backward", "dprobs");
  ctx.parallel_for(N, 128, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      if (pv && !pv[n]) continue;
      if (pdp && balance_weight != 0)
        for (int64_t e = 0; e < E; ++e) pdp[n * E + e] += T(balance_weight * E * d.top1_fraction[e] / count);
      if (pdl && z_weight != 0) {
        // d lse^2 / d logit_e = 2 lse softmax_e (softmax of the logits = probs)
        const double l = row_lse(pl + n * E, E);
        for (int64_t e = 0; e < E; ++e) pdl[n * E + e] += T(z_weight * 2.0 * l * double(pp[n * E + e]) / count);
      }
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                                    \
  template Backend::RouterAux router_aux_forward<T>(const Context&, const Tensor&, const Tensor&,            \
                                                    const Tensor&, const MoeDispatch&);                      \
  template void router_aux_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&,          \
                                       const MoeDispatch&, double, double, Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
