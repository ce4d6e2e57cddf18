// Factory of the CUDA implementation of mds::Backend (kernels/cuda_backend.cpp).
// Declared without CUDA headers so lib/backend/factory.cpp can include it in
// builds that define MDS_HAVE_CUDA.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace mds {

// bf16: dense and expert GEMMs on bf16 tensor cores, fp32 accumulation ("cuda");
// f32: plain fp32 GEMMs ("cuda-f32"). See kernels/cuda_backend.cpp.
enum class CudaPrecision { bf16, f32 };

// Whether a CUDA device can be used (no exception; for choosing a default).
bool cuda_device_available();

// Throws mds::Error (runtime) "no CUDA device found: ..." when no GPU is usable.
// The stream and device of a CUDA backend, for work that must be ordered
// with its operations (the NCCL communicator); {nullptr, -1} for any other
// backend. The stream is a cudaStream_t.
struct CudaQueue {
  void* stream = nullptr;
  int device = -1;
};
CudaQueue cuda_backend_queue(Backend& backend);

std::unique_ptr<Backend> make_cuda_backend(int device = 0, CudaPrecision precision = CudaPrecision::bf16);

}  // namespace mds
