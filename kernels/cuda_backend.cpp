// The CUDA Backend: every operation of backend/backend.h on one GPU. Tensors
// are fp32 ("real") in device memory: they are the master weights, and the
// activations keep fp32 between operations. Two precisions of the products:
// - "cuda" (default): the dense and expert GEMMs run on bf16 tensor cores
//   with fp32 accumulation and fp32 outputs, as autocast training does
//   (cuBLAS CUBLAS_COMPUTE_32F_FAST_16BF rounds the fp32 operands on the
//   fly). MDS_CUDA_GEMM=cast instead casts the operands to bf16 copies once
//   per product and calls cuBLAS's bf16 kernels (products with a dimension
//   below 16, such as the router, stay on the first path): measured at the
//   same speed, with more memory (docs/perf-notes.md), so it is not the default;
// - "cuda-f32": plain fp32 GEMMs, which track the CPU f32 backend closely.
// Rounding to the vocabulary (a decision, not a gradient) stays fp32 in both.
// Attention runs the flash-style bf16 kernel (kernels/attention.h) on bf16
// copies of q/k/v with fp32 accumulation; small row-wise ops are the fp32
// kernels of backend_ops.h. Memory comes from the context's caching pool.
// Nothing reads device data on the host except where the interface returns
// host values: the MoE dispatch sorts on the device and downloads only its
// offsets and counts (one small copy per layer), the router statistics are
// reduced on the device, and index and target checks run on the device and
// record the first bad value in a fault word that every host read (download,
// synchronize, sum_squares) checks, so a bad index is reported at the next
// synchronisation with the operation, position and value that caused it.
#include "kernels/cuda_backend.h"

#include <cublas_v2.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/backend_ops.h"
#include "kernels/context.h"
#include "kernels/elementwise.h"
#include "kernels/op_profiler.h"
#include "kernels/optimizer.h"

