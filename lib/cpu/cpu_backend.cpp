// CpuBackend<T>: host memory tensors and thin forwards to the operations in
// lib/cpu/*.cpp, each running on the backend's own thread pool.
#include "cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "cpu/ops.h"

namespace mds {

namespace {

size_t elem_size(ElemType t, size_t real) {
  switch (t) {
    case ElemType::real: return real;
    case ElemType::i32: return 4;
    case ElemType::u8: return 1;
    case ElemType::u64: return 8;
  }
  return 1;
}

template <typename T>
class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : ctx_(threads) {}

  std::string name() const override { return sizeof(T) == 4 ? "cpu" : "cpu-f64"; }
  int real_bytes() const override { return sizeof(T); }

  Tensor alloc(std::vector<int64_t> shape, ElemType type) override {
    int64_t n = 1;
    for (int64_t s : shape) {
      if (s < 0) throw_runtime("alloc: negative dimension in {}", shape_string(shape));
      n *= s;
    }
    const size_t bytes = std::max<size_t>(1, size_t(n) * elem_size(type, sizeof(T)));
    // 64-byte alignment for vector loads; zero-filled as documented.
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw_runtime("alloc: out of memory allocating {} bytes for {}", bytes, shape_string(shape));
    std::memset(p, 0, bytes);
    return Tensor(std::shared_ptr<void>(p, std::free), p, std::move(shape), type);
  }
  // Poisoned rather than left as it comes: all-ones bytes are NaN in f32 and
  // f64, and 0xA5 bytes make integers large negative values, so an operation
  // that reads such a tensor before writing it fails the tests.
  Tensor alloc_uninit(std::vector<int64_t> shape, ElemType type) override {
    Tensor t = alloc(std::move(shape), type);
    std::memset(t.data(), type == ElemType::real ? 0xFF : 0xA5,
                size_t(t.numel()) * elem_size(type, sizeof(T)));
    return t;
  }

  void upload(Tensor& dst, const float* src) override { convert_in(dst, src); }
  void upload(Tensor& dst, const double* src) override { convert_in(dst, src); }
  void upload(Tensor& dst, const int32_t* src) override { raw_in(dst, src, ElemType::i32); }
  void upload(Tensor& dst, const uint8_t* src) override { raw_in(dst, src, ElemType::u8); }
  void upload(Tensor& dst, const uint64_t* src) override { raw_in(dst, src, ElemType::u64); }
  void download(const Tensor& src, float* dst) override { convert_out(src, dst); }
  void download(const Tensor& src, double* dst) override { convert_out(src, dst); }
  void download(const Tensor& src, int32_t* dst) override {
    cpu::check_type(src, ElemType::i32, "download", "src");
    std::memcpy(dst, src.data(), size_t(src.numel()) * 4);
  }
  void fill(Tensor& t, double value) override { cpu::fill<T>(ctx_, t, value); }
  void copy(const Tensor& src, Tensor& dst) override {
    cpu::check_numel(dst, src.numel(), "copy", "dst");
    if (src.type() != dst.type()) throw_runtime("copy: element types differ");
    std::memcpy(dst.data(), src.data(), size_t(src.numel()) * elem_size(src.type(), sizeof(T)));
  }

  void add(const Tensor& a, const Tensor& b, Tensor& out) override { cpu::add<T>(ctx_, a, b, out); }
  void axpy(double alpha, const Tensor& x, Tensor& y) override { cpu::axpy<T>(ctx_, alpha, x, y); }
  void scale(Tensor& x, double alpha) override { cpu::scale<T>(ctx_, x, alpha); }
  double sum_squares(const Tensor& x) override { return cpu::sum_squares<T>(ctx_, x); }
  void activation_forward(Activation act, const Tensor& x, Tensor& y) override {
    cpu::activation_forward<T>(ctx_, act, x, y);
  }
  void activation_backward(Activation act, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                           GradMode dx_mode) override {
    cpu::activation_backward<T>(ctx_, act, x, y, dy, dx, dx_mode);
  }

