// Factory of the CUDA implementation of mds::Backend (kernels/cuda_backend.cpp).
// Declared without CUDA headers so lib/backend/factory.cpp can include it in
// builds that define MDS_HAVE_CUDA.
#pragma once

#include <memory>

#include "backend/backend.h"

namespace mds {

// Throws mds::Error (runtime) "no CUDA device found: ..." when no GPU is usable.
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace mds
