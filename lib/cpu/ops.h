// CPU reference operations, templated on the scalar (float for use, double for
// the finite-difference gradient checks). One operation family per .cpp file;
// each file instantiates float and double. Semantics are those documented in
// backend/backend.h (forward overwrites, backward accumulates).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backend/backend.h"
#include "cpu/context.h"

// Applies M to each scalar the operations are instantiated for (float for
// use, double for the gradient checks): the one list of them, used by every
// operation file as MDS_CPU_FOR_EACH_REAL(MDS_INSTANTIATE).
#define MDS_CPU_FOR_EACH_REAL(M) M(float) M(double)

namespace mds {
namespace cpu {

// Shape/type checks shared by the operations (throw mds::Error, runtime).
void check_defined(const Tensor& t, const char* op, const char* what);
void check_numel(const Tensor& t, int64_t n, const char* op, const char* what);
void check_type(const Tensor& t, ElemType type, const char* op, const char* what);

// gemm.cpp: the BLAS library's own worker threads follow the backend's
// --threads (OpenBLAS only; other BLAS libraries keep their defaults).
// Process-wide, as the library's setting is. Returns false where the BLAS
// offers no such control (or the build has no BLAS).
bool set_blas_threads(int threads);
// The BLAS library's thread count, or 0 where it cannot say.
int blas_threads();

// gemm.cpp: raw row-major C = alpha op(A) op(B) + beta C; BLAS when available.
template <typename T>
void gemm_raw(const Context& ctx, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
template <typename T>
void gemm(const Context& ctx, bool ta, bool tb, double alpha, const Tensor& A, const Tensor& B, double beta,
          Tensor& C);
// Column sums of a [rows, cols] matrix added into out[cols] (bias gradients).
template <typename T>
void add_column_sums(const Context& ctx, const T* x, int64_t rows, int64_t cols, T* out);

// elementwise.cpp
template <typename T> void fill(const Context& ctx, Tensor& t, double value);
template <typename T> void add(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out);
template <typename T> void axpy(const Context& ctx, double alpha, const Tensor& x, Tensor& y);
template <typename T> void scale(const Context& ctx, Tensor& x, double alpha);
template <typename T> double sum_squares(const Context& ctx, const Tensor& x);

// activation.cpp
template <typename T> void activation_forward(const Context& ctx, Activation act, const Tensor& x, Tensor& y);
template <typename T>
void activation_backward(const Context& ctx, Activation act, const Tensor& x, const Tensor& y, const Tensor& dy,
                         Tensor& dx, GradMode dx_mode);

// linear.cpp
template <typename T> void linear_forward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y);
template <typename T>
void linear_backward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& dy, Tensor& dx, Tensor& dW,
                     Tensor& db);
template <typename T>
void grouped_linear_forward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& b,
                            const std::vector<int64_t>& offsets, Tensor& y);
template <typename T>
void grouped_linear_backward(const Context& ctx, const Tensor& x, const Tensor& W, const Tensor& dy,
                             const std::vector<int64_t>& offsets, Tensor& dx, Tensor& dW, Tensor& db,
                             GradMode dx_mode);

// layer_norm.cpp
template <typename T>
void layer_norm_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                        Tensor& y, Tensor& mean, Tensor& rstd);
template <typename T>
void layer_norm_backward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta);

// softmax.cpp
template <typename T> void softmax_forward(const Context& ctx, const Tensor& x, Tensor& y);
template <typename T> void softmax_backward(const Context& ctx, const Tensor& y, const Tensor& dy, Tensor& dx);

// rows.cpp
template <typename T> void gather_rows(const Context& ctx, const Tensor& x, const Tensor& index, Tensor& out);
template <typename T> void scatter_add_rows(const Context& ctx, const Tensor& dout, const Tensor& index, Tensor& dx);

// position_time.cpp
template <typename T>
void add_position_time_forward(const Context& ctx, const Tensor& x, const Tensor& pos, const Tensor& temb, int batch,
                               int seq_len, Tensor& out);
template <typename T>
void add_position_time_backward(const Context& ctx, const Tensor& dout, int batch, int seq_len, Tensor& dpos,
                                Tensor& dtemb);