  void gemm(bool ta, bool tb, double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C) override {
    cpu::gemm<T>(ctx_, ta, tb, alpha, A, B, beta, C);
  }
  void linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y) override {
    cpu::linear_forward<T>(ctx_, x, W, b, y);
  }
  void linear_backward(const Tensor& x, const Tensor& W, const Tensor& dy, Tensor& dx, Tensor& dW,
                       Tensor& db) override {
    cpu::linear_backward<T>(ctx_, x, W, dy, dx, dW, db);
  }
  void grouped_linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, const std::vector<int64_t>& offsets,
                              Tensor& y) override {
    cpu::grouped_linear_forward<T>(ctx_, x, W, b, offsets, y);
  }
  void grouped_linear_backward(const Tensor& x, const Tensor& W, const Tensor& dy, const std::vector<int64_t>& offsets,
                               Tensor& dx, Tensor& dW, Tensor& db, GradMode dx_mode) override {
    cpu::grouped_linear_backward<T>(ctx_, x, W, dy, offsets, dx, dW, db, dx_mode);
  }

  void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y,
                          Tensor& mean, Tensor& rstd) override {
    cpu::layer_norm_forward<T>(ctx_, x, gamma, beta, eps, y, mean, rstd);
  }
  void layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                           const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    cpu::layer_norm_backward<T>(ctx_, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
  }
  void softmax_forward(const Tensor& x, Tensor& y) override { cpu::softmax_forward<T>(ctx_, x, y); }
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    cpu::softmax_backward<T>(ctx_, y, dy, dx);
  }

  void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) override {
    cpu::gather_rows<T>(ctx_, x, index, out);
  }
  void scatter_add_rows(const Tensor& dout, const Tensor& index, Tensor& dx) override {
    cpu::scatter_add_rows<T>(ctx_, dout, index, dx);
  }
  void add_position_time_forward(const Tensor& x, const Tensor& pos, const Tensor& temb, int batch, int seq_len,
                                 Tensor& out) override {
    cpu::add_position_time_forward<T>(ctx_, x, pos, temb, batch, seq_len, out);
  }
  void add_position_time_backward(const Tensor& dout, int batch, int seq_len, Tensor& dpos, Tensor& dtemb) override {
    cpu::add_position_time_backward<T>(ctx_, dout, batch, seq_len, dpos, dtemb);
  }

  void gaussian_fill(const Tensor& row_keys, uint64_t salt, Tensor& out) override {
    cpu::gaussian_fill<T>(ctx_, row_keys, salt, out);
  }
  void dropout_forward(const Tensor& x, double p, const Tensor& row_keys, uint64_t salt, Tensor& y,
                       Tensor& mask) override {
    cpu::dropout_forward<T>(ctx_, x, p, row_keys, salt, y, mask);
  }
  void dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) override {
    cpu::dropout_backward<T>(ctx_, dy, mask, p, dx);
  }
  void row_combine_forward(const Tensor& x, const Tensor& ax, const Tensor& m, const Tensor& am, const Tensor& e,
                           const Tensor& ae, Tensor& out) override {
    cpu::row_combine_forward<T>(ctx_, x, ax, m, am, e, ae, out);
  }
  void row_combine_backward(const Tensor& dout, const Tensor& ax, const Tensor& am, const Tensor& ae, Tensor& dx,
                            Tensor& dm, Tensor& de) override {
    cpu::row_combine_backward<T>(ctx_, dout, ax, am, ae, dx, dm, de);
  }

  void attention_forward(const AttentionShape& shape, const AttentionPattern& pattern, const Tensor& qkv, Tensor& out,
                         Tensor& lse) override {
    cpu::attention_forward<T>(ctx_, shape, pattern, qkv, out, lse);
  }
  void attention_backward(const AttentionShape& shape, const AttentionPattern& pattern, const Tensor& qkv,
                          const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) override {
    cpu::attention_backward<T>(ctx_, shape, pattern, qkv, out, lse, dout, dqkv);
  }

  void topk_gates_forward(const Tensor& probs, int k, bool renormalize, Tensor& idx, Tensor& gates) override {
    cpu::topk_gates_forward<T>(ctx_, probs, k, renormalize, idx, gates);
  }
  void topk_gates_backward(const Tensor& probs, const Tensor& idx, bool renormalize, const Tensor& dgates,
                           Tensor& dprobs) override {
    cpu::topk_gates_backward<T>(ctx_, probs, idx, renormalize, dgates, dprobs);
  }
  MoeDispatch moe_dispatch(const Tensor& idx, const Tensor& valid, int experts, int64_t capacity) override {
    return cpu::moe_dispatch(idx, valid, experts, capacity,
                             [this](std::vector<int64_t> s, ElemType t) { return alloc(std::move(s), t); });
  }
  void moe_combine_forward(const Tensor& yp, const Tensor& gates, const MoeDispatch& d, Tensor& out) override {
    cpu::moe_combine_forward<T>(ctx_, yp, gates, d, out);
  }
  void moe_combine_backward(const Tensor& yp, const Tensor& gates, const MoeDispatch& d, const Tensor& dout,
                            Tensor& dyp, Tensor& dgates) override {
    cpu::moe_combine_backward<T>(ctx_, yp, gates, d, dout, dyp, dgates);
  }
  RouterAux router_aux_forward(const Tensor& logits, const Tensor& probs, const Tensor& valid,
                               const MoeDispatch& d) override {
    return cpu::router_aux_forward<T>(ctx_, logits, probs, valid, d);
  }
  void router_aux_backward(const Tensor& logits, const Tensor& probs, const Tensor& valid, const MoeDispatch& d,
                           double balance_weight, double z_weight, Tensor& dlogits, Tensor& dprobs) override {
    cpu::router_aux_backward<T>(ctx_, logits, probs, valid, d, balance_weight, z_weight, dlogits, dprobs);
  }

  void row_sq_diff_forward(const Tensor& a, const Tensor& b, Tensor& out) override {
    cpu::row_sq_diff_forward<T>(ctx_, a, b, out);
  }
  void row_sq_diff_backward(const Tensor& a, const Tensor& b, const Tensor& drow, Tensor& da, Tensor& db) override {
    cpu::row_sq_diff_backward<T>(ctx_, a, b, drow, da, db);
  }
  void tied_ce_forward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                       const Tensor& row_weight, Tensor& nll) override {
    cpu::tied_ce_forward<T>(ctx_, x, E, bias, targets, row_weight, nll);
  }
  void tied_ce_backward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                        const Tensor& row_weight, Tensor& dx, Tensor& dE, Tensor& dbias) override {
    cpu::tied_ce_backward<T>(ctx_, x, E, bias, targets, row_weight, dx, dE, dbias);
  }
  void round_nearest(const Tensor& x, const Tensor& E, Tensor& ids) override { cpu::round_nearest<T>(ctx_, x, E, ids); }
  void round_argmax(const Tensor& x, const Tensor& E, const Tensor& bias, Tensor& ids) override {
    cpu::round_argmax<T>(ctx_, x, E, bias, ids);
  }

  void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) override {
    cpu::adamw_step<T>(ctx_, param, grad, m, v, p);
  }
  void ema_update(Tensor& ema, const Tensor& param, double decay) override {
    cpu::ema_update<T>(ctx_, ema, param, decay);
  }

 private:
  template <typename S>
  void convert_in(Tensor& dst, const S* src) {
    cpu::check_type(dst, ElemType::real, "upload", "dst");
    T* p = dst.as<T>();
    for (int64_t i = 0; i < dst.numel(); ++i) p[i] = static_cast<T>(src[i]);
  }
  template <typename S>
  void convert_out(const Tensor& src, S* dst) {
    cpu::check_type(src, ElemType::real, "download", "src");
    const T* p = src.as<T>();
    for (int64_t i = 0; i < src.numel(); ++i) dst[i] = static_cast<S>(p[i]);
  }
  void raw_in(Tensor& dst, const void* src, ElemType type) {
    cpu::check_type(dst, type, "upload", "dst");
    std::memcpy(dst.data(), src, size_t(dst.numel()) * elem_size(type, sizeof(T)));
  }

  cpu::Context ctx_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads, CpuPrecision precision) {
  // The GEMMs' own threads follow --threads too, so `--threads 1` means one core.
  cpu::set_blas_threads(threads);
  if (precision == CpuPrecision::f64) return std::make_unique<CpuBackend<double>>(threads);
  return std::make_unique<CpuBackend<float>>(threads);
}

}  // namespace mds
