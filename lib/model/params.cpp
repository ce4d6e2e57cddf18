// Parameter table bookkeeping.
#include "model/params.h"

#include <algorithm>

#include "core/error.h"

namespace mds {

int ParamStore::add(const std::string& name, std::vector<int64_t> shape) {
  if (flat()) throw_runtime("parameter '{}' added after the store was flattened", name);
  if (find(name) >= 0) throw_runtime("parameter '{}' defined twice", name);
  Param p;
  p.name = name;
  p.shape = shape;
  p.value = be_->alloc(shape);
  p.grad = be_->alloc(shape);
  params_.push_back(std::move(p));
  return static_cast<int>(params_.size()) - 1;
}

int ParamStore::find(const std::string& name) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].name == name) return static_cast<int>(i);
  return -1;
}

int64_t ParamStore::count() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.value.numel();
  return n;
}

void ParamStore::ensure_adam() {
  for (auto& p : params_) {
    if (!p.adam_m.defined()) p.adam_m = be_->alloc(p.shape);
    if (!p.adam_v.defined()) p.adam_v = be_->alloc(p.shape);
  }
}

void ParamStore::flatten(int64_t align, int64_t pad_to) {
  if (align < 1 || pad_to < 1) throw_runtime("ParamStore::flatten: align {} and pad_to {} must be >= 1", align, pad_to);
  std::vector<int64_t> offsets;
  int64_t total = 0;
  for (const auto& p : params_) {
    total = (total + align - 1) / align * align;
    offsets.push_back(total);
    total += p.value.numel();
  }
  total = std::max<int64_t>((total + pad_to - 1) / pad_to * pad_to, pad_to);
  Tensor values = be_->alloc({total}), grads = be_->alloc({total});
  const int64_t rb = be_->real_bytes();
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = params_[i];
    Tensor v = values.view(offsets[i] * rb, p.shape, ElemType::real);
    be_->copy(p.value, v);
    p.value = v;
    p.grad = grads.view(offsets[i] * rb, p.shape, ElemType::real);
  }
  offsets_ = std::move(offsets);
  flat_values_ = values;
  flat_grads_ = grads;
}

Tensor ParamStore::flat_range(const Tensor& arena, int64_t begin, int64_t n) const {
  if (begin < 0 || n < 0 || begin + n > arena.numel())
    throw_runtime("ParamStore::flat_range: [{}, {}) outside an arena of {}", begin, begin + n, arena.numel());
  return arena.view(begin * be_->real_bytes(), {n}, ElemType::real);
}

}  // namespace mds
