// Backend selection by device name, for the binaries and the trainer binding:
// the composition root that knows every backend (lib/cpu, kernels/), so the
// interface in lib/backend depends on none of them (docs/design.md, "Layers").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "dist/communicator.h"
#include "dist/launch.h"

namespace mds {

// "cpu" (f32) and "cpu-f64" (gradient checks) are always available; "cuda"
// (bf16 tensor-core products) and "cuda-f32" (fp32 products) only in builds
// with the CUDA backend; "auto" is resolve_device's choice. Unknown or
// unavailable devices are usage errors listing the available ones.
// threads >= 1 (CPU worker pool).
// "cuda:N" / "cuda-f32:N" pick GPU N (default 0; a data-parallel rank uses
// its local rank).
std::shared_ptr<Backend> make_backend(const std::string& device, int threads);
std::vector<std::string> available_backends();
// "auto" becomes "cuda" when this build has the CUDA backend and a GPU is
// usable, else "cpu"; any other name is returned unchanged.
std::string resolve_device(const std::string& device);

// The communicator of this process in a multi-process job (env.distributed()):
// NCCL on the CUDA backend, its unique id made by rank 0 and handed out by
// the TCP rendezvous at MASTER_ADDR:MASTER_PORT. Usage errors for a CPU
// backend (one process trains with --threads) and for a build without NCCL.
std::unique_ptr<dist::Communicator> make_process_communicator(Backend& backend, const dist::LaunchEnv& env,
                                                              double timeout_s);

}  // namespace mds
