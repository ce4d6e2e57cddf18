// Counter-based Gaussian noise and inverted dropout. Each element's draw
// depends only on its row key, the salt and its column (backend/rng.h).
#include "backend/rng.h"
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void gaussian_fill(const Context& ctx, const Tensor& row_keys, uint64_t salt, Tensor& out) {
  check_type(row_keys, ElemType::u64, "gaussian_fill", "row_keys");
  const int64_t C = out.cols(), R = out.rows();
  check_numel(row_keys, R, "gaussian_fill", "row_keys");
  const uint64_t* keys = row_keys.as<uint64_t>();
  T* po = out.as<T>();
  ctx.parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) po[r * C + c] = T(rng::normal(keys[r], salt, uint64_t(c)));
  });
}

template <typename T>
void dropout_forward(const Context& ctx, const Tensor& x, double p, const Tensor& row_keys, uint64_t salt, Tensor& y,
                     Tensor& mask) {
  if (!(p >= 0 && p < 1)) throw_runtime("dropout_forward: rate {} must be in [0, 1)", p);
  const int64_t C = x.cols(), R = x.rows();
  check_numel(row_keys, R, "dropout_forward", "row_keys");
  check_numel(y, R * C, "dropout_forward", "y");
  check_type(mask, ElemType::u8, "dropout_forward", "mask");
  check_numel(mask, R * C, "dropout_forward", "mask");
  const uint64_t* keys = row_keys.as<uint64_t>();
  const T* px = x.as<T>();
  T* py = y.as<T>();
  uint8_t* pm = mask.as<uint8_t>();
  const T keep_scale = T(1.0 / (1.0 - p));
  ctx.parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const bool keep = rng::uniform(keys[r], salt, uint64_t(c)) >= p;
        pm[r * C + c] = keep;
        py[r * C + c] = keep ? px[r * C + c] * keep_scale : T(0);
      }
  });
}

template <typename T>
void dropout_backward(const Context& ctx, const Tensor& dy, const Tensor& mask, double p, Tensor& dx) {
  check_numel(mask, dy.numel(), "dropout_backward", "mask");
  check_numel(dx, dy.numel(), "dropout_backward", "dx");
  const T* pdy = dy.as<T>();
  const uint8_t* pm = mask.as<uint8_t>();
  T* pdx = dx.as<T>();
  const T keep_scale = T(1.0 / (1.0 - p));
  ctx.parallel_for(dy.numel(), 1 << 14, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i)
      if (pm[i]) pdx[i] += pdy[i] * keep_scale;
  });
}

#define MDS_INSTANTIATE(T)                                                                                   \
  template void gaussian_fill<T>(const Context&, const Tensor&, uint64_t, Tensor&);                          \
  template void dropout_forward<T>(const Context&, const Tensor&, double, const Tensor&, uint64_t, Tensor&,   \
                                   Tensor&);                                                                 \
  template void dropout_backward<T>(const Context&, const Tensor&, const Tensor&, double, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
