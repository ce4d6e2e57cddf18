// The CUDA execution context: one device, one stream, a cuBLASLt handle with
// its workspace, a caching memory pool and a GEMM algorithm cache. Every host
// launcher in kernels/ takes a Context&; there is no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "core/error.h"

namespace mds::cuda {

using bf16 = __nv_bfloat16;

// Throws mds::Error (runtime) naming the call site when a CUDA call fails.
void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);
void throw_cublas_error(cublasStatus_t st, const char* what, const char* file, int line);

#define MDS_CUDA_CHECK(expr)                                                          \
  do {                                                                                \
    cudaError_t mds_err_ = (expr);                                                    \
    if (mds_err_ != cudaSuccess) ::mds::cuda::throw_cuda_error(mds_err_, #expr, __FILE__, __LINE__); \
  } while (0)
#define MDS_CUBLAS_CHECK(expr)                                                        \
  do {                                                                                \
    cublasStatus_t mds_st_ = (expr);                                                  \
    if (mds_st_ != CUBLAS_STATUS_SUCCESS) ::mds::cuda::throw_cublas_error(mds_st_, #expr, __FILE__, __LINE__); \
  } while (0)
// After a kernel launch: reports launch-configuration errors at the launch site.
#define MDS_CUDA_CHECK_LAUNCH(name) MDS_CUDA_CHECK(cudaPeekAtLastError())

// True when a CUDA device can be used; otherwise `why` says what is missing.
bool device_available(std::string* why = nullptr);

struct DeviceInfo {
  int device = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  size_t total_memory = 0;
  size_t smem_per_block_optin = 0;  // largest dynamic shared memory a block may opt into
};

// A caching allocator bound to one stream. Blocks are rounded up (512 B below
// 1 MiB, 2 MiB above) and kept on free lists by size on release; a request
// takes the smallest cached block that fits without wasting more than an
// eighth (so MoE buffers, whose size changes a little every step, reuse
// blocks instead of growing the cache). A freed block is handed out again only
// to work queued on the same stream, so stream order makes reuse safe without
// synchronisation. On cudaMalloc failure the cache is emptied and the
// allocation retried once.
class MemoryPool {
 public:
  explicit MemoryPool(int device) : device_(device) {}
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  void* allocate(size_t bytes);
  void release(void* ptr);
  void empty_cache();  // cudaFree every cached (unused) block
  void reset_peak() { peak_ = in_use_; }

  size_t bytes_in_use() const { return in_use_; }
  size_t bytes_cached() const { return cached_; }
  size_t peak_bytes_in_use() const { return peak_; }
  size_t device_allocations() const { return device_allocs_; }
  static size_t round_size(size_t bytes);

 private:
  int device_;
  std::multimap<size_t, void*> free_;    // size -> cached block
  std::map<void*, size_t> live_;         // block -> size
  size_t in_use_ = 0, cached_ = 0, peak_ = 0, device_allocs_ = 0;
};

// An owning handle to pool memory; returns the block on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(MemoryPool* pool, size_t bytes);
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : pool_(o.pool_), ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void reset();
  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  MemoryPool* pool_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Context {
 public:
  // Selects `device`, creates a non-blocking stream, a cuBLASLt handle and a
  // workspace of `workspace_bytes`.
  explicit Context(int device = 0, size_t workspace_bytes = size_t(32) << 20);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return info_.device; }
  const DeviceInfo& info() const { return info_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t lt() const { return lt_; }
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  MemoryPool& pool() { return *pool_; }
  // Shared ownership for allocations that may outlive the context (backend
  // tensors): the pool, and with it every cached block, lives until the last
  // of them is released.
  std::shared_ptr<MemoryPool> shared_pool() const { return pool_; }

  DeviceBuffer alloc(size_t bytes) { return DeviceBuffer(pool_.get(), bytes); }
  template <typename T>
  DeviceBuffer alloc_n(size_t n) { return DeviceBuffer(pool_.get(), n * sizeof(T)); }

  // Stream-ordered copies; the host side must stay alive until synchronize().
  void upload(void* dst, const void* src, size_t bytes);
  void download(void* dst, const void* src, size_t bytes);
  void fill_zero(void* dst, size_t bytes);
  // Waits for the stream and reports any asynchronous error.
  void synchronize();

  // cuBLASLt algorithm cache (kernels/gemm.cu); keyed by the problem description.
  struct GemmPlan;
  std::map<std::string, std::shared_ptr<GemmPlan>>& gemm_plans() { return gemm_plans_; }

 private:
  DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::shared_ptr<MemoryPool> pool_;
  std::map<std::string, std::shared_ptr<GemmPlan>> gemm_plans_;
};

// Host-side bf16 <-> float helpers (round to nearest even), for tests and I/O.
float bf16_to_float(bf16 v);
bf16 float_to_bf16(float v);

}  // namespace mds::cuda
