// Sliding-window + global sparse self-attention (Longformer pattern, DESIGN.md
// §4), forward and backward, in O(L * (window + globals)) time and without any
// L x L matrix. Each (example, head) pair is one task: a query's keys are
// listed, scored into a per-thread row buffer, and the forward saves the row's
// log-sum-exp so the backward recomputes probabilities (flash-style).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {

struct PatternView {
  int L = 0, window = 0;
  const uint8_t* valid = nullptr;      // [L] of this example
  const uint8_t* is_global = nullptr;  // [L]
  const int32_t* globals = nullptr;    // ascending positions
  int global_count = 0;
};

// Keys of query i for a head with dilation d, in a fixed order (window, then
// the globals outside it) so forward and backward visit the same list.
void collect_keys(const PatternView& p, int i, int d, std::vector<int>& keys) {
  keys.clear();
  if (p.is_global[i]) {
    for (int j = 0; j < p.L; ++j)
      if (p.valid[j]) keys.push_back(j);
    return;
  }
  const int64_t w = p.window;
  const int64_t kmin = -std::min<int64_t>(w, i / d), kmax = std::min<int64_t>(w, (p.L - 1 - i) / d);
  for (int64_t k = kmin; k <= kmax; ++k) {
    const int j = static_cast<int>(i + k * d);
    if (p.valid[j]) keys.push_back(j);
  }
  for (int g = 0; g < p.global_count; ++g) {
    const int j = p.globals[g];
    if (!p.valid[j]) continue;
    const int64_t diff = int64_t(j) - i;
    if (std::abs(diff) <= w * d && diff % d == 0) continue;  // already in the window
    keys.push_back(j);
  }
}

void check_args(const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv, const char* op) {
  if (s.batch < 0 || s.seq_len < 0 || s.heads <= 0 || s.head_dim <= 0 || s.window < 0)
    throw_runtime("{}: invalid shape B={} L={} heads={} head_dim={} window={}", op, s.batch, s.seq_len, s.heads,
                  s.head_dim, s.window);
  if (static_cast<int>(s.dilation.size()) != s.heads)
    throw_runtime("{}: {} dilations given for {} heads", op, s.dilation.size(), s.heads);
  for (int d : s.dilation)
    if (d < 1) throw_runtime("{}: dilation {} must be >= 1", op, d);
  const int64_t N = int64_t(s.batch) * s.seq_len, H = int64_t(s.heads) * s.head_dim;
  check_numel(qkv, N * 3 * H, op, "qkv");
  check_type(p.valid, ElemType::u8, op, "pattern.valid");
  check_numel(p.valid, N, op, "pattern.valid");
  check_numel(p.is_global, N, op, "pattern.is_global");
  check_numel(p.global_count, s.batch, op, "pattern.global_count");
  check_numel(p.global_pos, int64_t(s.batch) * p.max_globals, op, "pattern.global_pos");
  for (int b = 0; b < s.batch; ++b) {
    const int gc = p.global_count.as<int32_t>()[b];
    if (gc < 0 || gc > p.max_globals) throw_runtime("{}: global_count[{}] = {} exceeds {}", op, b, gc, p.max_globals);
    for (int g = 0; g < gc; ++g) {
      const int j = p.global_pos.as<int32_t>()[int64_t(b) * p.max_globals + g];
      if (j < 0 || j >= s.seq_len) throw_runtime("{}: global position {} outside [0, {})", op, j, s.seq_len);
    }
  }
}

PatternView view_of(const AttentionShape& s, const AttentionPattern& p, int b) {
  PatternView v;
  v.L = s.seq_len;
  v.window = std::min(s.window, s.seq_len);  // keeps w * d small; a window of L is already dense
  v.valid = p.valid.as<uint8_t>() + int64_t(b) * s.seq_len;
  v.is_global = p.is_global.as<uint8_t>() + int64_t(b) * s.seq_len;
  v.globals = p.global_pos.as<int32_t>() + int64_t(b) * p.max_globals;
  v.global_count = p.global_count.as<int32_t>()[b];
  return v;
}

}  // namespace

