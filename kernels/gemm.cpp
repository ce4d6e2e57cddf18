// cuBLASLt matrix products (see gemm.h). The row-major product C = op(A)·op(B)
// is issued as the column-major product Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLASLt's "A"
// is our B and its "B" is our A. Plans (descriptors + heuristic algorithm) are
// cached in the Context by shape, leading dimensions and pointer alignment.
#include "kernels/gemm.h"

#include <string>

namespace mds::cuda {

struct Context::GemmPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~GemmPlan() {
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

namespace {

uint32_t alignment_of(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t align = 256;
  while (align > 1 && (a % align) != 0) align >>= 1;
  return align;
}

void set_batch(cublasLtMatrixLayout_t l, const GemmBatch& b, long long stride) {
  if (b.count <= 1) return;
  int32_t count = b.count;
  int64_t s = stride;
  MDS_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
  MDS_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof(s)));
}

}  // namespace

void gemm(Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const bf16* A, int lda,
          const bf16* B, int ldb, float beta, void* C, DType c_type, int ldc, const GemmBatch& batch) {
  if (m < 0 || n < 0 || k <= 0 || batch.count < 1)
    throw_usage("gemm: invalid shape m={} n={} k={} batch={} (k and batch must be positive)", m, n, k, batch.count);
  if (m == 0 || n == 0) return;
  // Row-major leading dimensions: the stored row length.
  const int a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  if (lda < a_cols || ldb < b_cols || ldc < n)
    throw_usage("gemm: leading dimension too small (lda={} needs {}, ldb={} needs {}, ldc={} needs {})", lda, a_cols,
                ldb, b_cols, ldc, n);
  const uint32_t al_a = alignment_of(A), al_b = alignment_of(B), al_c = alignment_of(C);
  const std::string key = fmt::format("{}{} {} {} {} {} {} {} {} {} {} {} {} {} {} {}", int(trans_a), int(trans_b), m, n,
                                      k, lda, ldb, ldc, int(c_type), batch.count, batch.stride_a, batch.stride_b,
                                      batch.stride_c, al_a, al_b, al_c) +
                          (beta != 0.f ? " acc" : "");
  auto& plans = ctx.gemm_plans();
  auto it = plans.find(key);
  if (it == plans.end()) {
    auto plan = std::make_shared<Context::GemmPlan>();
    const cudaDataType_t ct = c_type == DType::f32 ? CUDA_R_32F : CUDA_R_16BF;
    MDS_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    // cuBLASLt's A is our B (column-major view n×k, or k×n transposed), its B is our A.
    cublasOperation_t op_lt_a = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_lt_b = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    MDS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSA, &op_lt_a, sizeof(op_lt_a)));
    MDS_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_TRANSB, &op_lt_b, sizeof(op_lt_b)));
    // Stored column-major shapes (rows, cols) before op.
    const uint64_t la_rows = trans_b ? k : n, la_cols = trans_b ? n : k;
    const uint64_t lb_rows = trans_a ? m : k, lb_cols = trans_a ? k : m;
    MDS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->la, CUDA_R_16BF, la_rows, la_cols, ldb));
    MDS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->lb, CUDA_R_16BF, lb_rows, lb_cols, lda));
    MDS_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->lc, ct, n, m, ldc));
    set_batch(plan->la, batch, batch.stride_b);
    set_batch(plan->lb, batch, batch.stride_a);
    set_batch(plan->lc, batch, batch.stride_c);

    cublasLtMatmulPreference_t pref = nullptr;
    MDS_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = ctx.workspace_bytes();
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    uint32_t pa = al_b, pb = al_a, pc = al_c;  // swapped like the operands
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &pa, sizeof(pa));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &pb, sizeof(pb));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &pc, sizeof(pc));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &pc, sizeof(pc));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.lt(), plan->op, plan->la, plan->lb, plan->lc, plan->lc,
                                                       pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0)
      throw_runtime("gemm: cuBLASLt found no algorithm for m={} n={} k={} trans_a={} trans_b={} out={} (status {})", m,
                    n, k, trans_a, trans_b, c_type == DType::f32 ? "f32" : "bf16", int(st));
    plan->algo = result.algo;
    it = plans.emplace(key, std::move(plan)).first;
  }
  const Context::GemmPlan& p = *it->second;
  MDS_CUBLAS_CHECK(cublasLtMatmul(ctx.lt(), p.op, &alpha, B, p.la, A, p.lb, &beta, C, p.lc, C, p.lc, &p.algo,
                                  ctx.workspace(), ctx.workspace_bytes(), ctx.stream()));
}

}  // namespace mds::cuda
