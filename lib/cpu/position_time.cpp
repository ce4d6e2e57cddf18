// Adds the learned position embedding and the per-example time embedding to
// the up-projected inputs (DiffuSeq: PosEmb[0:L] + up(x_t) + temb[:, None]).
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

template <typename T>
void add_position_time_forward(const Context& ctx, const Tensor& x, const Tensor& pos, const Tensor& temb, int batch,
                               int seq_len, Tensor& out) {
  const int64_t H = x.cols();
  check_numel(x, int64_t(batch) * seq_len * H, "add_position_time_forward", "x");
  check_numel(temb, int64_t(batch) * H, "add_position_time_forward", "temb");
  check_numel(out, x.numel(), "add_position_time_forward", "out");
  if (pos.cols() != H || pos.rows() < seq_len)
    throw_runtime("add_position_time_forward: position table {} is too small for L = {}, H = {}",
                  shape_string(pos.shape()), seq_len, H);
  const T *px = x.as<T>(), *pp = pos.as<T>(), *pt = temb.as<T>();
  T* po = out.as<T>();
  ctx.parallel_for(int64_t(batch) * seq_len, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / seq_len, l = r % seq_len;
      for (int64_t c = 0; c < H; ++c) po[r * H + c] = px[r * H + c] + pp[l * H + c] + pt[b * H + c];
    }
  });
}

template <typename T>
void add_position_time_backward(const Context& ctx, const Tensor& dout, int batch, int seq_len, Tensor& dpos,
                                Tensor& dtemb) {
  const int64_t H = dout.cols();
  check_numel(dout, int64_t(batch) * seq_len * H, "add_position_time_backward", "dout");
  const T* pd = dout.as<T>();
  T* pp = dpos.defined() ? dpos.as<T>() : nullptr;
  T* pt = dtemb.defined() ? dtemb.as<T>() : nullptr;
  if (pt) check_numel(dtemb, int64_t(batch) * H, "add_position_time_backward", "dtemb");
  if (pp && (dpos.cols() != H || dpos.rows() < seq_len))
    throw_runtime("add_position_time_backward: dpos {} too small", shape_string(dpos.shape()));
  ctx.parallel_for(H, 16, [&](int64_t c0, int64_t c1) {
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t l = 0; l < seq_len; ++l) {
        const T* row = pd + (b * seq_len + l) * H;
        for (int64_t c = c0; c < c1; ++c) {
          if (pp) pp[l * H + c] += row[c];
          if (pt) pt[b * H + c] += row[c];
        }
      }
  });
}

#define MDS_INSTANTIATE(T)                                                                                     \
  template void add_position_time_forward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, int, \
                                             int, Tensor&);                                                    \
  template void add_position_time_backward<T>(const Context&, const Tensor&, int, int, Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