namespace mds {
namespace {

using cuda::Context;

size_t elem_bytes(ElemType t) {
  switch (t) {
    case ElemType::real: return 4;
    case ElemType::i32: return 4;
    case ElemType::u8: return 1;
    case ElemType::u64: return 8;
  }
  return 4;
}

void need(bool ok, const char* op, const char* what) {
  if (!ok) throw_runtime("cuda backend {}: {}", op, what);
}
void need_numel(const Tensor& t, int64_t n, const char* op, const char* what) {
  if (!t.defined()) throw_runtime("cuda backend {}: {} is undefined", op, what);
  if (t.numel() != n) throw_runtime("cuda backend {}: {} has {} elements {}, expected {}", op, what, t.numel(),
                                    shape_string(t.shape()), n);
}
float* F(const Tensor& t) { return t.defined() ? t.as<float>() : nullptr; }

void throw_cublas(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_runtime("cuBLAS {} failed with status {}", what, static_cast<int>(st));
}

// Opens a profiling scope for the rest of the enclosing backend operation.
#define MDS_OP(name) cuda::OpProfiler::Scope mds_op_scope_(&prof_, name)
// The same, naming the product's shape (rows x out x in) when profiling.
#define MDS_OP_SHAPE(name, rows, out, in)                                                      \
  cuda::OpProfiler::Scope mds_op_scope_(&prof_, name,                                           \
                                        prof_.enabled() ? fmt::format("{}x{}x{}", rows, out, in) \
                                                        : std::string())

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, CudaPrecision precision, bool profile, bool cast_gemm, bool poison)
      : ctx_(device), precision_(precision), prof_(ctx_.stream(), profile), cast_gemm_(cast_gemm),
        poison_(poison) {
    fault_dev_ = ctx_.alloc_n<int64_t>(kFaultWords);
    ctx_.fill_zero(fault_dev_.data(), fault_dev_.bytes());
    MDS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&fault_host_), kFaultWords * sizeof(int64_t)));
    std::memset(fault_host_, 0, kFaultWords * sizeof(int64_t));
    throw_cublas(cublasCreate(&blas_), "cublasCreate");
    throw_cublas(cublasSetStream(blas_, ctx_.stream()), "cublasSetStream");
    // Plain fp32 products (no TF32), to match the CPU reference.
    throw_cublas(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  }
  ~CudaBackend() override {
    prof_.report(stderr);
    cudaStreamSynchronize(ctx_.stream());
    cublasDestroy(blas_);
    cudaFreeHost(fault_host_);
  }

  std::string name() const override { return precision_ == CudaPrecision::bf16 ? "cuda" : "cuda-f32"; }
  int real_bytes() const override { return 4; }
  cudaStream_t stream() const { return ctx_.stream(); }
  int device() const { return ctx_.device(); }
  MemoryStats memory_stats() const override {
    const auto pool = ctx_.shared_pool();
    MemoryStats m;
    m.in_use_bytes = int64_t(pool->bytes_in_use());
    m.peak_bytes = int64_t(pool->peak_bytes_in_use());
    m.reserved_bytes = int64_t(pool->bytes_in_use() + pool->bytes_cached());
    return m;
  }
  void reset_peak_memory() override { ctx_.shared_pool()->reset_peak(); }
  void synchronize() override {
    ctx_.download(fault_host_, fault_dev_.data(), kFaultWords * sizeof(int64_t));
    ctx_.synchronize();
    raise_fault();
  }

  Tensor alloc(std::vector<int64_t> shape, ElemType type) override {
    MDS_OP("alloc");
    Tensor t = make_tensor(std::move(shape), type);
    MDS_CUDA_CHECK(cudaMemsetAsync(t.data(), 0, std::max<size_t>(1, size_t(t.numel()) * elem_bytes(type)),
                                   ctx_.stream()));
    return t;
  }
  // No fill: the next operation overwrites it. MDS_CUDA_POISON=1 fills the
  // bytes with 0xFF instead (NaN for fp32, -1 for integers), so a test sees
  // any read before the first write.
  Tensor alloc_uninit(std::vector<int64_t> shape, ElemType type) override {
    MDS_OP("alloc_uninit");
    Tensor t = make_tensor(std::move(shape), type);
    if (poison_)
      MDS_CUDA_CHECK(cudaMemsetAsync(t.data(), 0xFF, std::max<size_t>(1, size_t(t.numel()) * elem_bytes(type)),
                                     ctx_.stream()));
    return t;
  }
  Tensor make_tensor(std::vector<int64_t> shape, ElemType type) {
    int64_t n = 1;
    for (int64_t s : shape) {
      if (s < 0) throw_runtime("alloc: negative dimension in {}", shape_string(shape));
      n *= s;
    }
    const size_t bytes = std::max<size_t>(1, size_t(n) * elem_bytes(type));
    // The deleter holds the pool, so tensors may outlive the backend.
    std::shared_ptr<cuda::MemoryPool> pool = ctx_.shared_pool();
    void* p = pool->allocate(bytes);
    std::shared_ptr<void> owner(p, [pool](void* q) {
      try {
        pool->release(q);
      } catch (...) {
        // A tensor's block always comes from this pool; a destructor cannot report.
      }
    });
    return Tensor(owner, p, std::move(shape), type);
  }

  void upload(Tensor& dst, const float* src) override {
    MDS_OP("upload");
    need(dst.type() == ElemType::real, "upload", "float data needs a real tensor");
    put(dst, src);
  }
  void upload(Tensor& dst, const double* src) override {
    MDS_OP("upload");
    need(dst.type() == ElemType::real, "upload", "double data needs a real tensor");
    std::vector<float> f(src, src + dst.numel());
    put(dst, f.data());
  }
  void upload(Tensor& dst, const int32_t* src) override {
    MDS_OP("upload");
    need(dst.type() == ElemType::i32, "upload", "int32 data needs an i32 tensor");
    put(dst, src);
  }
  void upload(Tensor& dst, const uint8_t* src) override {
    MDS_OP("upload");
    need(dst.type() == ElemType::u8, "upload", "uint8 data needs a u8 tensor");
    put(dst, src);
  }
  void upload(Tensor& dst, const uint64_t* src) override {
    MDS_OP("upload");
    need(dst.type() == ElemType::u64, "upload", "uint64 data needs a u64 tensor");
    put(dst, src);
  }
  void download(const Tensor& src, float* dst) override {
    MDS_OP("download");
    need(src.type() == ElemType::real, "download", "float output needs a real tensor");
    get(src, dst);
  }
  void download(const Tensor& src, double* dst) override {
    MDS_OP("download");
    need(src.type() == ElemType::real, "download", "double output needs a real tensor");
    std::vector<float> f(src.numel());
    get(src, f.data());
    for (size_t i = 0; i < f.size(); ++i) dst[i] = f[i];
  }
  void download(const Tensor& src, int32_t* dst) override {
    MDS_OP("download");
    need(src.type() == ElemType::i32, "download", "int32 output needs an i32 tensor");
    get(src, dst);
  }
  void fill(Tensor& t, double v) override {
    MDS_OP("fill");
    need(t.defined(), "fill", "tensor is undefined");
    switch (t.type()) {
      case ElemType::real: cuda::bk::fill_f32(ctx_, t.as<float>(), float(v), t.numel()); break;
      case ElemType::i32: cuda::bk::fill_i32(ctx_, t.as<int32_t>(), int32_t(v), t.numel()); break;
      case ElemType::u8: cuda::bk::fill_u8(ctx_, t.as<uint8_t>(), uint8_t(v), t.numel()); break;
      case ElemType::u64: cuda::bk::fill_u64(ctx_, t.as<uint64_t>(), uint64_t(v), t.numel()); break;
    }
  }
  void copy(const Tensor& src, Tensor& dst) override {
    MDS_OP("copy");
    need(src.type() == dst.type(), "copy", "element types differ");
    need_numel(dst, src.numel(), "copy", "dst");
    MDS_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), size_t(src.numel()) * elem_bytes(src.type()),
                                   cudaMemcpyDeviceToDevice, ctx_.stream()));
  }

  void add(const Tensor& a, const Tensor& b, Tensor& out) override {
    MDS_OP("add");
    need_numel(b, a.numel(), "add", "b");
    need_numel(out, a.numel(), "add", "out");
    cuda::bk::add(ctx_, F(a), F(b), F(out), a.numel());
  }
  void axpy(double alpha, const Tensor& x, Tensor& y) override {
    MDS_OP("axpy");
    need_numel(y, x.numel(), "axpy", "y");
    cuda::bk::axpy(ctx_, float(alpha), F(x), F(y), x.numel());
  }
  void scale(Tensor& x, double alpha) override { cuda::bk::scale(ctx_, F(x), float(alpha), x.numel()); }
  double sum_squares(const Tensor& x) override {
    MDS_OP("sum_squares");
    auto buf = ctx_.alloc_n<double>(1);
    double out = 0;
    cuda::sum_squares(ctx_, F(x), size_t(x.numel()), buf.as<double>());
    ctx_.download(&out, buf.data(), sizeof(double));
    synchronize();
    return out;
  }
  double sum_squares_total(const std::vector<const Tensor*>& xs) override {
    MDS_OP("sum_squares_total");
    if (xs.empty()) return 0.0;
    auto buf = ctx_.alloc_n<double>(xs.size());
    for (size_t i = 0; i < xs.size(); ++i)
      cuda::sum_squares(ctx_, F(*xs[i]), size_t(xs[i]->numel()), buf.as<double>() + i);
    std::vector<double> parts(xs.size());
    ctx_.download(parts.data(), buf.data(), parts.size() * sizeof(double));
    synchronize();
    double s = 0;
    for (double part : parts) s += part;  // the order of the per-tensor loop
    return s;
  }
  void activation_forward(Activation act, const Tensor& x, Tensor& y) override {
    MDS_OP("activation_forward");
    need_numel(y, x.numel(), "activation_forward", "y");
    cuda::bk::activation_forward(ctx_, act_code(act), F(x), F(y), x.numel());
  }
  void activation_backward(Activation act, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                           GradMode dx_mode) override {
    MDS_OP("activation_backward");
    need_numel(dy, x.numel(), "activation_backward", "dy");
    need_numel(dx, x.numel(), "activation_backward", "dx");
    cuda::bk::activation_backward(ctx_, act_code(act), F(x), F(y), F(dy), F(dx), x.numel(), dx_mode == GradMode::add);
  }

  void gemm(bool ta, bool tb, double alpha, const Tensor& A, const Tensor& B, double beta, Tensor& C) override {
    MDS_OP("gemm");
    const int64_t M = C.rows(), N = C.cols(), K = ta ? A.rows() : A.cols();
    need((ta ? A.cols() : A.rows()) == M && (tb ? B.rows() : B.cols()) == N && (tb ? B.cols() : B.rows()) == K,
         "gemm", "operand shapes do not match");
    if (cast_operands(M, N, K)) {
      auto A16 = bf16_copy(F(A), A.numel()), B16 = bf16_copy(F(B), B.numel());
      gemm16(ta, tb, M, N, K, float(alpha), A16.as<cuda::bf16>(), A.cols(), B16.as<cuda::bf16>(), B.cols(),
             float(beta), F(C), N);
      return;
    }
    sgemm(ta, tb, M, N, K, float(alpha), F(A), A.cols(), F(B), B.cols(), float(beta), F(C), N);
  }
  void linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y) override {
    const int64_t out = W.dim(0), in = W.numel() / out, n = x.numel() / in;
    MDS_OP_SHAPE("linear_forward", n, out, in);
    if (x.cols() != in) throw_runtime("linear_forward: x {} does not match W {}", shape_string(x.shape()), shape_string(W.shape()));
    need_numel(y, n * out, "linear_forward", "y");
    if (cast_operands(n, out, in)) {
      auto x16 = bf16_copy(F(x), n * in), W16 = bf16_copy(F(W), out * in);
      gemm16(false, true, n, out, in, 1.f, x16.as<cuda::bf16>(), in, W16.as<cuda::bf16>(), in, 0.f, F(y), out);
    } else {
      sgemm(false, true, n, out, in, 1.f, F(x), in, F(W), in, 0.f, F(y), out);
    }
    if (b.defined()) {
      need_numel(b, out, "linear_forward", "b");
      cuda::bk::add_bias_rows(ctx_, F(y), F(b), n, out);
    }
  }
  void linear_backward(const Tensor& x, const Tensor& W, const Tensor& dy, Tensor& dx, Tensor& dW, Tensor& db) override {
    const int64_t out = W.dim(0), in = W.numel() / out, n = x.numel() / in;
    MDS_OP_SHAPE("linear_backward", n, out, in);
    need_numel(dy, n * out, "linear_backward", "dy");
    if (cast_operands(n, in, out) && cast_operands(out, in, n)) {
      auto dy16 = bf16_copy(F(dy), n * out);
      if (dx.defined()) {
        auto W16 = bf16_copy(F(W), out * in);
        gemm16(false, false, n, in, out, 1.f, dy16.as<cuda::bf16>(), out, W16.as<cuda::bf16>(), in, 1.f, F(dx), in);
      }
      if (dW.defined()) {
        auto x16 = bf16_copy(F(x), n * in);
        gemm16(true, false, out, in, n, 1.f, dy16.as<cuda::bf16>(), out, x16.as<cuda::bf16>(), in, 1.f, F(dW), in);
      }
    } else {
      if (dx.defined()) sgemm(false, false, n, in, out, 1.f, F(dy), out, F(W), in, 1.f, F(dx), in);
      if (dW.defined()) sgemm(true, false, out, in, n, 1.f, F(dy), out, F(x), in, 1.f, F(dW), in);
    }
    if (db.defined()) cuda::bk::add_column_sums(ctx_, F(dy), n, out, F(db));
  }
  void grouped_linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, const std::vector<int64_t>& offsets,
                              Tensor& y) override {
    MDS_OP("grouped_linear_forward");
    need(W.ndim() == 3, "grouped_linear_forward", "W must be [E,out,in]");
    const int64_t E = W.dim(0), out = W.dim(1), in = W.dim(2), S = x.numel() / std::max<int64_t>(in, 1);
    check_offsets(offsets, E, S, "grouped_linear_forward");
    need_numel(y, S * out, "grouped_linear_forward", "y");
    const bool b16 = cast_operands(S, out, in);
    cuda::DeviceBuffer x16, W16;
    if (b16) x16 = bf16_copy(F(x), S * in), W16 = bf16_copy(F(W), E * out * in);
    for (int64_t e = 0; e < E; ++e) {
      const int64_t r0 = offsets[e], rows = offsets[e + 1] - r0;
      if (rows == 0) continue;
      float* ye = F(y) + r0 * out;
      if (b16)
        gemm16(false, true, rows, out, in, 1.f, x16.as<cuda::bf16>() + r0 * in, in,
               W16.as<cuda::bf16>() + e * out * in, in, 0.f, ye, out);
      else
        sgemm(false, true, rows, out, in, 1.f, F(x) + r0 * in, in, F(W) + e * out * in, in, 0.f, ye, out);
      if (b.defined()) cuda::bk::add_bias_rows(ctx_, ye, F(b) + e * out, rows, out);
    }
  }
  void grouped_linear_backward(const Tensor& x, const Tensor& W, const Tensor& dy, const std::vector<int64_t>& offsets,
                               Tensor& dx, Tensor& dW, Tensor& db, GradMode dx_mode) override {
    MDS_OP("grouped_linear_backward");
    const int64_t E = W.dim(0), out = W.dim(1), in = W.dim(2), S = x.numel() / std::max<int64_t>(in, 1);
    check_offsets(offsets, E, S, "grouped_linear_backward");
    need_numel(dy, S * out, "grouped_linear_backward", "dy");
    const bool b16 = cast_operands(S, in, out);
    // beta 0 overwrites dx without reading it (cuBLAS does not read C then).
    const float dx_beta = dx_mode == GradMode::add ? 1.f : 0.f;
    cuda::DeviceBuffer dy16, W16, x16;
    if (b16) {
      dy16 = bf16_copy(F(dy), S * out);
      if (dx.defined()) W16 = bf16_copy(F(W), E * out * in);
      if (dW.defined()) x16 = bf16_copy(F(x), S * in);
    }
    for (int64_t e = 0; e < E; ++e) {
      const int64_t r0 = offsets[e], rows = offsets[e + 1] - r0;
      if (rows == 0) continue;
      const float* dye = F(dy) + r0 * out;
      if (b16) {
        const cuda::bf16* dye16 = dy16.as<cuda::bf16>() + r0 * out;
        if (dx.defined())
          gemm16(false, false, rows, in, out, 1.f, dye16, out, W16.as<cuda::bf16>() + e * out * in, in, dx_beta,
                 F(dx) + r0 * in, in);
        if (dW.defined())
          gemm16(true, false, out, in, rows, 1.f, dye16, out, x16.as<cuda::bf16>() + r0 * in, in, 1.f,
                 F(dW) + e * out * in, in);
      } else {
        if (dx.defined())
          sgemm(false, false, rows, in, out, 1.f, dye, out, F(W) + e * out * in, in, dx_beta, F(dx) + r0 * in, in);
        if (dW.defined()) sgemm(true, false, out, in, rows, 1.f, dye, out, F(x) + r0 * in, in, 1.f, F(dW) + e * out * in, in);
      }
      if (db.defined()) cuda::bk::add_column_sums(ctx_, dye, rows, out, F(db) + e * out);
    }
  }

  void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y, Tensor& mean,
                          Tensor& rstd) override {
    MDS_OP("layer_norm_forward");
    const int64_t C = x.cols(), R = x.rows();
    need_numel(gamma, C, "layer_norm_forward", "gamma");
    need_numel(beta, C, "layer_norm_forward", "beta");
    need_numel(y, R * C, "layer_norm_forward", "y");
    need_numel(mean, R, "layer_norm_forward", "mean");
    need_numel(rstd, R, "layer_norm_forward", "rstd");
    cuda::bk::layer_norm_forward(ctx_, F(x), F(gamma), F(beta), float(eps), F(y), F(mean), F(rstd), R, C);
  }
  void layer_norm_backward(const Tensor& x, const Tensor& gamma, const Tensor& mean, const Tensor& rstd,
                           const Tensor& dy, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    MDS_OP("layer_norm_backward");
    const int64_t C = x.cols(), R = x.rows();
    need_numel(dy, R * C, "layer_norm_backward", "dy");
    cuda::bk::layer_norm_backward(ctx_, F(x), F(gamma), F(mean), F(rstd), F(dy), F(dx), F(dgamma), F(dbeta), R, C);
  }
  void softmax_forward(const Tensor& x, Tensor& y) override {
    MDS_OP("softmax_forward");
    need_numel(y, x.numel(), "softmax_forward", "y");
    cuda::bk::softmax_forward(ctx_, F(x), F(y), x.rows(), x.cols());
  }
  void softmax_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    MDS_OP("softmax_backward");
    need_numel(dy, y.numel(), "softmax_backward", "dy");
    need_numel(dx, y.numel(), "softmax_backward", "dx");
    cuda::bk::softmax_backward(ctx_, F(y), F(dy), F(dx), y.rows(), y.cols());
  }

  void gather_rows(const Tensor& x, const Tensor& index, Tensor& out) override {
    MDS_OP("gather_rows");
    const int64_t C = x.cols(), S = index.numel();
    need_numel(out, S * C, "gather_rows", "out");
    check_indices(index, x.rows(), kFaultGather);
    cuda::bk::gather_rows(ctx_, F(x), index.as<int32_t>(), F(out), S, C);
  }
  void scatter_add_rows(const Tensor& dout, const Tensor& index, Tensor& dx) override {
    MDS_OP("scatter_add_rows");
    const int64_t C = dx.cols(), S = index.numel();
    need_numel(dout, S * C, "scatter_add_rows", "dout");
    check_indices(index, dx.rows(), kFaultScatter);
    cuda::bk::scatter_add_rows(ctx_, F(dout), index.as<int32_t>(), F(dx), S, C);
  }
  void add_position_time_forward(const Tensor& x, const Tensor& pos, const Tensor& temb, int batch, int seq_len,
                                 Tensor& out) override {
    MDS_OP("add_position_time_forward");
    const int64_t H = x.cols();
    need_numel(x, int64_t(batch) * seq_len * H, "add_position_time_forward", "x");
    need_numel(temb, int64_t(batch) * H, "add_position_time_forward", "temb");
    need_numel(out, x.numel(), "add_position_time_forward", "out");
    need(pos.cols() == H && pos.rows() >= seq_len, "add_position_time_forward", "position table too small");
    cuda::bk::add_position_time_forward(ctx_, F(x), F(pos), F(temb), batch, seq_len, H, F(out));
  }
  void add_position_time_backward(const Tensor& dout, int batch, int seq_len, Tensor& dpos, Tensor& dtemb) override {
    MDS_OP("add_position_time_backward");
    const int64_t H = dout.cols();
    need_numel(dout, int64_t(batch) * seq_len * H, "add_position_time_backward", "dout");
    if (dtemb.defined()) need_numel(dtemb, int64_t(batch) * H, "add_position_time_backward", "dtemb");
    if (dpos.defined()) need(dpos.cols() == H && dpos.rows() >= seq_len, "add_position_time_backward", "dpos too small");
    cuda::bk::add_position_time_backward(ctx_, F(dout), batch, seq_len, H, F(dpos), F(dtemb));
  }

  void gaussian_fill(const Tensor& row_keys, uint64_t salt, Tensor& out) override {
    MDS_OP("gaussian_fill");
    need(row_keys.type() == ElemType::u64, "gaussian_fill", "row_keys must be u64");
    need_numel(row_keys, out.rows(), "gaussian_fill", "row_keys");
    cuda::bk::gaussian_fill(ctx_, row_keys.as<uint64_t>(), salt, F(out), out.rows(), out.cols());
  }
  void dropout_forward(const Tensor& x, double p, const Tensor& row_keys, uint64_t salt, Tensor& y,
                       Tensor& mask) override {
    MDS_OP("dropout_forward");
    if (!(p >= 0 && p < 1)) throw_runtime("dropout_forward: rate {} must be in [0, 1)", p);
    const int64_t C = x.cols(), R = x.rows();
    need_numel(row_keys, R, "dropout_forward", "row_keys");
    need_numel(y, R * C, "dropout_forward", "y");
    need(mask.type() == ElemType::u8, "dropout_forward", "mask must be u8");
    need_numel(mask, R * C, "dropout_forward", "mask");
    cuda::bk::dropout_forward(ctx_, F(x), p, row_keys.as<uint64_t>(), salt, F(y), mask.as<uint8_t>(), R, C);
  }
  void dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) override {
    MDS_OP("dropout_backward");
    need_numel(mask, dy.numel(), "dropout_backward", "mask");
    need_numel(dx, dy.numel(), "dropout_backward", "dx");
    cuda::bk::dropout_backward(ctx_, F(dy), mask.as<uint8_t>(), float(1.0 / (1.0 - p)), F(dx), dy.numel());
  }
  void row_combine_forward(const Tensor& x, const Tensor& ax, const Tensor& m, const Tensor& am, const Tensor& e,
                           const Tensor& ae, Tensor& out) override {
    MDS_OP("row_combine_forward");
    const int64_t C = x.cols(), R = x.rows();
    need_numel(ax, R, "row_combine_forward", "ax");
    need_numel(out, R * C, "row_combine_forward", "out");
    if (m.defined()) need_numel(m, C, "row_combine_forward", "m"), need_numel(am, R, "row_combine_forward", "am");
    if (e.defined()) need_numel(e, R * C, "row_combine_forward", "e"), need_numel(ae, R, "row_combine_forward", "ae");
    cuda::bk::row_combine_forward(ctx_, F(x), F(ax), F(m), m.defined() ? F(am) : nullptr, F(e),
                                  e.defined() ? F(ae) : nullptr, F(out), R, C);
  }
  void row_combine_backward(const Tensor& dout, const Tensor& ax, const Tensor& am, const Tensor& ae, Tensor& dx,
                            Tensor& dm, Tensor& de) override {
    MDS_OP("row_combine_backward");
    const int64_t C = dout.cols(), R = dout.rows();
    if (dx.defined()) need_numel(ax, R, "row_combine_backward", "ax"), need_numel(dx, R * C, "row_combine_backward", "dx");
    if (de.defined()) need_numel(ae, R, "row_combine_backward", "ae"), need_numel(de, R * C, "row_combine_backward", "de");
    if (dm.defined()) need_numel(am, R, "row_combine_backward", "am"), need_numel(dm, C, "row_combine_backward", "dm");
    cuda::bk::row_combine_backward(ctx_, F(dout), dx.defined() ? F(ax) : nullptr, dm.defined() ? F(am) : nullptr,
                                   de.defined() ? F(ae) : nullptr, F(dx), F(dm), F(de), R, C);
  }

  void attention_forward(const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv, Tensor& out,
                         Tensor& lse) override;
  void attention_backward(const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv, const Tensor& out,
                          const Tensor& lse, const Tensor& dout, Tensor& dqkv) override;

  void topk_gates_forward(const Tensor& probs, int k, bool renormalize, Tensor& idx, Tensor& gates) override {
    MDS_OP("topk_gates_forward");
    const int64_t E = probs.cols(), N = probs.rows();
    if (k < 1 || k > E) throw_runtime("topk_gates_forward: k = {} must be in [1, {}]", k, E);
    need(idx.type() == ElemType::i32, "topk_gates_forward", "idx must be i32");
    need_numel(idx, N * k, "topk_gates_forward", "idx");
    need_numel(gates, N * k, "topk_gates_forward", "gates");
    cuda::bk::topk_gates_forward(ctx_, F(probs), N, int(E), k, renormalize && k > 1, idx.as<int32_t>(), F(gates));
  }
  void topk_gates_backward(const Tensor& probs, const Tensor& idx, bool renormalize, const Tensor& dgates,
                           Tensor& dprobs) override {
    MDS_OP("topk_gates_backward");
    const int64_t E = probs.cols(), N = probs.rows(), k = idx.numel() / std::max<int64_t>(N, 1);
    need_numel(dgates, N * k, "topk_gates_backward", "dgates");
    need_numel(dprobs, N * E, "topk_gates_backward", "dprobs");
    cuda::bk::topk_gates_backward(ctx_, F(probs), idx.as<int32_t>(), N, int(E), int(k), renormalize && k > 1,
                                  F(dgates), F(dprobs));
  }
  MoeDispatch moe_dispatch(const Tensor& idx, const Tensor& valid, int experts, int64_t capacity) override;
  void moe_combine_forward(const Tensor& yp, const Tensor& gates, const MoeDispatch& d, Tensor& out) override {
    MDS_OP("moe_combine_forward");
    const int64_t C = out.cols(), N = out.rows(), k = d.top_k;
    need_numel(yp, d.slots * C, "moe_combine_forward", "yp");
    need_numel(gates, N * k, "moe_combine_forward", "gates");
    auto slot_of = ctx_.alloc_n<int32_t>(std::max<int64_t>(1, N * k));
    cuda::bk::slot_of_choice(ctx_, d.slots ? d.slot_choice.as<int32_t>() : nullptr, d.slots, slot_of.as<int32_t>(), N * k);
    cuda::bk::moe_combine_forward(ctx_, F(yp), F(gates), slot_of.as<int32_t>(), N, int(k), C, F(out));
  }
  void moe_combine_backward(const Tensor& yp, const Tensor& gates, const MoeDispatch& d, const Tensor& dout,
                            Tensor& dyp, Tensor& dgates) override {
    MDS_OP("moe_combine_backward");
    const int64_t C = dout.cols();
    need_numel(yp, d.slots * C, "moe_combine_backward", "yp");
    if (dyp.defined()) need_numel(dyp, d.slots * C, "moe_combine_backward", "dyp");
    if (dgates.defined()) need_numel(dgates, gates.numel(), "moe_combine_backward", "dgates");
    if (d.slots == 0) return;
    cuda::bk::moe_combine_backward(ctx_, F(yp), F(gates), d.slot_token.as<int32_t>(), d.slot_choice.as<int32_t>(),
                                   d.slots, C, F(dout), F(dyp), F(dgates));
  }
  RouterAux router_aux_forward(const Tensor& logits, const Tensor& probs, const Tensor& valid,
                               const MoeDispatch& d) override;
  void router_aux_backward(const Tensor& logits, const Tensor& probs, const Tensor& valid, const MoeDispatch& d,
                           double balance_weight, double z_weight, Tensor& dlogits, Tensor& dprobs) override;

  void row_sq_diff_forward(const Tensor& a, const Tensor& b, Tensor& out) override {
    MDS_OP("row_sq_diff_forward");
    if (b.defined()) need_numel(b, a.numel(), "row_sq_diff_forward", "b");
    need_numel(out, a.rows(), "row_sq_diff_forward", "out");
    cuda::bk::row_sq_diff_forward(ctx_, F(a), F(b), F(out), a.rows(), a.cols());
  }
  void row_sq_diff_backward(const Tensor& a, const Tensor& b, const Tensor& drow, Tensor& da, Tensor& db) override {
    MDS_OP("row_sq_diff_backward");
    need_numel(drow, a.rows(), "row_sq_diff_backward", "drow");
    if (da.defined()) need_numel(da, a.numel(), "row_sq_diff_backward", "da");
    if (db.defined()) need_numel(db, a.numel(), "row_sq_diff_backward", "db");
    cuda::bk::row_sq_diff_backward(ctx_, F(a), F(b), F(drow), F(da), F(db), a.rows(), a.cols());
  }
  void tied_ce_forward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                       const Tensor& row_weight, Tensor& nll) override;
  void tied_ce_backward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                        const Tensor& row_weight, Tensor& dx, Tensor& dE, Tensor& dbias) override;
  void round_nearest(const Tensor& x, const Tensor& E, Tensor& ids) override;
  void round_argmax(const Tensor& x, const Tensor& E, const Tensor& bias, Tensor& ids) override;

  void adamw_step(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& p) override {
    MDS_OP("adamw_step");
    const int64_t n = param.numel();
    need_numel(grad, n, "adamw_step", "grad");
    need_numel(m, n, "adamw_step", "m");
    need_numel(v, n, "adamw_step", "v");
    if (p.step < 1) throw_runtime("adamw_step: step {} must be >= 1", p.step);
    cuda::AdamWHyper h;
    h.lr = float(p.lr), h.beta1 = float(p.beta1), h.beta2 = float(p.beta2), h.eps = float(p.eps);
    h.weight_decay = float(p.weight_decay), h.step = p.step;
    cuda::adamw_step(ctx_, h, F(param), F(grad), F(m), F(v), nullptr, size_t(n));
  }
  void ema_update(Tensor& ema, const Tensor& param, double decay) override {
    MDS_OP("ema_update");
    need_numel(param, ema.numel(), "ema_update", "param");
    cuda::ema_update(ctx_, float(decay), F(param), F(ema), size_t(ema.numel()));
  }

 private:
  static int act_code(Activation a) { return a == Activation::tanh ? 0 : a == Activation::silu ? 1 : 2; }
  // A copy from pageable host memory is staged before cudaMemcpyAsync
  // returns (CUDA runtime API, "API synchronization behavior"), so the host
  // buffer may go away at once and the upload needs no synchronisation.
  template <typename T>
  void put(Tensor& dst, const T* src) {
    ctx_.upload(dst.data(), src, size_t(dst.numel()) * sizeof(T));
  }
  template <typename T>
  void get(const Tensor& src, T* dst) {
    ctx_.download(dst, src.data(), size_t(src.numel()) * sizeof(T));
    synchronize();
  }
  // Fault word (device, mirrored to pinned host memory at every synchronize):
  // [code, position, value, bound]; code 0 = no fault.
  static constexpr size_t kFaultWords = 4;
  enum FaultCode : int { kFaultGather = 1, kFaultScatter, kFaultCeForward, kFaultCeBackward, kFaultDispatch };
  void raise_fault() {
    const int64_t code = fault_host_[0], pos = fault_host_[1], value = fault_host_[2], bound = fault_host_[3];
    if (code == 0) return;
    std::memset(fault_host_, 0, kFaultWords * sizeof(int64_t));
    ctx_.fill_zero(fault_dev_.data(), fault_dev_.bytes());  // the backend stays usable after the error
    switch (code) {
      case kFaultGather:
      case kFaultScatter:
        throw_runtime("{}: index[{}] = {} is outside [0, {})", code == kFaultGather ? "gather_rows" : "scatter_add_rows",
                      pos, value, bound);
      case kFaultCeForward:
      case kFaultCeBackward:
        throw_runtime("{}: target[{}] = {} outside the vocabulary [0, {})",
                      code == kFaultCeForward ? "tied_ce_forward" : "tied_ce_backward", pos, value, bound);
      case kFaultDispatch:
        throw_runtime("moe_dispatch: expert index {} outside [0, {}) (pick {})", value, bound, pos);
      default: throw_runtime("cuda backend: unknown fault code {}", code);
    }
  }
  int64_t* fault() const { return fault_dev_.as<int64_t>(); }
  // Whether an M x N x K product takes the cast path (MDS_CUDA_GEMM=cast).
  bool cast_operands(int64_t M, int64_t N, int64_t K) const {
    return cast_gemm_ && precision_ == CudaPrecision::bf16 && M >= 16 && N >= 16 && K >= 16;
  }
  // bf16 copy of n contiguous fp32 values, in pool scratch (stream-ordered reuse).
  cuda::DeviceBuffer bf16_copy(const float* x, int64_t n) {
    cuda::DeviceBuffer b = ctx_.alloc_n<cuda::bf16>(size_t(std::max<int64_t>(1, n)));
    cuda::cast_f32_to_bf16(ctx_, x, b.as<cuda::bf16>(), size_t(n));
    return b;
  }
  // Row-major C[M,N] (fp32) = alpha op(A) op(B) + beta C with bf16 operands
  // and fp32 accumulation (K > 0).
  void gemm16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const cuda::bf16* A, int64_t lda,
              const cuda::bf16* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    throw_cublas(cublasGemmEx(blas_, opb, opa, int(N), int(M), int(K), &alpha, B, CUDA_R_16BF, int(ldb), A,
                              CUDA_R_16BF, int(lda), &beta, C, CUDA_R_32F, int(ldc), CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (bf16 operands)");
  }
  // Row-major C[M,N] = alpha op(A) op(B) + beta C through column-major cuBLAS
  // (C^T = op(B)^T op(A)^T).
  // `exact` forces fp32 (rounding decisions); otherwise the backend's precision.
  void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
             const float* B, int64_t ldb, float beta, float* C, int64_t ldc, bool exact = false) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
      if (beta == 0.f) {
        for (int64_t r = 0; r < M; ++r) cuda::bk::fill_f32(ctx_, C + r * ldc, 0.f, N);
      } else if (beta != 1.f) {
        for (int64_t r = 0; r < M; ++r) cuda::bk::scale(ctx_, C + r * ldc, beta, N);
      }
      return;
    }
    const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (exact || precision_ == CudaPrecision::f32) {
      throw_cublas(cublasSgemm(blas_, opb, opa, int(N), int(M), int(K), &alpha, B, int(ldb), A, int(lda), &beta, C,
                               int(ldc)),
                   "cublasSgemm");
      return;
    }
    throw_cublas(cublasGemmEx(blas_, opb, opa, int(N), int(M), int(K), &alpha, B, CUDA_R_32F, int(ldb), A, CUDA_R_32F,
                              int(lda), &beta, C, CUDA_R_32F, int(ldc), CUBLAS_COMPUTE_32F_FAST_16BF,
                              CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx (bf16 tensor cores)");
  }
  void check_offsets(const std::vector<int64_t>& offsets, int64_t experts, int64_t rows, const char* op) {
    if (static_cast<int64_t>(offsets.size()) != experts + 1 || offsets.front() != 0 || offsets.back() != rows)
      throw_runtime("{}: offsets must have {} entries from 0 to {}", op, experts + 1, rows);
    for (int64_t e = 0; e < experts; ++e)
      if (offsets[e + 1] < offsets[e]) throw_runtime("{}: offsets are not ascending at expert {}", op, e);
  }
  // Checked on the device; a bad index is reported at the next synchronisation.
  void check_indices(const Tensor& index, int64_t rows, FaultCode code) {
    need(index.type() == ElemType::i32, code == kFaultGather ? "gather_rows" : "scatter_add_rows",
         "index must be i32");
    cuda::bk::check_index_range(ctx_, index.as<int32_t>(), index.numel(), rows, code, fault());
  }
  void ce_check(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets, const Tensor& w,
                const char* op, FaultCode code);

  Context ctx_;
  CudaPrecision precision_;
  cuda::OpProfiler prof_;
  cublasHandle_t blas_ = nullptr;
  bool cast_gemm_ = false;  // MDS_CUDA_GEMM=cast: bf16 copies of the operands, then bf16 GEMMs
  bool poison_ = false;         // MDS_CUDA_POISON=1: alloc_uninit fills with 0xFF
  cuda::DeviceBuffer fault_dev_;
  int64_t* fault_host_ = nullptr;  // pinned
};


