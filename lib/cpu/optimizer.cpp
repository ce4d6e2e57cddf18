// AdamW (Loshchilov & Hutter 2019, decoupled weight decay, in PyTorch's
// order: decay, then the bias-corrected Adam step) and the EMA of weights.
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void adamw_step(const Context& ctx, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) {
  const int64_t n = param.numel();
  check_numel(grad, n, "adamw_step", "grad");
  check_numel(m, n, "adamw_step", "m");
  check_numel(v, n, "adamw_step", "v");
  if (p.step < 1) throw_runtime("adamw_step: step {} must be >= 1", p.step);
  const double bc1 = 1.0 - std::pow(p.beta1, double(p.step)), bc2 = 1.0 - std::pow(p.beta2, double(p.step));
  const T b1 = T(p.beta1), b2 = T(p.beta2), eps = T(p.eps), decay = T(1.0 - p.lr * p.weight_decay);
  const T step_size = T(p.lr / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2));
  T *pp = param.as<T>(), *pm = m.as<T>(), *pv = v.as<T>();
  const T* pg = grad.as<T>();
  ctx.parallel_for(n, 1 << 14, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      pp[i] *= decay;
      pm[i] = b1 * pm[i] + (T(1) - b1) * pg[i];
      pv[i] = b2 * pv[i] + (T(1) - b2) * pg[i] * pg[i];
      pp[i] -= step_size * pm[i] / (std::sqrt(pv[i]) * inv_sqrt_bc2 + eps);
    }
  });
}

template <typename T>
void ema_update(const Context& ctx, Tensor& ema, const Tensor& param, double decay) {
  check_numel(param, ema.numel(), "ema_update", "param");
  T* pe = ema.as<T>();
  const T* pp = param.as<T>();
  const T d = T(decay), r = T(1.0 - decay);
  ctx.parallel_for(ema.numel(), 1 << 14, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) pe[i] = d * pe[i] + r * pp[i];
  });
}

#define MDS_INSTANTIATE(T)                                                                                   \
  template void adamw_step<T>(const Context&, Tensor&, const Tensor&, Tensor&, Tensor&, const AdamWParams&); \
  template void ema_update<T>(const Context&, Tensor&, const Tensor&, double);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
