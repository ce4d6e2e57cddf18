// Dense matrix products through cuBLASLt: bf16 operands, fp32 accumulation,
// bf16 or fp32 output, row-major convention (as the rest of the library).
#pragma once

#include <cstdint>

#include "kernels/context.h"

namespace mds::cuda {

enum class DType { f32, bf16 };

// Row-major C[m×n] = alpha · op(A) · op(B) + beta · C, where op(A) is m×k and
// op(B) is k×n. A is stored m×k (lda ≥ k) or, with trans_a, k×m (lda ≥ m); B
// is stored k×n (ldb ≥ n) or, with trans_b, n×k (ldb ≥ k). C is m×n (ldc ≥ n)
// of type c_type; beta = 1 accumulates (e.g. weight gradients in fp32).
// For a linear layer y = x·Wᵀ with W [out×in]: forward gemm(x, W, trans_b),
// dx = dy·W (no transposes), dW += dyᵀ·x (trans_a, beta = 1).
struct GemmBatch {
  int count = 1;                      // number of independent products
  long long stride_a = 0, stride_b = 0, stride_c = 0;  // elements between consecutive products
};

void gemm(Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const bf16* A, int lda,
          const bf16* B, int ldb, float beta, void* C, DType c_type, int ldc, const GemmBatch& batch = {});

}  // namespace mds::cuda
