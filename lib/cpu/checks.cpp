// Argument checks shared by the CPU operations: a mismatch is a programming
// error in the caller, reported as a runtime error naming the operation.
#include "core/error.h"
#include "cpu/ops.h"

namespace mds {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace cpu {

void check_defined(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) throw_runtime("{}: tensor '{}' is undefined", op, what);
}

void check_numel(const Tensor& t, int64_t n, const char* op, const char* what) {
  check_defined(t, op, what);
  if (t.numel() != n)
    throw_runtime("{}: tensor '{}' has shape {} ({} elements), expected {} elements", op, what,
                  shape_string(t.shape()), t.numel(), n);
}

void check_type(const Tensor& t, ElemType type, const char* op, const char* what) {
  check_defined(t, op, what);
  if (t.type() != type)
    throw_runtime("{}: tensor '{}' has element type {}, expected {}", op, what, static_cast<int>(t.type()),
                  static_cast<int>(type));
}

}  // namespace cpu
}  // namespace mds
