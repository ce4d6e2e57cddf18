// Elementwise updates and reductions on real tensors (fill, add, axpy, scale,
// sum of squares for gradient norms).
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
constexpr int64_t kGrain = 1 << 14;
}

template <typename T>
void fill(const Context& ctx, Tensor& t, double value) {
  check_defined(t, "fill", "t");
  const int64_t n = t.numel();
  switch (t.type()) {
    case ElemType::real: {
      T* p = t.as<T>();
      ctx.parallel_for(n, kGrain, [&](int64_t a, int64_t b) { std::fill(p + a, p + b, T(value)); });
      break;
    }
    case ElemType::i32: std::fill(t.as<int32_t>(), t.as<int32_t>() + n, static_cast<int32_t>(value)); break;
    case ElemType::u8: std::fill(t.as<uint8_t>(), t.as<uint8_t>() + n, static_cast<uint8_t>(value)); break;
    case ElemType::u64: std::fill(t.as<uint64_t>(), t.as<uint64_t>() + n, static_cast<uint64_t>(value)); break;
  }
}

template <typename T>
void add(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  check_type(a, ElemType::real, "add", "a");
  check_numel(b, a.numel(), "add", "b");
  check_numel(out, a.numel(), "add", "out");
  const T *pa = a.as<T>(), *pb = b.as<T>();
  T* po = out.as<T>();
  ctx.parallel_for(a.numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) po[i] = pa[i] + pb[i];
  });
}

template <typename T>
void axpy(const Context& ctx, double alpha, const Tensor& x, Tensor& y) {
  check_type(x, ElemType::real, "axpy", "x");
  check_numel(y, x.numel(), "axpy", "y");
  const T* px = x.as<T>();
  T* py = y.as<T>();
  const T a = T(alpha);
  ctx.parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) py[i] += a * px[i];
  });
}

template <typename T>
void scale(const Context& ctx, Tensor& x, double alpha) {
  check_type(x, ElemType::real, "scale", "x");
  T* p = x.as<T>();
  const T a = T(alpha);
  ctx.parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) p[i] *= a;
  });
}

template <typename T>
double sum_squares(const Context& ctx, const Tensor& x) {
  check_type(x, ElemType::real, "sum_squares", "x");
  const T* p = x.as<T>();
  const int64_t n = x.numel();
  // Fixed chunking so the result does not depend on the thread count.
  const int64_t chunk = kGrain;
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
  ctx.parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double s = 0;
      for (int64_t i = c * chunk, e = std::min(n, (c + 1) * chunk); i < e; ++i) s += double(p[i]) * double(p[i]);
      part[c] = s;
    }
  });
  double total = 0;
  for (double s : part) total += s;
  return total;
}

#define MDS_INSTANTIATE(T)                                                              \
  template void fill<T>(const Context&, Tensor&, double);                               \
  template void add<T>(const Context&, const Tensor&, const Tensor&, Tensor&);          \
  template void axpy<T>(const Context&, double, const Tensor&, Tensor&);                \
  template void scale<T>(const Context&, Tensor&, double);                              \
  template double sum_squares<T>(const Context&, const Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
