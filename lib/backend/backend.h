// The operation interface every compute backend implements (docs/design.md §5).
// The model (lib/model) calls only these methods, so the CPU reference
// (lib/cpu) and the CUDA backend are interchangeable.
//
// Conventions:
// - Tensors are row-major; "rows x cols" means the tensor's [rows(), cols()]
//   view (the trailing dimension is cols).
// - Forward operations OVERWRITE their outputs (allocated by the caller, with
//   alloc_uninit where nothing else writes them first).
// - Backward operations ACCUMULATE (+=) into every gradient output, activation
//   gradients included, so residual branches and accumulation need no copies.
//   An undefined Tensor as a gradient output means "not needed".
// - Scalars cross the interface as double; tensors hold the backend's `real`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/tensor.h"

namespace mds {

enum class Activation { tanh, silu, gelu };

// How a backward operation writes a gradient output. Backward operations add
// into their outputs (+=), so gradients from several paths sum; `overwrite`
// is for an output that no other path feeds: the operation writes every
// element, so the tensor may come from alloc_uninit and needs no zero fill.
enum class GradMode { add, overwrite };

// Shape of one sliding-window + global attention call. Query i of head h sees
// key j iff valid[j] and (i global, or j global, or j = i + k*dilation[h]
// with |k| <= window). window >= seq_len gives dense attention.
struct AttentionShape {
  int batch = 0, seq_len = 0, heads = 0, head_dim = 0;
  int window = 0;             // keys per side
  std::vector<int> dilation;  // per head (size heads), >= 1
};

// Per-batch pattern tables, resident on the backend.
struct AttentionPattern {
  Tensor valid;         // u8 [B*L] 1 = real key (batch padding is 0)
  Tensor is_global;     // u8 [B*L]
  Tensor global_pos;    // i32 [B*max_globals] ascending positions, -1 padded
  Tensor global_count;  // i32 [B]
  int max_globals = 0;
};

// Token-to-expert assignment of one MoE layer (not differentiable). Slots are
// grouped by expert: expert e owns slots [offsets[e], offsets[e+1]).
struct MoeDispatch {
  int experts = 0, top_k = 0;
  int64_t slots = 0;
  std::vector<int64_t> offsets;       // host [E+1]
  Tensor slot_token;                  // i32 [S] token row of each slot
  Tensor slot_choice;                 // i32 [S] n*top_k + c: the gate of the slot
  std::vector<int64_t> assigned;      // host [E] top-k picks per expert before capacity
  std::vector<double> top1_fraction;  // host [E] fraction of routed tokens whose top-1 is e
  int64_t routed_tokens = 0;          // valid tokens
  int64_t dropped = 0;                // picks dropped by the capacity limit
};

struct AdamWParams {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t step = 1;  // 1-based, for bias correction
};

// Device memory of a backend that manages its own (the CUDA pool); zeros on
// the CPU, where tensors are ordinary heap memory.
struct MemoryStats {
  int64_t in_use_bytes = 0;    // held by live tensors and scratch buffers
  int64_t peak_bytes = 0;      // the most in use since the last reset_peak_memory()
  int64_t reserved_bytes = 0;  // in use plus cached for reuse
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int real_bytes() const = 0;  // sizeof the compute scalar
  virtual MemoryStats memory_stats() const { return {}; }
  virtual void reset_peak_memory() {}
  // Waits until queued device work is done (timing); a no-op on the CPU.
  virtual void synchronize() {}

  // ---- memory ---------------------------------------------------------------
  virtual Tensor alloc(std::vector<int64_t> shape, ElemType type = ElemType::real) = 0;  // zero-filled
  // Contents unspecified: for a tensor whose next use is as the output of an
  // operation that overwrites all of it (every forward operation), so the
  // backend may skip the zero fill. The CPU backend fills it with a poison
  // pattern (NaN for real tensors) so a read before the first write shows up.
  virtual Tensor alloc_uninit(std::vector<int64_t> shape, ElemType type = ElemType::real) {
    return alloc(std::move(shape), type);
  }
  virtual void upload(Tensor& dst, const float* src) = 0;   // real tensor from host f32
  virtual void upload(Tensor& dst, const double* src) = 0;  // real tensor from host f64
  virtual void upload(Tensor& dst, const int32_t* src) = 0;
  virtual void upload(Tensor& dst, const uint8_t* src) = 0;
  virtual void upload(Tensor& dst, const uint64_t* src) = 0;
  virtual void download(const Tensor& src, float* dst) = 0;
  virtual void download(const Tensor& src, double* dst) = 0;
  virtual void download(const Tensor& src, int32_t* dst) = 0;
  virtual void fill(Tensor& t, double value) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;

