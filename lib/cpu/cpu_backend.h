// The CPU backend: Backend implemented by the templated operations of
// lib/cpu, in float (normal use) or double (finite-difference checks).
#pragma once

#include <memory>

#include "backend/backend.h"

namespace mds {

enum class CpuPrecision { f32, f64 };

// threads >= 1: size of the backend's own worker pool.
std::unique_ptr<Backend> make_cpu_backend(int threads, CpuPrecision precision = CpuPrecision::f32);

}  // namespace mds
