// Pointwise activations and their derivatives: tanh (up/down projections),
// SiLU (time-embedding MLP) and exact erf GELU (BERT FFN and experts).
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
constexpr int64_t kGrain = 1 << 13;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
}  // namespace

template <typename T>
void activation_forward(const Context& ctx, Activation act, const Tensor& x, Tensor& y) {
  check_type(x, ElemType::real, "activation_forward", "x");
  check_numel(y, x.numel(), "activation_forward", "y");
  const T* px = x.as<T>();
  T* py = y.as<T>();
  ctx.parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
    switch (act) {
      case Activation::tanh:
        for (int64_t i = s; i < e; ++i) py[i] = std::tanh(px[i]);
        break;
      case Activation::silu:
        for (int64_t i = s; i < e; ++i) py[i] = px[i] * sigmoid(px[i]);
        break;
      case Activation::gelu:
        for (int64_t i = s; i < e; ++i) py[i] = T(0.5) * px[i] * (T(1) + std::erf(px[i] * T(kInvSqrt2)));
        break;
    }
  });
}

template <typename T>
void activation_backward(const Context& ctx, Activation act, const Tensor& x, const Tensor& y, const Tensor& dy,
                         Tensor& dx, GradMode dx_mode) {
  check_type(x, ElemType::real, "activation_backward", "x");
  check_numel(y, x.numel(), "activation_backward", "y");
  check_numel(dy, x.numel(), "activation_backward", "dy");
  check_numel(dx, x.numel(), "activation_backward", "dx");
  const T *px = x.as<T>(), *py = y.as<T>(), *pdy = dy.as<T>();
  T* pdx = dx.as<T>();
  // Overwrite assigns instead of adding to a zero, so an uninitialised
  // (on the CPU, NaN-poisoned) dx is never read.
  const bool add = dx_mode == GradMode::add;
  auto put = [add](T& out, T v) { out = add ? out + v : v; };
  ctx.parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
    switch (act) {
      case Activation::tanh:
        for (int64_t i = s; i < e; ++i) put(pdx[i], pdy[i] * (T(1) - py[i] * py[i]));
        break;
      case Activation::silu:
        for (int64_t i = s; i < e; ++i) {
          const T sg = sigmoid(px[i]);
          put(pdx[i], pdy[i] * sg * (T(1) + px[i] * (T(1) - sg)));
        }
        break;
      case Activation::gelu:
        // d/dx [x Phi(x)] = Phi(x) + x phi(x)
        for (int64_t i = s; i < e; ++i) {
          const T cdf = T(0.5) * (T(1) + std::erf(px[i] * T(kInvSqrt2)));
          const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * px[i] * px[i]);
          put(pdx[i], pdy[i] * (cdf + px[i] * pdf));
        }
        break;
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                              \
  template void activation_forward<T>(const Context&, Activation, const Tensor&, Tensor&);              \
  template void activation_backward<T>(const Context&, Activation, const Tensor&, const Tensor&, const Tensor&, \
                                       Tensor&, GradMode);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