// random.cpp
template <typename T> void gaussian_fill(const Context& ctx, const Tensor& row_keys, uint64_t salt, Tensor& out);
template <typename T>
void dropout_forward(const Context& ctx, const Tensor& x, double p, const Tensor& row_keys, uint64_t salt, Tensor& y,
                     Tensor& mask);
template <typename T>
void dropout_backward(const Context& ctx, const Tensor& dy, const Tensor& mask, double p, Tensor& dx);

// row_combine.cpp
template <typename T>
void row_combine_forward(const Context& ctx, const Tensor& x, const Tensor& ax, const Tensor& m, const Tensor& am,
                         const Tensor& e, const Tensor& ae, Tensor& out);
template <typename T>
void row_combine_backward(const Context& ctx, const Tensor& dout, const Tensor& ax, const Tensor& am,
                          const Tensor& ae, Tensor& dx, Tensor& dm, Tensor& de);

// attention.cpp
template <typename T>
void attention_forward(const Context& ctx, const AttentionShape& shape, const AttentionPattern& pattern,
                       const Tensor& qkv, Tensor& out, Tensor& lse);
template <typename T>
void attention_backward(const Context& ctx, const AttentionShape& shape, const AttentionPattern& pattern,
                        const Tensor& qkv, const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv);

// topk.cpp
template <typename T>
void topk_gates_forward(const Context& ctx, const Tensor& probs, int k, bool renormalize, Tensor& idx, Tensor& gates);
template <typename T>
void topk_gates_backward(const Context& ctx, const Tensor& probs, const Tensor& idx, bool renormalize,
                         const Tensor& dgates, Tensor& dprobs);

// moe_dispatch.cpp (type independent)
MoeDispatch moe_dispatch(const Tensor& idx, const Tensor& valid, int experts, int64_t capacity,
                         const std::function<Tensor(std::vector<int64_t>, ElemType)>& alloc);

// moe_combine.cpp
template <typename T>
void moe_combine_forward(const Context& ctx, const Tensor& yp, const Tensor& gates, const MoeDispatch& d, Tensor& out);
template <typename T>
void moe_combine_backward(const Context& ctx, const Tensor& yp, const Tensor& gates, const MoeDispatch& d,
                          const Tensor& dout, Tensor& dyp, Tensor& dgates);

// router_aux.cpp
template <typename T>
Backend::RouterAux router_aux_forward(const Context& ctx, const Tensor& logits, const Tensor& probs,
                                      const Tensor& valid, const MoeDispatch& d);
template <typename T>
void router_aux_backward(const Context& ctx, const Tensor& logits, const Tensor& probs, const Tensor& valid,
                         const MoeDispatch& d, double balance_weight, double z_weight, Tensor& dlogits,
                         Tensor& dprobs);

// sq_diff.cpp
template <typename T> void row_sq_diff_forward(const Context& ctx, const Tensor& a, const Tensor& b, Tensor& out);
template <typename T>
void row_sq_diff_backward(const Context& ctx, const Tensor& a, const Tensor& b, const Tensor& drow, Tensor& da,
                          Tensor& db);

// tied_ce.cpp
template <typename T>
void tied_ce_forward(const Context& ctx, const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                     const Tensor& row_weight, Tensor& nll);
template <typename T>
void tied_ce_backward(const Context& ctx, const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                      const Tensor& row_weight, Tensor& dx, Tensor& dE, Tensor& dbias);

// rounding.cpp
template <typename T> void round_nearest(const Context& ctx, const Tensor& x, const Tensor& E, Tensor& ids);
template <typename T>
void round_argmax(const Context& ctx, const Tensor& x, const Tensor& E, const Tensor& bias, Tensor& ids);

// optimizer.cpp
template <typename T>
void adamw_step(const Context& ctx, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p);
template <typename T> void ema_update(const Context& ctx, Tensor& ema, const Tensor& param, double decay);

}  // namespace cpu
}  // namespace mds

namespace mds {
namespace cpu {
// The loop GEMM used when BLAS is absent, exported so tests check it always.
template <typename T>
void gemm_reference(const Context& ctx, bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace cpu
}  // namespace mds
