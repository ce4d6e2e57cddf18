// Backend selection by device name, for the binaries and the trainer binding.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace mds {

// "cpu" (f32) and "cpu-f64" (gradient checks) are always available; "cuda"
// only in builds with the CUDA backend. Unknown or unavailable devices are
// usage errors listing the available ones. threads >= 1 (CPU worker pool).
std::shared_ptr<Backend> make_backend(const std::string& device, int threads);
std::vector<std::string> available_backends();

}  // namespace mds