  // ---- elementwise and reductions ---------------------------------------------
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out) = 0;  // out may alias a or b
  virtual void axpy(double alpha, const Tensor& x, Tensor& y) = 0;      // y += alpha x
  virtual void scale(Tensor& x, double alpha) = 0;
  virtual double sum_squares(const Tensor& x) = 0;  // non-finite if any element is
  // sum over xs of sum_squares(x), added in order (so equal to the loop): one
  // host synchronisation for all of them on a device backend (the gradient norm).
  virtual double sum_squares_total(const std::vector<const Tensor*>& xs) {
    double s = 0;
    for (const Tensor* x : xs) s += sum_squares(*x);
    return s;
  }
  virtual void activation_forward(Activation act, const Tensor& x, Tensor& y) = 0;
  // dx (+)= dy * act'(x) (tanh reads y = tanh(x) instead of x).
  virtual void activation_backward(Activation act, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                                   GradMode dx_mode) = 0;

  // ---- matrix products ------------------------------------------------------------
  // C = alpha op(A) op(B) + beta C on the [rows, cols] views.
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& A, const Tensor& B, double beta,
                    Tensor& C) = 0;
  // y[N,out] = x[N,in] W[out,in]^T + b[out] (b may be undefined).
  virtual void linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y) = 0;
  virtual void linear_backward(const Tensor& x, const Tensor& W, const Tensor& dy, Tensor& dx, Tensor& dW,
                               Tensor& db) = 0;
  // Per-expert linear on slot ranges: rows [offsets[e], offsets[e+1]) of x use
  // W[e] ([E,out,in]) and b[e] ([E,out]).
  virtual void grouped_linear_forward(const Tensor& x, const Tensor& W, const Tensor& b,
                                      const std::vector<int64_t>& offsets, Tensor& y) = 0;
  // dx (+)= dy W per expert, as dx_mode says; dW and db always add (they are
  // parameter gradients, summed over layers' calls and micro-batches).
  virtual void grouped_linear_backward(const Tensor& x, const Tensor& W, const Tensor& dy,
                                       const std::vector<int64_t>& offsets, Tensor& dx, Tensor& dW, Tensor& db,
                                       GradMode dx_mode) = 0;

  // ---- normalisation, softmax --------------------------------------------------------
  // mean/rstd: [rows] saved for the backward.
  virtual void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y,
                                  Tensor& mean, Tensor& rstd) = 0;
  virtual void layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta) = 0;
  virtual void softmax_forward(const Tensor& x, Tensor& y) = 0;  // row-wise
  virtual void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;

  // ---- rows: embeddings, permutations ----------------------------------------------------
  // out[s] = x[index[s]]; an embedding lookup is gather_rows(table, ids).
  virtual void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) = 0;
  // dx[index[s]] += dout[s]; the embedding backward.
  virtual void scatter_add_rows(const Tensor& dout, const Tensor& index, Tensor& dx) = 0;
  // out[b,l] = x[b,l] + pos[l] + temb[b]  (x: [B*L, H], pos: [P >= L, H], temb: [B, H]).
  virtual void add_position_time_forward(const Tensor& x, const Tensor& pos, const Tensor& temb, int batch,
                                         int seq_len, Tensor& out) = 0;
  // dpos[l] += sum_b dout[b,l]; dtemb[b] += sum_l dout[b,l]. (dx is dout itself.)
  virtual void add_position_time_backward(const Tensor& dout, int batch, int seq_len, Tensor& dpos,
                                          Tensor& dtemb) = 0;

  // ---- randomness ------------------------------------------------------------------------
  // out[r,c] = N(0,1) drawn from (row_keys[r], salt, c) (see backend/rng.h).
  virtual void gaussian_fill(const Tensor& row_keys, uint64_t salt, Tensor& out) = 0;
  // Inverted dropout with keep mask from (row_keys[r], salt, c); p = drop rate.
  virtual void dropout_forward(const Tensor& x, double p, const Tensor& row_keys, uint64_t salt, Tensor& y,
                               Tensor& mask) = 0;
  virtual void dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) = 0;
  // out[r] = ax[r] x[r] + am[r] m + ae[r] e[r]  (m: [C] or undefined; e may be
  // undefined). Noising, absorbing replacement and source re-imposition.
  virtual void row_combine_forward(const Tensor& x, const Tensor& ax, const Tensor& m, const Tensor& am,
                                   const Tensor& e, const Tensor& ae, Tensor& out) = 0;
  // dx += ax dout; dm += sum_r am[r] dout[r]; de += ae dout.
  virtual void row_combine_backward(const Tensor& dout, const Tensor& ax, const Tensor& am, const Tensor& ae,
                                    Tensor& dx, Tensor& dm, Tensor& de) = 0;

  // ---- attention -----------------------------------------------------------------------------
  // qkv: [B*L, 3H] (q | k | v, heads contiguous inside each); out: [B*L, H];
  // lse: [B*heads*L] log-sum-exp per query row, saved for the backward.
  // Memory is O(L * (window + globals)) time and O(L) extra storage.
  virtual void attention_forward(const AttentionShape& shape, const AttentionPattern& pattern, const Tensor& qkv,
                                 Tensor& out, Tensor& lse) = 0;
  virtual void attention_backward(const AttentionShape& shape, const AttentionPattern& pattern, const Tensor& qkv,
                                  const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) = 0;

  // ---- mixture of experts -------------------------------------------------------------------
  // idx[N,k] = top-k experts of each row of probs[N,E] (ties: lower index);
  // gates = selected probabilities, renormalised to sum 1 when renormalize and k > 1.
  virtual void topk_gates_forward(const Tensor& probs, int k, bool renormalize, Tensor& idx, Tensor& gates) = 0;
  virtual void topk_gates_backward(const Tensor& probs, const Tensor& idx, bool renormalize, const Tensor& dgates,
                                   Tensor& dprobs) = 0;
  // Assigns the top-k picks of valid tokens to expert slots; capacity < 0 is
  // dropless, else at most `capacity` slots per expert, first choices first.
  virtual MoeDispatch moe_dispatch(const Tensor& idx, const Tensor& valid, int experts, int64_t capacity) = 0;
  // out[n] = sum over the slots s of token n of gates[choice(s)] * yp[s] (0 for unrouted rows).
  virtual void moe_combine_forward(const Tensor& yp, const Tensor& gates, const MoeDispatch& d, Tensor& out) = 0;
  virtual void moe_combine_backward(const Tensor& yp, const Tensor& gates, const MoeDispatch& d, const Tensor& dout,
                                    Tensor& dyp, Tensor& dgates) = 0;
  // Switch load-balancing term E * sum_e f_e P_e (P_e = mean router probability
  // over valid rows) and the router z-loss mean_n logsumexp(logits_n)^2, unweighted.
  struct RouterAux {
    double balance = 0, z = 0;
  };
  virtual RouterAux router_aux_forward(const Tensor& logits, const Tensor& probs, const Tensor& valid,
                                       const MoeDispatch& d) = 0;
  virtual void router_aux_backward(const Tensor& logits, const Tensor& probs, const Tensor& valid,
                                   const MoeDispatch& d, double balance_weight, double z_weight, Tensor& dlogits,
                                   Tensor& dprobs) = 0;

  // ---- losses and rounding ----------------------------------------------------------------
  // out[r] = mean_c (a[r,c] - b[r,c])^2; b undefined means 0.
  virtual void row_sq_diff_forward(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void row_sq_diff_backward(const Tensor& a, const Tensor& b, const Tensor& drow, Tensor& da,
                                    Tensor& db) = 0;
  // nll[r] = -log softmax(x[r] E^T + bias)[target[r]] for rows with row_weight != 0
  // (0 for others), computed in row blocks: never an [N, V] matrix.
  virtual void tied_ce_forward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                               const Tensor& row_weight, Tensor& nll) = 0;
  // Gradient of sum_r row_weight[r] * nll[r].
  virtual void tied_ce_backward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                                const Tensor& row_weight, Tensor& dx, Tensor& dE, Tensor& dbias) = 0;
  // ids[r] = argmin_v ||E_v - x_r||^2 (DiffuSeq's clamping) / argmax_v (x_r E_v + bias_v).
  virtual void round_nearest(const Tensor& x, const Tensor& E, Tensor& ids) = 0;
  virtual void round_argmax(const Tensor& x, const Tensor& E, const Tensor& bias, Tensor& ids) = 0;

  // ---- optimiser ----------------------------------------------------------------------------
  // Decoupled weight decay (Loshchilov & Hutter), bias-corrected moments.
  virtual void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) = 0;
  virtual void ema_update(Tensor& ema, const Tensor& param, double decay) = 0;  // ema = d ema + (1-d) param
};

}  // namespace mds
