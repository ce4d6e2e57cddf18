// Context, memory pool and error reporting of the CUDA backend (see context.h).
#include "kernels/context.h"

#include <algorithm>
#include <cstring>

namespace mds::cuda {

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  throw_runtime("CUDA error {} ({}) in `{}` at {}:{}", cudaGetErrorName(err), cudaGetErrorString(err), what,
                file, line);
}

void throw_cublas_error(cublasStatus_t st, const char* what, const char* file, int line) {
  throw_runtime("cuBLAS error {} in `{}` at {}:{}", static_cast<int>(st), what, file, line);
}

bool device_available(std::string* why) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (why) *why = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return false;
  }
  if (n == 0) {
    if (why) *why = "no CUDA device present";
    return false;
  }
  return true;
}

// ---- MemoryPool ---------------------------------------------------------------

size_t MemoryPool::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t small = 512, large = size_t(2) << 20;
  if (bytes < (size_t(1) << 20)) return (bytes + small - 1) / small * small;
  return (bytes + large - 1) / large * large;
}

MemoryPool::~MemoryPool() {
  // Destructors must not throw: errors here are ignored (the context is going away).
  cudaSetDevice(device_);
  for (auto& kv : free_) cudaFree(kv.second);
  for (auto& kv : live_) cudaFree(kv.first);
}

void* MemoryPool::allocate(size_t bytes) {
  size_t size = round_size(bytes);
  // Best fit within 1/8 slack: training loops repeat shapes, and the slack
  // absorbs the step-to-step drift of data-dependent sizes.
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first - size <= std::max(size / 8, size_t(512))) {
    void* p = it->second;
    size = it->first;
    free_.erase(it);
    cached_ -= size;
    live_[p] = size;
    in_use_ += size;
    if (in_use_ > peak_) peak_ = in_use_;
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    empty_cache();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess)
    throw_runtime("CUDA memory pool: cannot allocate {} bytes ({} in use, {} cached): {}", size, in_use_, cached_,
                  cudaGetErrorString(err));
  ++device_allocs_;
  live_[p] = size;
  in_use_ += size;
  if (in_use_ > peak_) peak_ = in_use_;
  return p;
}

void MemoryPool::release(void* ptr) {
  if (!ptr) return;
  auto it = live_.find(ptr);
  if (it == live_.end()) throw_runtime("CUDA memory pool: release of a pointer it does not own ({})", ptr);
  size_t size = it->second;
  live_.erase(it);
  in_use_ -= size;
  free_.emplace(size, ptr);
  cached_ += size;
}

void MemoryPool::empty_cache() {
  // Cached blocks may still be read by queued work: wait for the device first.
  cudaDeviceSynchronize();
  for (auto& kv : free_) cudaFree(kv.second);
  free_.clear();
  cached_ = 0;
}

// ---- DeviceBuffer -------------------------------------------------------------

DeviceBuffer::DeviceBuffer(MemoryPool* pool, size_t bytes) : pool_(pool), bytes_(bytes) {
  ptr_ = pool_->allocate(bytes);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    pool_ = o.pool_;
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (ptr_ && pool_) {
    try {
      pool_->release(ptr_);
    } catch (...) {
      // A buffer always comes from its pool; nothing sensible to do in a destructor.
    }
  }
  ptr_ = nullptr;
  bytes_ = 0;
}

// ---- Context ------------------------------------------------------------------

Context::Context(int device, size_t workspace_bytes) {
  std::string why;
  if (!device_available(&why)) throw_runtime("CUDA context: {}", why);
  int n = 0;
  MDS_CUDA_CHECK(cudaGetDeviceCount(&n));
  if (device < 0 || device >= n) throw_usage("CUDA context: device {} requested but {} device(s) present", device, n);
  MDS_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  MDS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  info_.device = device;
  info_.name = prop.name;
  info_.cc_major = prop.major;
  info_.cc_minor = prop.minor;
  info_.sm_count = prop.multiProcessorCount;
  info_.total_memory = prop.totalGlobalMem;
  info_.smem_per_block_optin = prop.sharedMemPerBlockOptin;
  MDS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  MDS_CUBLAS_CHECK(cublasLtCreate(&lt_));
  workspace_bytes_ = workspace_bytes;
  if (workspace_bytes_ > 0) MDS_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
  pool_ = std::make_shared<MemoryPool>(device);
}

Context::~Context() {
  cudaSetDevice(info_.device);
  if (stream_) cudaStreamSynchronize(stream_);
  gemm_plans_.clear();
  pool_.reset();
  if (workspace_) cudaFree(workspace_);
  if (lt_) cublasLtDestroy(lt_);
  if (stream_) cudaStreamDestroy(stream_);
}

void Context::upload(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  MDS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
}

void Context::download(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  MDS_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
}

void Context::fill_zero(void* dst, size_t bytes) {
  if (bytes == 0) return;
  MDS_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
}

void Context::synchronize() { MDS_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

// ---- bf16 on the host -----------------------------------------------------------

float bf16_to_float(bf16 v) {
  const uint16_t bits = static_cast<__nv_bfloat16_raw>(v).x;
  uint32_t u = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bf16 float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t bits;
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
    bits = uint16_t((u >> 16) | 0x0040u);  // quiet NaN stays NaN
  } else {
    uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    bits = uint16_t((u + rounding) >> 16);
  }
  __nv_bfloat16_raw raw;
  raw.x = bits;
  return bf16(raw);
}

}  // namespace mds::cuda
