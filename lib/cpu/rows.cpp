// Row gather and scatter-add: the embedding lookup and its backward, and the
// MoE token permutation into expert slots and back.
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
// The row indices of a gather or scatter of rows of width C: index is i32,
// `packed` (the gathered rows) holds index.numel() * C values, and every index
// is in [0, rows).
const int32_t* checked_rows(const Tensor& index, int64_t rows, const Tensor& packed, int64_t C, const char* op,
                            const char* packed_name) {
  check_type(index, ElemType::i32, op, "index");
  check_numel(packed, index.numel() * C, op, packed_name);
  const int32_t* idx = index.as<int32_t>();
  for (int64_t s = 0; s < index.numel(); ++s)
    if (idx[s] < 0 || idx[s] >= rows) throw_runtime("{}: index[{}] = {} is outside [0, {})", op, s, idx[s], rows);
  return idx;
}
}  // namespace

template <typename T>
void gather_rows(const Context& ctx, const Tensor& x, const Tensor& index, Tensor& out) {
  const int64_t C = x.cols(), S = index.numel();
  const int32_t* idx = checked_rows(index, x.rows(), out, C, "gather_rows", "out");
  const T* px = x.as<T>();
  T* po = out.as<T>();
  ctx.parallel_for(S, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) std::copy(px + int64_t(idx[s]) * C, px + (int64_t(idx[s]) + 1) * C, po + s * C);
  });
}

template <typename T>
void scatter_add_rows(const Context& ctx, const Tensor& dout, const Tensor& index, Tensor& dx) {
  const int64_t C = dx.cols(), S = index.numel();
  const int32_t* idx = checked_rows(index, dx.rows(), dout, C, "scatter_add_rows", "dout");
  const T* pd = dout.as<T>();
  T* px = dx.as<T>();
  // Repeated indices collide, so threads split the columns instead of the rows.
  ctx.parallel_for(C, 16, [&](int64_t c0, int64_t c1) {
    for (int64_t s = 0; s < S; ++s) {
      T* dst = px + int64_t(idx[s]) * C;
      const T* src = pd + s * C;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                     \
  template void gather_rows<T>(const Context&, const Tensor&, const Tensor&, Tensor&);         \
  template void scatter_add_rows<T>(const Context&, const Tensor&, const Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
