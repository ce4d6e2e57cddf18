// Row-wise softmax (the MoE router) and its backward dx = y (dy - <dy, y>).
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void softmax_forward(const Context& ctx, const Tensor& x, Tensor& y) {
  check_type(x, ElemType::real, "softmax_forward", "x");
  check_numel(y, x.numel(), "softmax_forward", "y");
  const int64_t C = x.cols(), R = x.rows();
  const T* px = x.as<T>();
  T* py = y.as<T>();
  ctx.parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = px + r * C;
      T* yr = py + r * C;
      T mx = xr[0];
      for (int64_t c = 1; c < C; ++c) mx = std::max(mx, xr[c]);
      T s = 0;
      for (int64_t c = 0; c < C; ++c) s += (yr[c] = std::exp(xr[c] - mx));
      for (int64_t c = 0; c < C; ++c) yr[c] /= s;
    }
  });
}

template <typename T>
void softmax_backward(const Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx) {
  check_numel(dy, y.numel(), "softmax_backward", "dy");
  check_numel(dx, y.numel(), "softmax_backward", "dx");
  const int64_t C = y.cols(), R = y.rows();
  const T *py = y.as<T>(), *pdy = dy.as<T>();
  T* pdx = dx.as<T>();
  ctx.parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T *yr = py + r * C, *dyr = pdy + r * C;
      T dot = 0;
      for (int64_t c = 0; c < C; ++c) dot += dyr[c] * yr[c];
      for (int64_t c = 0; c < C; ++c) pdx[r * C + c] += yr[c] * (dyr[c] - dot);
    }
  });
}

#define MDS_INSTANTIATE(T)                                                          \
  template void softmax_forward<T>(const Context&, const Tensor&, Tensor&);         \
  template void softmax_backward<T>(const Context&, const Tensor&, const Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