// ---- attention: bf16 copies of q/k/v for the flash-style kernel ----------------

cuda::AttentionGlobals* make_globals(const AttentionShape& s, const AttentionPattern& p,
                                     std::unique_ptr<cuda::AttentionGlobals>& holder) {
  if (p.max_globals <= 0) return nullptr;
  holder = std::make_unique<cuda::AttentionGlobals>(s.batch, s.seq_len, p.is_global.as<uint8_t>(),
                                                    p.global_pos.as<int32_t>(), p.max_globals,
                                                    p.global_count.as<int32_t>());
  return holder.get();
}

// The kernel's head widths. Narrower heads (the tiny config's 24, a 768/16
// model's 48) are zero-padded to the next one: zero columns add nothing to
// q·k, and the padded output columns (from zero v columns) are dropped.
int kernel_head_dim(int head_dim) {
  for (int w : {32, 64, 128})
    if (head_dim <= w) return w;
  return 0;
}

void check_attention(const AttentionShape& s, const Tensor& qkv, const char* op) {
  const int64_t H = int64_t(s.heads) * s.head_dim;
  if (s.head_dim < 1 || kernel_head_dim(s.head_dim) == 0)
    throw_runtime("{}: the CUDA attention kernel supports head_dim up to 128, got {}", op, s.head_dim);
  need_numel(qkv, int64_t(s.batch) * s.seq_len * 3 * H, op, "qkv");
  if (static_cast<int>(s.dilation.size()) != s.heads)
    throw_runtime("{}: {} dilations for {} heads", op, s.dilation.size(), s.heads);
}

