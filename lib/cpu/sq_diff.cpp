// Per-row mean squared difference: the x0 MSE and the prior term
// (||sqrt(abar_T) x0||^2 with b = 0), reduced per row so the model can apply
// masks, per-example averaging and importance weights on the host.
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void row_sq_diff_forward(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t C = a.cols(), R = a.rows();
  if (b.defined()) check_numel(b, R * C, "row_sq_diff_forward", "b");
  check_numel(out, R, "row_sq_diff_forward", "out");
  const T* pa = a.as<T>();
  const T* pb = b.defined() ? b.as<T>() : nullptr;
  T* po = out.as<T>();
  ctx.parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T s = 0;
      for (int64_t c = 0; c < C; ++c) {
        const T diff = pa[r * C + c] - (pb ? pb[r * C + c] : T(0));
        s += diff * diff;
      }
      po[r] = s / T(C);
    }
  });
}

template <typename T>
void row_sq_diff_backward(const Context& ctx, const Tensor& a, const Tensor& b, const Tensor& drow, Tensor& da,
                          Tensor& db) {
  const int64_t C = a.cols(), R = a.rows();
  check_numel(drow, R, "row_sq_diff_backward", "drow");
  const T* pa = a.as<T>();
  const T* pb = b.defined() ? b.as<T>() : nullptr;
  const T* pd = drow.as<T>();
  T* pda = da.defined() ? da.as<T>() : nullptr;
  T* pdb = db.defined() ? db.as<T>() : nullptr;
  if (pda) check_numel(da, R * C, "row_sq_diff_backward", "da");
  if (pdb) check_numel(db, R * C, "row_sq_diff_backward", "db");
  ctx.parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (pd[r] == T(0)) continue;
      const T f = T(2) * pd[r] / T(C);
      for (int64_t c = 0; c < C; ++c) {
        const T g = f * (pa[r * C + c] - (pb ? pb[r * C + c] : T(0)));
        if (pda) pda[r * C + c] += g;
        if (pdb) pdb[r * C + c] -= g;
      }
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                                  \
  template void row_sq_diff_forward<T>(const Context&, const Tensor&, const Tensor&, Tensor&);              \
  template void row_sq_diff_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, Tensor&, \
                                        Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
