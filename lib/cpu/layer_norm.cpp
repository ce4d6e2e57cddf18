// Layer normalisation over the last dimension with affine gamma/beta; the
// forward saves per-row mean and 1/std for the backward.
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void layer_norm_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                        Tensor& y, Tensor& mean, Tensor& rstd) {
  check_type(x, ElemType::real, "layer_norm_forward", "x");
  const int64_t C = x.cols(), R = x.rows();
  check_numel(gamma, C, "layer_norm_forward", "gamma");
  check_numel(beta, C, "layer_norm_forward", "beta");
  check_numel(y, R * C, "layer_norm_forward", "y");
  check_numel(mean, R, "layer_norm_forward", "mean");
  check_numel(rstd, R, "layer_norm_forward", "rstd");
  const T *px = x.as<T>(), *g = gamma.as<T>(), *bt = beta.as<T>();
  T *py = y.as<T>(), *pm = mean.as<T>(), *pr = rstd.as<T>();
  ctx.parallel_for(R, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = px + r * C;
      T mu = 0;
      for (int64_t c = 0; c < C; ++c) mu += xr[c];
      mu /= T(C);
      T var = 0;
      for (int64_t c = 0; c < C; ++c) var += (xr[c] - mu) * (xr[c] - mu);
      var /= T(C);
      const T rs = T(1) / std::sqrt(var + T(eps));
      pm[r] = mu;
      pr[r] = rs;
      T* yr = py + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - mu) * rs * g[c] + bt[c];
    }
  });
}

template <typename T>
void layer_norm_backward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const int64_t C = x.cols(), R = x.rows();
  check_numel(dy, R * C, "layer_norm_backward", "dy");
  const T *px = x.as<T>(), *g = gamma.as<T>(), *pm = mean.as<T>(), *pr = rstd.as<T>(), *pdy = dy.as<T>();
  if (dx.defined()) {
    check_numel(dx, R * C, "layer_norm_backward", "dx");
    T* pdx = dx.as<T>();
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma.
    ctx.parallel_for(R, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T *xr = px + r * C, *dyr = pdy + r * C;
        const T mu = pm[r], rs = pr[r];
        T sg = 0, sgx = 0;
        for (int64_t c = 0; c < C; ++c) {
          const T gc = dyr[c] * g[c];
          sg += gc;
          sgx += gc * (xr[c] - mu) * rs;
        }
        sg /= T(C);
        sgx /= T(C);
        T* dxr = pdx + r * C;
        for (int64_t c = 0; c < C; ++c) dxr[c] += rs * (dyr[c] * g[c] - sg - (xr[c] - mu) * rs * sgx);
      }
    });
  }
  if (dgamma.defined() || dbeta.defined()) {
    T* dg = dgamma.defined() ? dgamma.as<T>() : nullptr;
    T* db = dbeta.defined() ? dbeta.as<T>() : nullptr;
    ctx.parallel_for(C, 32, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < R; ++r) {
        const T *xr = px + r * C, *dyr = pdy + r * C;
        const T mu = pm[r], rs = pr[r];
        for (int64_t c = c0; c < c1; ++c) {
          if (dg) dg[c] += dyr[c] * (xr[c] - mu) * rs;
          if (db) db[c] += dyr[c];
        }
      }
    });
  }
}

#define MDS_INSTANTIATE(T)                                                                                     \
  template void layer_norm_forward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, double,     \
                                      Tensor&, Tensor&, Tensor&);                                              \
  template void layer_norm_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&,            \
                                       const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
