// The model's parameter table: named tensors with their gradients, AdamW
// moments (allocated on the first optimizer step or when loaded) and EMA
// copies, all resident on the backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace mds {

struct Param {
  std::string name;
  std::vector<int64_t> shape;
  Tensor value, grad, ema, adam_m, adam_v;
};

class ParamStore {
 public:
  explicit ParamStore(Backend& backend) : be_(&backend) {}
  // Allocates value and gradient (zero); returns the index.
  int add(const std::string& name, std::vector<int64_t> shape);
  Param& at(int i) { return params_.at(i); }
  const Param& at(int i) const { return params_.at(i); }
  int find(const std::string& name) const;  // -1 when absent
  size_t size() const { return params_.size(); }
  std::vector<Param>& all() { return params_; }
  const std::vector<Param>& all() const { return params_; }
  int64_t count() const;
  // Value or EMA of parameter i.
  const Tensor& weight(int i, bool ema) const { return ema ? params_.at(i).ema : params_.at(i).value; }
  void ensure_adam();

 private:
  Backend* be_;
  std::vector<Param> params_;
};

}  // namespace mds
