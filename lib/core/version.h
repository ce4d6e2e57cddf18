// Version report shared by every binary's --version: mds version plus the
// CUDA runtime, driver and cuBLAS versions when built with CUDA.
#pragma once

#include <string>

namespace mds {

// e.g. "mds-train 0.1.0 (CPU backend; OpenBLAS)" or with CUDA details.
std::string version_report(const std::string& program);

}  // namespace mds