template <typename T>
void attention_forward(const Context& ctx, const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv,
                       Tensor& out, Tensor& lse) {
  check_args(s, p, qkv, "attention_forward");
  const int L = s.seq_len, D = s.head_dim;
  const int64_t H = int64_t(s.heads) * D, stride = 3 * H;
  check_numel(out, int64_t(s.batch) * L * H, "attention_forward", "out");
  check_numel(lse, int64_t(s.batch) * s.heads * L, "attention_forward", "lse");
  const T scale = T(1) / std::sqrt(T(D));
  const T* base = qkv.as<T>();
  T* po = out.as<T>();
  T* pl = lse.as<T>();
  ctx.parallel_for(int64_t(s.batch) * s.heads, 1, [&](int64_t t0, int64_t t1) {
    std::vector<int> keys;
    std::vector<T> score;
    std::vector<T> acc(D);
    keys.reserve(L);
    for (int64_t task = t0; task < t1; ++task) {
      const int b = static_cast<int>(task / s.heads), h = static_cast<int>(task % s.heads);
      const PatternView pv = view_of(s, p, b);
      const T* rows = base + int64_t(b) * L * stride;
      for (int i = 0; i < L; ++i) {
        collect_keys(pv, i, s.dilation[h], keys);
        const T* q = rows + int64_t(i) * stride + int64_t(h) * D;
        T* o = po + (int64_t(b) * L + i) * H + int64_t(h) * D;
        T* lrow = pl + (int64_t(b) * s.heads + h) * L + i;
        if (keys.empty()) {  // only possible for a padding query with no valid key in reach
          std::fill(o, o + D, T(0));
          *lrow = -std::numeric_limits<T>::infinity();
          continue;
        }
        score.resize(keys.size());
        T mx = -std::numeric_limits<T>::infinity();
        for (size_t n = 0; n < keys.size(); ++n) {
          const T* k = rows + int64_t(keys[n]) * stride + H + int64_t(h) * D;
          T dot = 0;
          for (int c = 0; c < D; ++c) dot += q[c] * k[c];
          score[n] = dot * scale;
          mx = std::max(mx, score[n]);
        }
        T sum = 0;
        std::fill(acc.begin(), acc.end(), T(0));
        for (size_t n = 0; n < keys.size(); ++n) {
          const T e = std::exp(score[n] - mx);
          sum += e;
          const T* v = rows + int64_t(keys[n]) * stride + 2 * H + int64_t(h) * D;
          for (int c = 0; c < D; ++c) acc[c] += e * v[c];
        }
        for (int c = 0; c < D; ++c) o[c] = acc[c] / sum;
        *lrow = mx + std::log(sum);
      }
    }
  });
}

template <typename T>
void attention_backward(const Context& ctx, const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv,
                        const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) {
  check_args(s, p, qkv, "attention_backward");
  const int L = s.seq_len, D = s.head_dim;
  const int64_t H = int64_t(s.heads) * D, stride = 3 * H;
  check_numel(out, int64_t(s.batch) * L * H, "attention_backward", "out");
  check_numel(dout, int64_t(s.batch) * L * H, "attention_backward", "dout");
  check_numel(lse, int64_t(s.batch) * s.heads * L, "attention_backward", "lse");
  check_numel(dqkv, qkv.numel(), "attention_backward", "dqkv");
  const T scale = T(1) / std::sqrt(T(D));
  const T *base = qkv.as<T>(), *po = out.as<T>(), *pl = lse.as<T>(), *pdo = dout.as<T>();
  T* dbase = dqkv.as<T>();
  // A task owns one head of one example: every dq/dk/dv it writes lies in that
  // head's columns of that example's rows, so tasks never collide.
  ctx.parallel_for(int64_t(s.batch) * s.heads, 1, [&](int64_t t0, int64_t t1) {
    std::vector<int> keys;
    keys.reserve(L);
    for (int64_t task = t0; task < t1; ++task) {
      const int b = static_cast<int>(task / s.heads), h = static_cast<int>(task % s.heads);
      const PatternView pv = view_of(s, p, b);
      const T* rows = base + int64_t(b) * L * stride;
      T* drows = dbase + int64_t(b) * L * stride;
      for (int i = 0; i < L; ++i) {
        const T li = pl[(int64_t(b) * s.heads + h) * L + i];
        if (std::isinf(li)) continue;
        collect_keys(pv, i, s.dilation[h], keys);
        const T* q = rows + int64_t(i) * stride + int64_t(h) * D;
        T* dq = drows + int64_t(i) * stride + int64_t(h) * D;
        const T* o = po + (int64_t(b) * L + i) * H + int64_t(h) * D;
        const T* go = pdo + (int64_t(b) * L + i) * H + int64_t(h) * D;
        T delta = 0;  // sum_c dO * O = sum_j p_j (dO . v_j)
        for (int c = 0; c < D; ++c) delta += go[c] * o[c];
        for (int j : keys) {
          const T* k = rows + int64_t(j) * stride + H + int64_t(h) * D;
          const T* v = rows + int64_t(j) * stride + 2 * H + int64_t(h) * D;
          T* dk = drows + int64_t(j) * stride + H + int64_t(h) * D;
          T* dv = drows + int64_t(j) * stride + 2 * H + int64_t(h) * D;
          T dot = 0, dp = 0;
          for (int c = 0; c < D; ++c) {
            dot += q[c] * k[c];
            dp += go[c] * v[c];
          }
          const T prob = std::exp(dot * scale - li);
          const T ds = prob * (dp - delta) * scale;
          for (int c = 0; c < D; ++c) {
            dv[c] += prob * go[c];
            dq[c] += ds * k[c];
            dk[c] += ds * q[c];
          }
        }
      }
    }
  });
}

#define MDS_INSTANTIATE(T)                                                                                      \
  template void attention_forward<T>(const Context&, const AttentionShape&, const AttentionPattern&,            \
                                     const Tensor&, Tensor&, Tensor&);                                          \
  template void attention_backward<T>(const Context&, const AttentionShape&, const AttentionPattern&,           \
                                      const Tensor&, const Tensor&, const Tensor&, const Tensor&, Tensor&);
MDS_INSTANTIATE(float)
MDS_INSTANTIATE(double)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