cuda::AttentionShape kernel_shape(const AttentionShape& s) {
  cuda::AttentionShape k{s.batch, s.seq_len, s.heads, kernel_head_dim(s.head_dim)};
  k.scale = 1.f / std::sqrt(float(s.head_dim));
  return k;
}

void CudaBackend::attention_forward(const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv, Tensor& out,
                                    Tensor& lse) {
  MDS_OP("attention_forward");
  check_attention(s, qkv, "attention_forward");
  const int64_t H = int64_t(s.heads) * s.head_dim, rows = int64_t(s.batch) * s.seq_len;
  need_numel(out, rows * H, "attention_forward", "out");
  need_numel(lse, int64_t(s.batch) * s.heads * s.seq_len, "attention_forward", "lse");
  const int d = s.head_dim, dp = kernel_head_dim(d);
  const int64_t Hp = int64_t(s.heads) * dp;
  auto qkv16 = ctx_.alloc_n<cuda::bf16>(rows * 3 * Hp);
  auto out16 = ctx_.alloc_n<cuda::bf16>(rows * Hp);
  auto lengths = ctx_.alloc_n<int32_t>(std::max(1, s.batch));
  cuda::bk::f32_to_bf16_padded(ctx_, F(qkv), qkv16.as<cuda::bf16>(), rows * 3 * s.heads, d, dp);
  cuda::attention_lengths_from_valid(ctx_, p.valid.as<uint8_t>(), s.batch, s.seq_len, lengths.as<int32_t>());
  std::unique_ptr<cuda::AttentionGlobals> holder;
  cuda::AttentionForwardArgs a;
  const cuda::bf16* base = qkv16.as<cuda::bf16>();
  a.q = base, a.k = base + Hp, a.v = base + 2 * Hp, a.ld_qkv = 3 * Hp;
  a.lengths = lengths.as<int32_t>();
  a.globals = make_globals(s, p, holder);
  a.out = out16.as<cuda::bf16>(), a.ld_out = Hp, a.lse = F(lse);
  cuda::attention_forward(ctx_, kernel_shape(s), {s.window, s.dilation}, a);
  cuda::bk::bf16_padded_to_f32(ctx_, out16.as<cuda::bf16>(), F(out), rows * s.heads, d, dp, false);
}

