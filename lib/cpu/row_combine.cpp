// out[r] = ax[r] x[r] + am[r] m + ae[r] e[r]: the one row-wise blend behind
// embedding noise, partial noising around the absorbing state m, absorbing
// replacement (ax = 0, am = 1) and source re-imposition in the samplers.
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void row_combine_forward(const Context& ctx, const Tensor& x, const Tensor& ax, const Tensor& m, const Tensor& am,
                         const Tensor& e, const Tensor& ae, Tensor& out) {
  const int64_t C = x.cols(), R = x.rows();
  check_numel(ax, R, "row_combine_forward", "ax");
  check_numel(out, R * C, "row_combine_forward", "out");
  const bool use_m = m.defined(), use_e = e.defined();
  if (use_m) {
    check_numel(m, C, "row_combine_forward", "m");
    check_numel(am, R, "row_combine_forward", "am");
  }
  if (use_e) {
    check_numel(e, R * C, "row_combine_forward", "e");
    check_numel(ae, R, "row_combine_forward", "ae");
  }
  const T *px = x.as<T>(), *pax = ax.as<T>();
  const T *pm = use_m ? m.as<T>() : nullptr, *pam = use_m ? am.as<T>() : nullptr;
  const T *pe = use_e ? e.as<T>() : nullptr, *pae = use_e ? ae.as<T>() : nullptr;
  T* po = out.as<T>();
  ctx.parallel_for(R, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T a = pax[r], b = use_m ? pam[r] : T(0), g = use_e ? pae[r] : T(0);
      for (int64_t c = 0; c < C; ++c) {
        T v = a * px[r * C + c];
        if (use_m) v += b * pm[c];
        if (use_e) v += g * pe[r * C + c];
        po[r * C + c] = v;
      }
    }
  });
}

template <typename T>
void row_combine_backward(const Context& ctx, const Tensor& dout, const Tensor& ax, const Tensor& am,
                          const Tensor& ae, Tensor& dx, Tensor& dm, Tensor& de) {
  const int64_t C = dout.cols(), R = dout.rows();
  const T* pd = dout.as<T>();
  // The gradient of a per-row term a[r] y[r]: dy[r] += a[r] dout[r] (x and e alike).
  auto row_scaled = [&](const Tensor& a, Tensor& dy, const char* a_name, const char* dy_name) {
    check_numel(a, R, "row_combine_backward", a_name);
    check_numel(dy, R * C, "row_combine_backward", dy_name);
    const T* pa = a.as<T>();
    T* p = dy.as<T>();
    ctx.parallel_for(R, 32, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < C; ++c) p[r * C + c] += pa[r] * pd[r * C + c];
    });
  };
  if (dx.defined()) row_scaled(ax, dx, "ax", "dx");
  if (de.defined()) row_scaled(ae, de, "ae", "de");
  if (dm.defined()) {
    check_numel(am, R, "row_combine_backward", "am");
    check_numel(dm, C, "row_combine_backward", "dm");
    const T* pam = am.as<T>();
    T* p = dm.as<T>();
    ctx.parallel_for(C, 16, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < R; ++r) {
        if (pam[r] == T(0)) continue;
        for (int64_t c = c0; c < c1; ++c) p[c] += pam[r] * pd[r * C + c];
      }
    });
  }
}

#define MDS_INSTANTIATE(T)                                                                                      \
  template void row_combine_forward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&,             \
                                       const Tensor&, const Tensor&, const Tensor&, Tensor&);                   \
  template void row_combine_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&,            \
                                        const Tensor&, Tensor&, Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
