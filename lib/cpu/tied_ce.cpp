// Rounding cross-entropy -log p(w | x) with logits x E^T + bias against the
// tied word embedding E (DiffuSeq's lm_head). Rows are processed in blocks
// of kBlock so the [rows, V] logits never exist for the whole batch, and rows
// with weight 0 (outside the loss region) cost nothing.
#include <cmath>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {
constexpr int64_t kBlock = 128;

template <typename T>
struct CeArgs {
  int64_t N, d, V;
  const T *x, *E, *bias, *w;
  const int32_t* tgt;
};

template <typename T>
CeArgs<T> ce_args(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                  const Tensor& row_weight, const char* op) {
  CeArgs<T> a{x.rows(), x.cols(), E.rows(), x.as<T>(), E.as<T>(), nullptr, nullptr, nullptr};
  if (E.cols() != a.d) throw_runtime("{}: x {} and embedding {} differ in width", op, shape_string(x.shape()), shape_string(E.shape()));
  check_type(targets, ElemType::i32, op, "targets");
  check_numel(targets, a.N, op, "targets");
  check_numel(row_weight, a.N, op, "row_weight");
  if (bias.defined()) {
    check_numel(bias, a.V, op, "bias");
    a.bias = bias.as<T>();
  }
  a.w = row_weight.as<T>();
  a.tgt = targets.as<int32_t>();
  for (int64_t r = 0; r < a.N; ++r)
    if (a.w[r] != T(0) && (a.tgt[r] < 0 || a.tgt[r] >= a.V))
      throw_runtime("{}: target[{}] = {} outside the vocabulary [0, {})", op, r, a.tgt[r], a.V);
  return a;
}

// logits[R,V] of the listed rows, then each row turned into its softmax; the
// returned vector holds the rows' log-sum-exp.
template <typename T>
void block_softmax(const Context& ctx, const CeArgs<T>& a, const std::vector<int64_t>& rows, std::vector<T>& xb,
                   std::vector<T>& logits, std::vector<double>& lse) {
  const int64_t R = static_cast<int64_t>(rows.size());
  xb.resize(R * a.d);
  for (int64_t i = 0; i < R; ++i) std::copy(a.x + rows[i] * a.d, a.x + (rows[i] + 1) * a.d, xb.begin() + i * a.d);
  logits.resize(R * a.V);
  gemm_raw<T>(ctx, false, true, R, a.V, a.d, T(1), xb.data(), a.d, a.E, a.d, T(0), logits.data(), a.V);
  lse.resize(R);
  ctx.parallel_for(R, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* l = logits.data() + i * a.V;
      if (a.bias)
        for (int64_t v = 0; v < a.V; ++v) l[v] += a.bias[v];
      T mx = l[0];
      for (int64_t v = 1; v < a.V; ++v) mx = std::max(mx, l[v]);
      T s = 0;  // exp in the compute precision: float exp is much cheaper than double
      for (int64_t v = 0; v < a.V; ++v) s += std::exp(l[v] - mx);
      lse[i] = double(mx) + std::log(double(s));
    }
  });
}

template <typename T>
std::vector<int64_t> active_rows(const T* w, int64_t N) {
  std::vector<int64_t> rows;
  for (int64_t r = 0; r < N; ++r)
    if (w[r] != T(0)) rows.push_back(r);
  return rows;
}
}  // namespace

template <typename T>
void tied_ce_forward(const Context& ctx, const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                     const Tensor& row_weight, Tensor& nll) {
  const CeArgs<T> a = ce_args<T>(x, E, bias, targets, row_weight, "tied_ce_forward");
  check_numel(nll, a.N, "tied_ce_forward", "nll");
  T* out = nll.as<T>();
  std::fill(out, out + a.N, T(0));
  const std::vector<int64_t> rows = active_rows<T>(a.w, a.N);
  std::vector<T> xb, logits;
  std::vector<double> lse;
  for (size_t b0 = 0; b0 < rows.size(); b0 += kBlock) {
    std::vector<int64_t> blk(rows.begin() + b0, rows.begin() + std::min(rows.size(), b0 + kBlock));
    block_softmax<T>(ctx, a, blk, xb, logits, lse);
    for (size_t i = 0; i < blk.size(); ++i)
      out[blk[i]] = T(lse[i] - double(logits[i * a.V + a.tgt[blk[i]]]));
  }
}

template <typename T>
void tied_ce_backward(const Context& ctx, const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                      const Tensor& row_weight, Tensor& dx, Tensor& dE, Tensor& dbias) {
  const CeArgs<T> a = ce_args<T>(x, E, bias, targets, row_weight, "tied_ce_backward");
  if (dx.defined()) check_numel(dx, a.N * a.d, "tied_ce_backward", "dx");
  if (dE.defined()) check_numel(dE, a.V * a.d, "tied_ce_backward", "dE");
  if (dbias.defined()) check_numel(dbias, a.V, "tied_ce_backward", "dbias");
  const std::vector<int64_t> rows = active_rows<T>(a.w, a.N);
  std::vector<T> xb, G, dxb;
  std::vector<double> lse;
  for (size_t b0 = 0; b0 < rows.size(); b0 += kBlock) {
    std::vector<int64_t> blk(rows.begin() + b0, rows.begin() + std::min(rows.size(), b0 + kBlock));
    const int64_t R = static_cast<int64_t>(blk.size());
    block_softmax<T>(ctx, a, blk, xb, G, lse);
    // G = w (softmax - onehot(target)), in place over the logits.
    ctx.parallel_for(R, 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        T* g = G.data() + i * a.V;
        const T w = a.w[blk[i]], l = T(lse[i]);
        for (int64_t v = 0; v < a.V; ++v) g[v] = w * std::exp(g[v] - l);
        g[a.tgt[blk[i]]] -= w;
      }
    });
    if (dx.defined()) {
      dxb.assign(R * a.d, T(0));
      gemm_raw<T>(ctx, false, false, R, a.d, a.V, T(1), G.data(), a.V, a.E, a.d, T(0), dxb.data(), a.d);
      T* pdx = dx.as<T>();
      for (int64_t i = 0; i < R; ++i)
        for (int64_t c = 0; c < a.d; ++c) pdx[blk[i] * a.d + c] += dxb[i * a.d + c];
    }
    if (dE.defined())
      gemm_raw<T>(ctx, true, false, a.V, a.d, R, T(1), G.data(), a.V, xb.data(), a.d, T(1), dE.as<T>(), a.d);
    if (dbias.defined()) add_column_sums<T>(ctx, G.data(), R, a.V, dbias.as<T>());
  }
}

#define MDS_INSTANTIATE(T)                                                                                     \
  template void tied_ce_forward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, \
                                   const Tensor&, Tensor&);                                                    \
  template void tied_ce_backward<T>(const Context&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, \
                                    const Tensor&, Tensor&, Tensor&, Tensor&);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