void CudaBackend::attention_backward(const AttentionShape& s, const AttentionPattern& p, const Tensor& qkv,
                                     const Tensor& out, const Tensor& lse, const Tensor& dout, Tensor& dqkv) {
  MDS_OP("attention_backward");
  check_attention(s, qkv, "attention_backward");
  const int64_t H = int64_t(s.heads) * s.head_dim, rows = int64_t(s.batch) * s.seq_len;
  need_numel(out, rows * H, "attention_backward", "out");
  need_numel(dout, rows * H, "attention_backward", "dout");
  need_numel(dqkv, rows * 3 * H, "attention_backward", "dqkv");
  const int d = s.head_dim, dp = kernel_head_dim(d);
  const int64_t Hp = int64_t(s.heads) * dp;
  auto qkv16 = ctx_.alloc_n<cuda::bf16>(rows * 3 * Hp);
  auto out16 = ctx_.alloc_n<cuda::bf16>(rows * Hp);
  auto dout16 = ctx_.alloc_n<cuda::bf16>(rows * Hp);
  auto dqkv16 = ctx_.alloc_n<cuda::bf16>(rows * 3 * Hp);
  auto lengths = ctx_.alloc_n<int32_t>(std::max(1, s.batch));
  cuda::bk::f32_to_bf16_padded(ctx_, F(qkv), qkv16.as<cuda::bf16>(), rows * 3 * s.heads, d, dp);
  cuda::bk::f32_to_bf16_padded(ctx_, F(out), out16.as<cuda::bf16>(), rows * s.heads, d, dp);
  cuda::bk::f32_to_bf16_padded(ctx_, F(dout), dout16.as<cuda::bf16>(), rows * s.heads, d, dp);
  cuda::attention_lengths_from_valid(ctx_, p.valid.as<uint8_t>(), s.batch, s.seq_len, lengths.as<int32_t>());
  std::unique_ptr<cuda::AttentionGlobals> holder;
  cuda::AttentionBackwardArgs a;
  const cuda::bf16* base = qkv16.as<cuda::bf16>();
  cuda::bf16* dbase = dqkv16.as<cuda::bf16>();
  a.q = base, a.k = base + Hp, a.v = base + 2 * Hp, a.ld_qkv = 3 * Hp;
  a.lengths = lengths.as<int32_t>();
  a.globals = make_globals(s, p, holder);
  a.out = out16.as<cuda::bf16>(), a.dout = dout16.as<cuda::bf16>(), a.ld_out = Hp, a.lse = F(lse);
  a.dq = dbase, a.dk = dbase + Hp, a.dv = dbase + 2 * Hp, a.ld_dqkv = 3 * Hp, a.accumulate = false;
  cuda::attention_backward(ctx_, kernel_shape(s), {s.window, s.dilation}, a);
  cuda::bk::bf16_padded_to_f32(ctx_, dbase, F(dqkv), rows * 3 * s.heads, d, dp, true);
}

