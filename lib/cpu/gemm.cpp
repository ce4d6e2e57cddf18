// Matrix products for the CPU backend: OpenBLAS sgemm/dgemm when the build
// found BLAS (MDS_HAVE_BLAS), otherwise a plain threaded loop that is correct
// for every transpose case (used by tests in both configurations).
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "cpu/ops.h"

#ifdef MDS_HAVE_BLAS
#include <cblas.h>
// OpenBLAS's thread control, declared weak: with another BLAS (netlib, BLIS)
// the symbols are absent and the pointers are null.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads(void) __attribute__((weak));
#endif

namespace mds {
namespace cpu {

bool set_blas_threads(int threads) {
#ifdef MDS_HAVE_BLAS
  if (openblas_set_num_threads && threads > 0) {
    openblas_set_num_threads(threads);
    return true;
  }
#endif
  (void)threads;
  return false;
}

int blas_threads() {
#ifdef MDS_HAVE_BLAS
  if (openblas_get_num_threads) return openblas_get_num_threads();
#endif
  return 0;
}

namespace {

template <typename T>
void gemm_fallback(const Context& ctx, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                   int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  ctx.parallel_for(M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, N * K / 64 + 1)), [&](int64_t i0, int64_t i1) {
    std::vector<T> arow(static_cast<size_t>(K));
    for (int64_t i = i0; i < i1; ++i) {
      T* c = C + i * ldc;
      if (beta == T(0)) {
        std::fill(c, c + N, T(0));
      } else if (beta != T(1)) {
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      }
      for (int64_t p = 0; p < K; ++p) arow[p] = alpha * (ta ? A[p * lda + i] : A[i * lda + p]);
      if (!tb) {
        for (int64_t p = 0; p < K; ++p) {
          const T a = arow[p];
          if (a == T(0)) continue;
          const T* b = B + p * ldb;
          for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
        }
      } else {
        for (int64_t j = 0; j < N; ++j) {
          const T* b = B + j * ldb;
          T s = 0;
          for (int64_t p = 0; p < K; ++p) s += arow[p] * b[p];
          c[j] += s;
        }
      }
    }
  });
}

#ifdef MDS_HAVE_BLAS
void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
               const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
              B, ldb, beta, C, ldc);
}
#endif

}  // namespace

template <typename T>
void gemm_raw(const Context& ctx, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // BLAS leaves C untouched only for beta == 1; be explicit.
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
#ifdef MDS_HAVE_BLAS
  (void)ctx;
  blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  gemm_fallback<T>(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

template <typename T>
void gemm(const Context& ctx, bool ta, bool tb, double alpha, const Tensor& A, const Tensor& B, double beta,
          Tensor& C) {
  check_type(A, ElemType::real, "gemm", "A");
  check_type(B, ElemType::real, "gemm", "B");
  check_type(C, ElemType::real, "gemm", "C");
  const int64_t M = ta ? A.cols() : A.rows(), K = ta ? A.rows() : A.cols();
  const int64_t Kb = tb ? B.cols() : B.rows(), N = tb ? B.rows() : B.cols();
  if (K != Kb || C.rows() != M || C.cols() != N)
    throw_runtime("gemm: shapes A{}{} B{}{} C{} do not agree", shape_string(A.shape()), ta ? "^T" : "",
                  shape_string(B.shape()), tb ? "^T" : "", shape_string(C.shape()));
  gemm_raw<T>(ctx, ta, tb, M, N, K, T(alpha), A.as<T>(), A.cols(), B.as<T>(), B.cols(), T(beta), C.as<T>(),
              C.cols());
}

template <typename T>
void add_column_sums(const Context& ctx, const T* x, int64_t rows, int64_t cols, T* out) {
  // Column blocks per task: deterministic, no write conflicts.
  ctx.parallel_for(cols, 64, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * cols;
      for (int64_t c = c0; c < c1; ++c) out[c] += row[c];
    }
  });
}

// The fallback is also exported for the tests that compare it with BLAS.
template <typename T>
void gemm_reference(const Context& ctx, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_fallback<T>(ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#define MDS_INSTANTIATE(T)                                                                                        \
  template void gemm_raw<T>(const Context&, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, \
                            int64_t, T, T*, int64_t);                                                             \
  template void gemm<T>(const Context&, bool, bool, double, const Tensor&, const Tensor&, double, Tensor&);        \
  template void add_column_sums<T>(const Context&, const T*, int64_t, int64_t, T*);                               \
  template void gemm_reference<T>(const Context&, bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,     \
                                  const T*, int64_t, T, T*, int64_t);
MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE)
#undef MDS_INSTANTIATE

}  // namespace cpu
}  // namespace mds
