// Rounding and argmax decode over the embedding table: one GEMM per chunk of
// rows (BLAS when available), then a scan per row.
#include "sample/embedding_ops.h"

#include <algorithm>
#include <limits>

#ifdef MDS_HAVE_BLAS
#include <cblas.h>
#endif

namespace mds {
namespace {

// scores[r, v] = <x_r, E_v> for r < rows.
void dot_scores(const EmbeddingTable& t, const float* x, size_t rows, float* scores) {
#ifdef MDS_HAVE_BLAS
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), t.vocab, t.dim, 1.0f, x, t.dim,
              t.weight, t.dim, 0.0f, scores, t.vocab);
#else
  for (size_t r = 0; r < rows; ++r)
    for (int v = 0; v < t.vocab; ++v) {
      const float* e = t.weight + static_cast<size_t>(v) * t.dim;
      const float* xr = x + r * t.dim;
      float acc = 0;
      for (int j = 0; j < t.dim; ++j) acc += xr[j] * e[j];
      scores[r * t.vocab + v] = acc;
    }
#endif
}

// Runs `pick(scores_row) -> id` over chunks so the score buffer stays small.
template <typename Pick>
void chunked(const EmbeddingTable& t, const float* x, size_t n, int32_t* ids, Pick pick) {
  const size_t chunk = std::max<size_t>(1, (size_t{1} << 22) / std::max(1, t.vocab));  // ~16 MB of scores
  std::vector<float> scores(std::min(chunk, n) * static_cast<size_t>(t.vocab));
  for (size_t start = 0; start < n; start += chunk) {
    const size_t rows = std::min(chunk, n - start);
    dot_scores(t, x + start * t.dim, rows, scores.data());
    for (size_t r = 0; r < rows; ++r) ids[start + r] = pick(scores.data() + r * t.vocab);
  }
}

}  // namespace

void nearest_embedding_ids(const EmbeddingTable& t, const float* x, size_t n, int32_t* ids) {
  std::vector<float> norms(static_cast<size_t>(t.vocab));
  for (int v = 0; v < t.vocab; ++v) {
    const float* e = t.weight + static_cast<size_t>(v) * t.dim;
    double acc = 0;
    for (int j = 0; j < t.dim; ++j) acc += static_cast<double>(e[j]) * e[j];
    norms[static_cast<size_t>(v)] = static_cast<float>(acc);
  }
  chunked(t, x, n, ids, [&](const float* s) {
    int32_t best = 0;
    float best_d = std::numeric_limits<float>::infinity();
    for (int v = 0; v < t.vocab; ++v) {
      const float dist = norms[static_cast<size_t>(v)] - 2.0f * s[v];
      if (dist < best_d) best_d = dist, best = v;
    }
    return best;
  });
}

void head_argmax_ids(const EmbeddingTable& t, const float* x, size_t n, int32_t* ids) {
  chunked(t, x, n, ids, [&](const float* s) {
    int32_t best = 0;
    float best_s = -std::numeric_limits<float>::infinity();
    for (int v = 0; v < t.vocab; ++v) {
      const float score = s[v] + (t.bias ? t.bias[v] : 0.0f);
      if (score > best_s) best_s = score, best = v;
    }
    return best;
  });
}

}  // namespace mds