// ---- MoE -------------------------------------------------------------------------

MoeDispatch CudaBackend::moe_dispatch(const Tensor& idx, const Tensor& valid, int experts, int64_t capacity) {
  MDS_OP("moe_dispatch");
  need(idx.type() == ElemType::i32, "moe_dispatch", "idx must be i32");
  const int64_t N = idx.rows(), k = idx.cols(), E = experts;
  if (valid.defined()) need_numel(valid, N, "moe_dispatch", "valid");
  // Slot arrays are allocated for every pick; the tensors handed out view the
  // first `slots` entries of them.
  Tensor st = alloc_uninit({std::max<int64_t>(1, N * k)}, ElemType::i32);
  Tensor sc = alloc_uninit({std::max<int64_t>(1, N * k)}, ElemType::i32);
  auto scratch = ctx_.alloc_n<int32_t>(size_t(2) * 1024 * size_t(std::max<int64_t>(1, E)));
  auto info = ctx_.alloc_n<int64_t>(size_t(3 * E + 3));
  cuda::bk::moe_dispatch_slots(ctx_, idx.as<int32_t>(), valid.defined() ? valid.as<uint8_t>() : nullptr, N, int(k),
                               int(E), capacity, st.as<int32_t>(), sc.as<int32_t>(), scratch.as<int32_t>(),
                               info.as<int64_t>(), fault());
  std::vector<int64_t> h(size_t(3 * E + 3));
  ctx_.download(h.data(), info.data(), h.size() * sizeof(int64_t));
  synchronize();  // the one host round trip of a MoE layer: the offsets size the expert products
  MoeDispatch d;
  d.experts = experts;
  d.top_k = int(k);
  d.offsets.assign(h.begin(), h.begin() + E + 1);
  d.slots = d.offsets[E];
  d.assigned.assign(h.begin() + E + 1, h.begin() + 2 * E + 1);
  d.dropped = h[3 * E + 1];
  d.routed_tokens = h[3 * E + 2];
  d.top1_fraction.assign(E, 0.0);
  for (int64_t e = 0; e < E; ++e)
    d.top1_fraction[e] = d.routed_tokens ? double(h[2 * E + 1 + e]) / double(d.routed_tokens) : 0.0;
  d.slot_token = st.reshaped({N * k}).prefix(d.slots);
  d.slot_choice = sc.reshaped({N * k}).prefix(d.slots);
  return d;
}

