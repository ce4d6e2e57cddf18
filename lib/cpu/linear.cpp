// Linear layers y = x W^T + b and the per-expert (grouped) variant used by
// MoE FFNs on contiguous slot ranges (dropless: ranges of any size).
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
template <typename T>
void add_bias_rows(const Context& ctx, T* y, const T* b, int64_t rows, int64_t cols) {
  ctx.parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] += b[c];
  });
}
}  // namespace

template <typename T>
void linear_forward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y) {
  check_type(x, ElemType::real, "linear_forward", "x");
  check_type(W, ElemType::real, "linear_forward", "W");
  const int64_t out = W.dim(0), in = W.numel() / out, n = x.numel() / in;
  if (x.cols() != in) throw_runtime("linear_forward: x {} does not match W {}", shape_string(x.shape()), shape_string(W.shape()));
  check_numel(y, n * out, "linear_forward", "y");
  gemm_raw<T>(ctx, false, true, n, out, in, T(1), x.as<T>(), in, W.as<T>(), in, T(0), y.as<T>(), out);
  if (b.defined()) {
    check_numel(b, out, "linear_forward", "b");
    add_bias_rows<T>(ctx, y.as<T>(), b.as<T>(), n, out);
  }
}

template <typename T>
void linear_backward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& dy, Tensor& dx, Tensor& dW,
                     Tensor& db) {
  const int64_t out = W.dim(0), in = W.numel() / out, n = x.numel() / in;
  check_numel(dy, n * out, "linear_backward", "dy");
  if (dx.defined()) {
    check_numel(dx, n * in, "linear_backward", "dx");
    gemm_raw<T>(ctx, false, false, n, in, out, T(1), dy.as<T>(), out, W.as<T>(), in, T(1), dx.as<T>(), in);
  }
  if (dW.defined()) {
    check_numel(dW, out * in, "linear_backward", "dW");
    gemm_raw<T>(ctx, true, false, out, in, n, T(1), dy.as<T>(), out, x.as<T>(), in, T(1), dW.as<T>(), in);
  }
  if (db.defined()) {
    check_numel(db, out, "linear_backward", "db");
    add_column_sums<T>(ctx, dy.as<T>(), n, out, db.as<T>());
  }
}

namespace {
void check_offsets(const std::vector<int64_t>& offsets, int64_t experts, int64_t rows, const char* op) {
  if (static_cast<int64_t>(offsets.size()) != experts + 1 || offsets.front() != 0 || offsets.back() != rows)
    throw_runtime("{}: offsets must have {} entries from 0 to {}", op, experts + 1, rows);
  for (int64_t e = 0; e < experts; ++e)
    if (offsets[e + 1] < offsets[e]) throw_runtime("{}: offsets are not ascending at expert {}", op, e);
}
}  // namespace

template <typename T>
void grouped_linear_forward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& b,
                            const std::vector<int64_t>& offsets, Tensor& y) {
  if (W.ndim() != 3) throw_runtime("grouped_linear_forward: W must be [E,out,in], got {}", shape_string(W.shape()));
  const int64_t E = W.dim(0), out = W.dim(1), in = W.dim(2), S = x.numel() / std::max<int64_t>(in, 1);
  check_offsets(offsets, E, S, "grouped_linear_forward");
  check_numel(y, S * out, "grouped_linear_forward", "y");
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = offsets[e], rows = offsets[e + 1] - r0;
    if (rows == 0) continue;
    T* ye = y.as<T>() + r0 * out;
    gemm_raw<T>(ctx, false, true, rows, out, in, T(1), x.as<T>() + r0 * in, in, W.as<T>() + e * out * in, in, T(0),
                ye, out);
    if (b.defined()) add_bias_rows<T>(ctx, ye, b.as<T>() + e * out, rows, out);
  }
}

template <typename T>
void grouped_linear_backward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& dy,
                             const std::vector<int64_t>& offsets, Tensor& dx, Tensor& dW, Tensor& db,
                             GradMode dx_mode) {
  const int64_t E = W.dim(0), out = W.dim(1), in = W.dim(2), S = x.numel() / std::max<int64_t>(in, 1);
  check_offsets(offsets, E, S, "grouped_linear_backward");
  check_numel(dy, S * out, "grouped_linear_backward", "dy");
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = offsets[e], rows = offsets[e + 1] - r0;
    if (rows == 0) continue;
    const T* dye = dy.as<T>() + r0 * out;
    if (dx.defined())
      gemm_raw<T>(ctx, false, false, rows, in, out, T(1), dye, out, W.as<T>() + e * out * in, in,
                  dx_mode == GradMode::add ? T(1) : T(0), dx.as<T>() + r0 * in, in);
    if (dW.defined())
      gemm_raw<T>(ctx, true, false, out, in, rows, T(1), dye, out, x.as<T>() + r0 * in, in, T(1),
                  dW.as<T>() + e * out * in, in);
    if (db.defined()) add_column_sums<T>(ctx, dye, rows, out, db.as<T>() + e * out);
  }
}

#define MDS_INSTANTIATE(T)                                                                                      \
  template void linear_forward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, Tensor&);        \
  template void linear_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, Tensor&, Tensor&, \
                                   Tensor&);                                                                    \
  template void grouped_linear_forward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&,          \
                                          const std::vector<int64_t>&, Tensor&);                                \
  template void grouped_linear_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&,         \
                                           const std::vector<int64_t>&, Tensor&, Tensor&, Tensor&, GradMode);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
