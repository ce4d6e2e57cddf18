// Rounding of predicted embeddings to tokens, for the samplers: the nearest
// embedding (DiffuSeq's clamping, argmin ||E_v||^2 - 2 <E_v, x>) and the
// argmax of the tied logits (final decode). Row blocks bound the memory.
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
constexpr int64_t kBlock = 256;

// For each row of x: the v maximising score_v = sign * (x . E_v) + offset_v.
template <typename T>
void argmax_rows(const Context& ctx, const Tensor& x, const Tensor& E, const std::vector<T>& offset, T dot_scale,
                 Tensor& ids, const char* op) {
  const int64_t N = x.rows(), d = x.cols(), V = E.rows();
  if (E.cols() != d) throw_runtime("{}: x {} and embedding {} differ in width", op, shape_string(x.shape()), shape_string(E.shape()));
  check_type(ids, ElemType::i32, op, "ids");
  check_numel(ids, N, op, "ids");
  std::vector<T> scores;
  int32_t* out = ids.as<int32_t>();
  for (int64_t r0 = 0; r0 < N; r0 += kBlock) {
    const int64_t R = std::min(kBlock, N - r0);
    scores.resize(R * V);
    gemm_raw<T>(ctx, false, true, R, V, d, dot_scale, x.as<T>() + r0 * d, d, E.as<T>(), d, T(0), scores.data(), V);
    ctx.parallel_for(R, 8, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T* s = scores.data() + i * V;
        int64_t best = 0;
        T bv = s[0] + offset[0];
        for (int64_t v = 1; v < V; ++v)
          if (s[v] + offset[v] > bv) bv = s[v] + offset[v], best = v;
        out[r0 + i] = static_cast<int32_t>(best);
      }
    });
  }
}
}  // namespace

template <typename T>
void round_nearest(const Context& ctx, const Tensor& x, const Tensor& E, Tensor& ids) {
  const int64_t V = E.rows(), d = E.cols();
  std::vector<T> neg_norm(V);
  for (int64_t v = 0; v < V; ++v) {
    T s = 0;
    for (int64_t c = 0; c < d; ++c) s += E.as<T>()[v * d + c] * E.as<T>()[v * d + c];
    neg_norm[v] = -s;
  }
  // argmin ||E_v||^2 - 2 x.E_v  ==  argmax 2 x.E_v - ||E_v||^2
  argmax_rows<T>(ctx, x, E, neg_norm, T(2), ids, "round_nearest");
}

template <typename T>
void round_argmax(const Context& ctx, const Tensor& x, const Tensor& E, const Tensor& bias, Tensor& ids) {
  std::vector<T> b(E.rows(), T(0));
  if (bias.defined()) {
    check_numel(bias, E.rows(), "round_argmax", "bias");
    std::copy(bias.as<T>(), bias.as<T>() + E.rows(), b.begin());
  }
  argmax_rows<T>(ctx, x, E, b, T(1), ids, "round_argmax");
}

#define MDS_INSTANTIATE(T)                                                                               \
  template void round_nearest<T>(const Context&, const Tensor&, const Tensor&, Tensor&);                 \
  template void round_argmax<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