Backend::RouterAux CudaBackend::router_aux_forward(const Tensor& logits, const Tensor& probs, const Tensor& valid,
                                                   const MoeDispatch& d) {
  MDS_OP("router_aux_forward");
  const int64_t E = logits.cols(), N = logits.rows();
  need_numel(probs, N * E, "router_aux_forward", "probs");
  if (valid.defined()) need_numel(valid, N, "router_aux_forward", "valid");
  if (static_cast<int64_t>(d.top1_fraction.size()) != E)
    throw_runtime("router_aux_forward: dispatch has {} experts, logits {}", d.top1_fraction.size(), E);
  auto sums = ctx_.alloc_n<double>(size_t(E + 1));
  cuda::bk::router_sums(ctx_, F(logits), F(probs), valid.defined() ? valid.as<uint8_t>() : nullptr, N, int(E),
                        sums.as<double>());
  std::vector<double> h(size_t(E + 1));
  ctx_.download(h.data(), sums.data(), h.size() * sizeof(double));
  synchronize();
  // The dispatch counted the valid rows.
  const int64_t count = d.routed_tokens;
  RouterAux r;
  if (count == 0) return r;
  for (int64_t e = 0; e < E; ++e) r.balance += d.top1_fraction[e] * h[e] / double(count);
  r.balance *= double(E);
  r.z = h[E] / double(count);
  return r;
}

void CudaBackend::router_aux_backward(const Tensor& logits, const Tensor& probs, const Tensor& valid,
                                      const MoeDispatch& d, double balance_weight, double z_weight, Tensor& dlogits,
                                      Tensor& dprobs) {
  MDS_OP("router_aux_backward");
  const int64_t E = logits.cols(), N = logits.rows();
  if (valid.defined()) need_numel(valid, N, "router_aux_backward", "valid");
  // The dispatch counted the valid rows (the same rows the CPU counts here).
  const int64_t count = d.routed_tokens;
  if (count == 0) return;
  if (dlogits.defined()) need_numel(dlogits, N * E, "router_aux_backward", "dlogits");
  if (dprobs.defined()) need_numel(dprobs, N * E, "router_aux_backward", "dprobs");
  if (static_cast<int64_t>(d.top1_fraction.size()) != E)
    throw_runtime("router_aux_backward: dispatch has {} experts, logits {}", d.top1_fraction.size(), E);
  Tensor frac;
  const bool use_balance = dprobs.defined() && balance_weight != 0;
  if (use_balance) {
    std::vector<float> f(E);
    for (int64_t e = 0; e < E; ++e) f[e] = float(balance_weight * E * d.top1_fraction[e] / count);
    frac = alloc_uninit({E}, ElemType::real);
    put(frac, f.data());
  }
  cuda::bk::router_aux_backward(ctx_, F(logits), F(probs), valid.defined() ? valid.as<uint8_t>() : nullptr, N, int(E),
                                use_balance ? F(frac) : nullptr, dlogits.defined() ? z_weight / count : 0.0,
                                F(dlogits), F(dprobs));
}

// ---- tied cross-entropy and rounding: fp32 GEMM blocks of logits -----------------

constexpr int64_t kCeBlock = 1024;

void CudaBackend::ce_check(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                           const Tensor& w, const char* op, FaultCode code) {
  const int64_t N = x.rows(), V = E.rows();
  if (E.cols() != x.cols())
    throw_runtime("{}: x {} and embedding {} differ in width", op, shape_string(x.shape()), shape_string(E.shape()));
  need(targets.type() == ElemType::i32, op, "targets must be i32");
  need_numel(targets, N, op, "targets");
  need_numel(w, N, op, "row_weight");
  if (bias.defined()) need_numel(bias, V, op, "bias");
  // On the device; a bad target is reported at the next synchronisation.
  cuda::bk::check_targets(ctx_, targets.as<int32_t>(), F(w), N, V, code, fault());
}

