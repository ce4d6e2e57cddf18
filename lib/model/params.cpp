// Parameter table bookkeeping.
#include "model/params.h"

#include "core/error.h"

namespace mds {

int ParamStore::add(const std::string& name, std::vector<int64_t> shape) {
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

}  // namespace mds
