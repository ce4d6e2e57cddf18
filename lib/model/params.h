// The model's parameter table: named tensors with their gradients, AdamW
// moments (allocated on the first optimizer step or when loaded) and EMA
// copies, all resident on the backend. For data parallelism the values and
// gradients can be moved into one flat arena each (flatten), so collectives
// treat all parameters as one vector (docs/distributed.md).
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

  // Moves every value and gradient into one arena each, in parameter order,
  // each parameter starting at a multiple of `align` elements and the total
  // padded to a multiple of `pad_to` (padding is zero and stays zero). The
  // values are copied; the gradients are zero afterwards. Param::value and
  // Param::grad become views of the arenas; call before anything else holds
  // them. May be called again (e.g. for another pad_to).
  void flatten(int64_t align, int64_t pad_to);
  bool flat() const { return flat_values_.defined(); }
  // Element offset of parameter i in the arenas (flatten first).
  int64_t flat_offset(int i) const { return offsets_.at(i); }
  int64_t flat_size() const { return flat_values_.defined() ? flat_values_.numel() : 0; }
  Tensor& flat_values() { return flat_values_; }
  Tensor& flat_grads() { return flat_grads_; }
  // Elements [begin, begin + n) of an arena as a 1-D tensor.
  Tensor flat_range(const Tensor& arena, int64_t begin, int64_t n) const;

 private:
  Backend* be_;
  std::vector<Param> params_;
  std::vector<int64_t> offsets_;
  Tensor flat_values_, flat_grads_;
};

}  // namespace mds