void CudaBackend::tied_ce_forward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                                  const Tensor& row_weight, Tensor& nll) {
  MDS_OP("tied_ce_forward");
  ce_check(x, E, bias, targets, row_weight, "tied_ce_forward", kFaultCeForward);
  const int64_t N = x.rows(), d = x.cols(), V = E.rows();
  need_numel(nll, N, "tied_ce_forward", "nll");
  auto logits = ctx_.alloc_n<float>(std::max<int64_t>(1, std::min(N, kCeBlock) * V));
  const bool b16 = cast_operands(std::min(N, kCeBlock), V, d);
  cuda::DeviceBuffer x16, E16;
  if (b16) x16 = bf16_copy(F(x), N * d), E16 = bf16_copy(F(E), V * d);
  for (int64_t r0 = 0; r0 < N; r0 += kCeBlock) {
    const int64_t R = std::min(kCeBlock, N - r0);
    if (b16)
      gemm16(false, true, R, V, d, 1.f, x16.as<cuda::bf16>() + r0 * d, d, E16.as<cuda::bf16>(), d, 0.f,
             logits.as<float>(), V);
    else
      sgemm(false, true, R, V, d, 1.f, F(x) + r0 * d, d, F(E), d, 0.f, logits.as<float>(), V);
    cuda::bk::ce_rows_forward(ctx_, logits.as<float>(), F(bias), targets.as<int32_t>() + r0, F(row_weight) + r0, R, V,
                              F(nll) + r0);
  }
}

void CudaBackend::tied_ce_backward(const Tensor& x, const Tensor& E, const Tensor& bias, const Tensor& targets,
                                   const Tensor& row_weight, Tensor& dx, Tensor& dE, Tensor& dbias) {
  MDS_OP("tied_ce_backward");
  ce_check(x, E, bias, targets, row_weight, "tied_ce_backward", kFaultCeBackward);
  const int64_t N = x.rows(), d = x.cols(), V = E.rows();
  if (dx.defined()) need_numel(dx, N * d, "tied_ce_backward", "dx");
  if (dE.defined()) need_numel(dE, V * d, "tied_ce_backward", "dE");
  if (dbias.defined()) need_numel(dbias, V, "tied_ce_backward", "dbias");
  auto G = ctx_.alloc_n<float>(std::max<int64_t>(1, std::min(N, kCeBlock) * V));
  const bool b16 = cast_operands(std::min(N, kCeBlock), V, d);
  cuda::DeviceBuffer x16, E16, G16;
  if (b16) {
    x16 = bf16_copy(F(x), N * d), E16 = bf16_copy(F(E), V * d);
    G16 = ctx_.alloc_n<cuda::bf16>(std::max<int64_t>(1, std::min(N, kCeBlock) * V));
  }
  for (int64_t r0 = 0; r0 < N; r0 += kCeBlock) {
    const int64_t R = std::min(kCeBlock, N - r0);
    float* g = G.as<float>();
    if (b16) {
      const cuda::bf16* xr = x16.as<cuda::bf16>() + r0 * d;
      cuda::bf16* g16 = G16.as<cuda::bf16>();
      gemm16(false, true, R, V, d, 1.f, xr, d, E16.as<cuda::bf16>(), d, 0.f, g, V);
      cuda::bk::ce_rows_grad(ctx_, g, F(bias), targets.as<int32_t>() + r0, F(row_weight) + r0, R, V);
      cuda::cast_f32_to_bf16(ctx_, g, g16, size_t(R * V));
      if (dx.defined()) gemm16(false, false, R, d, V, 1.f, g16, V, E16.as<cuda::bf16>(), d, 1.f, F(dx) + r0 * d, d);
      if (dE.defined()) gemm16(true, false, V, d, R, 1.f, g16, V, xr, d, 1.f, F(dE), d);
      if (dbias.defined()) cuda::bk::add_column_sums(ctx_, g, R, V, F(dbias));
      continue;
    }
    sgemm(false, true, R, V, d, 1.f, F(x) + r0 * d, d, F(E), d, 0.f, g, V);
    cuda::bk::ce_rows_grad(ctx_, g, F(bias), targets.as<int32_t>() + r0, F(row_weight) + r0, R, V);
    if (dx.defined()) sgemm(false, false, R, d, V, 1.f, g, V, F(E), d, 1.f, F(dx) + r0 * d, d);
    if (dE.defined()) sgemm(true, false, V, d, R, 1.f, g, V, F(x) + r0 * d, d, 1.f, F(dE), d);
    if (dbias.defined()) cuda::bk::add_column_sums(ctx_, g, R, V, F(dbias));
  }
}

void CudaBackend::round_nearest(const Tensor& x, const Tensor& E, Tensor& ids) {
  MDS_OP("round_nearest");
  const int64_t N = x.rows(), d = x.cols(), V = E.rows();
  need(E.cols() == d, "round_nearest", "x and embedding differ in width");
  need(ids.type() == ElemType::i32, "round_nearest", "ids must be i32");
  need_numel(ids, N, "round_nearest", "ids");
  auto off = ctx_.alloc_n<float>(std::max<int64_t>(1, V));
  auto scores = ctx_.alloc_n<float>(std::max<int64_t>(1, std::min(N, kCeBlock) * V));
  cuda::bk::neg_row_norms(ctx_, F(E), V, d, off.as<float>());
  for (int64_t r0 = 0; r0 < N; r0 += kCeBlock) {
    const int64_t R = std::min(kCeBlock, N - r0);
    sgemm(false, true, R, V, d, 2.f, F(x) + r0 * d, d, F(E), d, 0.f, scores.as<float>(), V, /*exact=*/true);
    cuda::bk::argmax_rows(ctx_, scores.as<float>(), off.as<float>(), R, V, ids.as<int32_t>() + r0);
  }
}

void CudaBackend::round_argmax(const Tensor& x, const Tensor& E, const Tensor& bias, Tensor& ids) {
  MDS_OP("round_argmax");
  const int64_t N = x.rows(), d = x.cols(), V = E.rows();
  need(E.cols() == d, "round_argmax", "x and embedding differ in width");
  need(ids.type() == ElemType::i32, "round_argmax", "ids must be i32");
  need_numel(ids, N, "round_argmax", "ids");
  if (bias.defined()) need_numel(bias, V, "round_argmax", "bias");
  auto scores = ctx_.alloc_n<float>(std::max<int64_t>(1, std::min(N, kCeBlock) * V));
  for (int64_t r0 = 0; r0 < N; r0 += kCeBlock) {
    const int64_t R = std::min(kCeBlock, N - r0);
    sgemm(false, true, R, V, d, 1.f, F(x) + r0 * d, d, F(E), d, 0.f, scores.as<float>(), V, /*exact=*/true);
    cuda::bk::argmax_rows(ctx_, scores.as<float>(), F(bias), R, V, ids.as<int32_t>() + r0);
  }
}

}  // namespace

bool cuda_device_available() { return cuda::device_available(nullptr); }

CudaQueue cuda_backend_queue(Backend& backend) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (!cuda) return {};
  return {cuda->stream(), cuda->device()};
}

std::unique_ptr<Backend> make_cuda_backend(int device, CudaPrecision precision) {
  std::string why;
  if (!cuda::device_available(&why)) throw_runtime("no CUDA device found ({})", why);
  auto env_on = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::string(v) != "0";
  };
  const char* gemm = std::getenv("MDS_CUDA_GEMM");
  const bool cast = gemm && std::string(gemm) == "cast";
  if (gemm && *gemm && !cast && std::string(gemm) != "fast16bf")
    throw_usage("MDS_CUDA_GEMM={}: expected fast16bf (the default) or cast", gemm);
  return std::make_unique<CudaBackend>(device, precision, env_on("MDS_CUDA_PROFILE"), cast,
                                       env_on("MDS_CUDA_POISON"));
}

}  // namespace mds
