// What a training session needs from the model library, as one interface:
// the trainer core stays independent of a particular model (tests bind a
// small analytic model; mds-train binds lib/model through
// default_model_binding()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/trainable.h"
#include "train/dataset.h"

namespace mds::train {

// The model facts the trainer uses for timestep sampling and bucketing.
struct ModelShape {
  int num_timesteps = 2000;
  int64_t max_src_len = 0;
  int64_t max_trg_len = 0;
};

// A "model" config object parsed and validated once, for the whole run: the
// trainer packs every batch and builds the model from it without reading
// JSON again.
class BoundModel {
 public:
  virtual ~BoundModel() = default;
  // The config complete (every default filled in): what a checkpoint records.
  virtual nlohmann::json config() const = 0;
  virtual ModelShape shape() const = 0;
  // A freshly initialised model (init_seed drives the initial weights).
  virtual std::unique_ptr<TrainableModel> make(const std::string& device, int threads, uint64_t init_seed) const = 0;
  // The packed batch of these examples (lib/model/trainable.h layout).
  virtual Batch pack(const Dataset& data, const std::vector<uint64_t>& ids) const = 0;
};

class ModelBinding {
 public:
  virtual ~ModelBinding() = default;
  // Parses and validates a "model" config object for a tokenizer of
  // vocab_size ids. Usage errors start with `where` and name the field.
  virtual std::unique_ptr<BoundModel> bind(const nlohmann::json& model, uint64_t vocab_size,
                                           const std::string& where) const = 0;
  // Throws a usage error if models cannot be built on `device` ("cpu", "cuda").
  virtual void check_device(const std::string& device) const = 0;
};

}  // namespace mds::train
