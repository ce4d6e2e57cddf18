// Tensor: a shaped handle to an array owned by a backend (host memory for the
// CPU backend, device memory for CUDA). The model only moves handles around;
// element access happens inside backend operations or through explicit
// upload/download calls, so the same model code runs on either backend.
#pragma once

#include <cstdint>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mds {

// Element types. `real` is the backend's compute scalar (f32 on CPU and CUDA,
// f64 for the CPU backend used by the finite-difference gradient checks).
enum class ElemType : uint8_t { real = 0, i32 = 1, u8 = 2, u64 = 3 };

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<void> owner, void* data, std::vector<int64_t> shape, ElemType type)
      : owner_(std::move(owner)), data_(data), shape_(std::move(shape)), type_(type), defined_(true) {
    numel_ = 1;
    for (int64_t s : shape_) numel_ *= s;
  }

  bool defined() const { return defined_; }
  int64_t numel() const { return numel_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  // Trailing dimension and the product of the others: the [rows, cols] view every
  // row-wise operation uses.
  int64_t cols() const { return shape_.empty() ? 1 : shape_.back(); }
  int64_t rows() const { return cols() == 0 ? 0 : numel_ / cols(); }
  ElemType type() const { return type_; }
  void* data() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  // Same storage, new shape; throws std::invalid_argument if the element count differs.
  Tensor reshaped(std::vector<int64_t> shape) const {
    Tensor t(owner_, data_, std::move(shape), type_);
    if (t.numel_ != numel_) throw std::invalid_argument("Tensor::reshaped: element count changes");
    return t;
  }
  // `shape` elements starting `byte_offset` bytes into this tensor's storage,
  // sharing its ownership: a parameter inside a flat arena (lib/model/params.h).
  // The caller keeps the view inside the storage (element sizes of `real`
  // belong to the backend, so the Tensor cannot check the end).
  Tensor view(int64_t byte_offset, std::vector<int64_t> shape, ElemType type) const {
    if (byte_offset < 0) throw std::invalid_argument("Tensor::view: negative offset");
    return Tensor(owner_, static_cast<char*>(data_) + byte_offset, std::move(shape), type);
  }
  // The first n elements as a 1-D tensor on the same storage (a backend that
  // allocates for an upper bound hands out the used part).
  Tensor prefix(int64_t n) const {
    if (n < 0 || n > numel_) throw std::invalid_argument("Tensor::prefix: length outside the tensor");
    return Tensor(owner_, data_, {n}, type_);
  }

 private:
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
  std::vector<int64_t> shape_;
  ElemType type_ = ElemType::real;
  int64_t numel_ = 0;
  bool defined_ = false;
};

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace mds
