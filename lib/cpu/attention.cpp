// Sliding-window + global sparse self-attention (Longformer pattern, docs/design.md
// §4), forward and backward, in O(L * (window + globals)) time and O(L) extra
// memory: never an L x L matrix.
//
// Each (example, head) pair is one task, so every dq/dk/dv a task writes lies
// in its own columns and rows: tasks never collide and results do not depend
// on the thread count. Within a task, queries are processed in blocks of kQB
// consecutive positions: the keys any of them can see through the window form
// one contiguous range, so scores are a small dense [kQB, range] tile computed
// with vectorisable row updates, then masked to the exact pattern. Global
// keys outside the range are extra columns; global queries (which see every
// key) take a row-by-row path. The forward saves each row's log-sum-exp and
// the backward recomputes probabilities from it (flash-attention style).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {
namespace cpu {

namespace {

constexpr int kQB = 32;  // queries per block

struct View {
  int L = 0, D = 0;
  int64_t stride = 0, H = 0;  // qkv row stride (3H) and head offset base
  int64_t reach = 0;          // window * dilation
  int d = 1;                  // dilation of this head
  const uint8_t* valid = nullptr;
  const uint8_t* is_global = nullptr;
  const int32_t* globals = nullptr;
  int global_count = 0;
};

// Columns of a query block: the contiguous key range [lo, hi) then the valid
// global keys outside it.
struct Columns {
  int lo = 0, hi = 0;
  std::vector<int> keys;  // key position of each column
};

void block_columns(const View& v, int i0, int i1, Columns& c) {
  c.lo = static_cast<int>(std::max<int64_t>(0, i0 - v.reach));
  c.hi = static_cast<int>(std::min<int64_t>(v.L, int64_t(i1) + v.reach));
  c.keys.clear();
  for (int j = c.lo; j < c.hi; ++j) c.keys.push_back(j);
  for (int g = 0; g < v.global_count; ++g) {
    const int j = v.globals[g];
    if (v.valid[j] && (j < c.lo || j >= c.hi)) c.keys.push_back(j);
  }
}

// y[0..n) += a * x[0..n): the restrict qualifiers let the compiler vectorise.
template <typename T>
inline void axpy_n(T a, const T* __restrict x, T* __restrict y, int n) {
  for (int c = 0; c < n; ++c) y[c] += a * x[c];
}

template <typename T>
T dot(const T* a, const T* b, int n) {
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent partial sums vectorise without fast-math
  int c = 0;
  for (; c + 8 <= n; c += 8)
    for (int u = 0; u < 8; ++u) s[u] += a[c + u] * b[c + u];
  T r = 0;
  for (; c < n; ++c) r += a[c] * b[c];
  return r + ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// Scores of the non-global rows of a block: S[r, col] = scale * q_r . k_col,
// -inf where the pattern forbids. Kt holds the keys transposed [D, C].
template <typename T>
void block_scores(const View& v, const T* rows, int head, int i0, int i1, const Columns& c, T scale,
                  std::vector<T>& Kt, std::vector<T>& S) {
  const int C = static_cast<int>(c.keys.size()), D = v.D;
  Kt.resize(size_t(D) * C);
  for (int col = 0; col < C; ++col) {
    const T* k = rows + int64_t(c.keys[col]) * v.stride + v.H + int64_t(head) * D;
    for (int e = 0; e < D; ++e) Kt[size_t(e) * C + col] = k[e];
  }
  S.assign(size_t(i1 - i0) * C, T(0));
  for (int i = i0; i < i1; ++i) {
    if (v.is_global[i]) continue;
    const T* q = rows + int64_t(i) * v.stride + int64_t(head) * D;
    T* s = S.data() + size_t(i - i0) * C;
    for (int e = 0; e < D; ++e) {
      const T a = q[e] * scale;
      const T* kt = Kt.data() + size_t(e) * C;
      for (int col = 0; col < C; ++col) s[col] += a * kt[col];
    }
    // Mask: inside the contiguous range only the window (and globals) count;
    // the extra columns are valid globals by construction.
    const int64_t wlo = int64_t(i) - v.reach, whi = int64_t(i) + v.reach;
    const int R = c.hi - c.lo;
    for (int col = 0; col < R; ++col) {
      const int j = c.lo + col;
      const bool in = j >= wlo && j <= whi && (v.d == 1 || (j - i) % v.d == 0);
      if (!v.valid[j] || !(in || v.is_global[j])) s[col] = -std::numeric_limits<T>::infinity();
    }
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

View view_of(const AttentionShape& s, const AttentionPattern& p, int b, int h) {
  View v;
  v.L = s.seq_len;
  v.D = s.head_dim;
  v.H = int64_t(s.heads) * s.head_dim;
  v.stride = 3 * v.H;
  v.d = s.dilation[h];
  v.reach = int64_t(std::min(s.window, s.seq_len)) * v.d;
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
  const int64_t H = int64_t(s.heads) * D;
  check_numel(out, int64_t(s.batch) * L * H, "attention_forward", "out");
  check_numel(lse, int64_t(s.batch) * s.heads * L, "attention_forward", "lse");
  const T scale = T(1) / std::sqrt(T(D));
  const T ninf = -std::numeric_limits<T>::infinity();
  ctx.parallel_for(int64_t(s.batch) * s.heads, 1, [&](int64_t t0, int64_t t1) {
    Columns cols;
    std::vector<T> Kt, S, row;
    for (int64_t task = t0; task < t1; ++task) {
      const int b = static_cast<int>(task / s.heads), h = static_cast<int>(task % s.heads);
      const View v = view_of(s, p, b, h);
      const T* rows = qkv.as<T>() + int64_t(b) * L * v.stride;
      T* ob = out.as<T>() + int64_t(b) * L * H + int64_t(h) * D;
      T* lb = lse.as<T>() + (int64_t(b) * s.heads + h) * L;
      auto value = [&](int j) { return rows + int64_t(j) * v.stride + 2 * H + int64_t(h) * D; };
      // Query i's output o = the softmax of its n scores sc (largest mx) over the
      // values of the keys key(0..n-1), and its log-sum-exp; -inf scores are
      // masked keys, and a query with none valid gets o = 0, lse = -inf.
      auto softmax_values = [&](int i, const T* sc, int n, T mx, auto key, T* o) {
        if (std::isinf(mx)) {
          lb[i] = ninf;
          return;
        }
        T sum = 0;
        for (int k = 0; k < n; ++k) {
          if (std::isinf(sc[k])) continue;
          const T e = std::exp(sc[k] - mx);
          sum += e;
          axpy_n(e, value(key(k)), o, D);
        }
        for (int c = 0; c < D; ++c) o[c] /= sum;
        lb[i] = mx + std::log(sum);
      };
      for (int i0 = 0; i0 < L; i0 += kQB) {
        const int i1 = std::min(L, i0 + kQB);
        block_columns(v, i0, i1, cols);
        block_scores(v, rows, h, i0, i1, cols, scale, Kt, S);
        const int C = static_cast<int>(cols.keys.size());
        for (int i = i0; i < i1; ++i) {
          T* o = ob + int64_t(i) * H;
          std::fill(o, o + D, T(0));
          if (v.is_global[i]) {  // global query: every valid key
            const T* q = rows + int64_t(i) * v.stride + int64_t(h) * D;
            row.assign(L, ninf);
            for (int j = 0; j < L; ++j)
              if (v.valid[j]) row[j] = scale * dot(q, rows + int64_t(j) * v.stride + H + int64_t(h) * D, D);
            const T mx = *std::max_element(row.begin(), row.end());
            softmax_values(i, row.data(), L, mx, [](int j) { return j; }, o);
            continue;
          }
          const T* sr = S.data() + size_t(i - i0) * C;
          T mx = ninf;
          for (int col = 0; col < C; ++col) mx = std::max(mx, sr[col]);
          // (mx = -inf: a padding query with no valid key in reach)
          softmax_values(i, sr, C, mx, [&](int col) { return cols.keys[col]; }, o);
        }
      }
    }
  });
}

template <typename T>
void attention_backward(const Context& ctx, const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv,
                        const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) {
  check_args(s, p, qkv, "attention_backward");
  const int L = s.seq_len, D = s.head_dim;
  const int64_t H = int64_t(s.heads) * D;
  check_numel(out, int64_t(s.batch) * L * H, "attention_backward", "out");
  check_numel(dout, int64_t(s.batch) * L * H, "attention_backward", "dout");
  check_numel(lse, int64_t(s.batch) * s.heads * L, "attention_backward", "lse");
  check_numel(dqkv, qkv.numel(), "attention_backward", "dqkv");
  const T scale = T(1) / std::sqrt(T(D));
  ctx.parallel_for(int64_t(s.batch) * s.heads, 1, [&](int64_t t0, int64_t t1) {
    Columns cols;
    std::vector<T> Kt, S, Vt, dP;
    for (int64_t task = t0; task < t1; ++task) {
      const int b = static_cast<int>(task / s.heads), h = static_cast<int>(task % s.heads);
      const View v = view_of(s, p, b, h);
      const T* rows = qkv.as<T>() + int64_t(b) * L * v.stride;
      T* drows = dqkv.as<T>() + int64_t(b) * L * v.stride;
      const T* ob = out.as<T>() + int64_t(b) * L * H + int64_t(h) * D;
      const T* gb = dout.as<T>() + int64_t(b) * L * H + int64_t(h) * D;
      const T* lb = lse.as<T>() + (int64_t(b) * s.heads + h) * L;
      auto q_of = [&](int i) { return rows + int64_t(i) * v.stride + int64_t(h) * D; };
      auto k_of = [&](int j) { return rows + int64_t(j) * v.stride + H + int64_t(h) * D; };
      auto v_of = [&](int j) { return rows + int64_t(j) * v.stride + 2 * H + int64_t(h) * D; };
      auto dq_of = [&](int i) { return drows + int64_t(i) * v.stride + int64_t(h) * D; };
      auto dk_of = [&](int j) { return drows + int64_t(j) * v.stride + H + int64_t(h) * D; };
      auto dv_of = [&](int j) { return drows + int64_t(j) * v.stride + 2 * H + int64_t(h) * D; };
      // One (query, key) pair of the gradient: p = softmax prob, ds = dL/dscore.
      auto pair = [&](int i, int j, T prob, T ds) {
        axpy_n(prob, gb + int64_t(i) * H, dv_of(j), D);
        axpy_n(ds, k_of(j), dq_of(i), D);
        axpy_n(ds, q_of(i), dk_of(j), D);
      };
      for (int i0 = 0; i0 < L; i0 += kQB) {
        const int i1 = std::min(L, i0 + kQB);
        block_columns(v, i0, i1, cols);
        block_scores(v, rows, h, i0, i1, cols, scale, Kt, S);
        const int C = static_cast<int>(cols.keys.size());
        // dP[r, col] = dO_r . v_col, with values transposed [D, C].
        Vt.resize(size_t(D) * C);
        for (int col = 0; col < C; ++col) {
          const T* vv = v_of(cols.keys[col]);
          for (int e = 0; e < D; ++e) Vt[size_t(e) * C + col] = vv[e];
        }
        dP.assign(size_t(i1 - i0) * C, T(0));
        for (int i = i0; i < i1; ++i) {
          const T li = lb[i];
          if (std::isinf(li)) continue;
          const T* go = gb + int64_t(i) * H;
          const T delta = dot(go, ob + int64_t(i) * H, D);  // sum_j p_j (dO . v_j)
          if (v.is_global[i]) {
            const T* q = q_of(i);
            for (int j = 0; j < L; ++j) {
              if (!v.valid[j]) continue;
              const T prob = std::exp(scale * dot(q, k_of(j), D) - li);
              pair(i, j, prob, prob * (dot(go, v_of(j), D) - delta) * scale);
            }
            continue;
          }
          T* dp = dP.data() + size_t(i - i0) * C;
          for (int e = 0; e < D; ++e) {
            const T a = go[e];
            const T* vt = Vt.data() + size_t(e) * C;
            for (int col = 0; col < C; ++col) dp[col] += a * vt[col];
          }
          const T* sr = S.data() + size_t(i - i0) * C;
          for (int col = 0; col < C; ++col) {
            if (std::isinf(sr[col])) continue;
            const T prob = std::exp(sr[col] - li);
            pair(i, cols.keys[col], prob, prob * (dp[col] - delta) * scale);
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
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
