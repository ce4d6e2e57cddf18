// The ModelBinding of lib/model: DiffusionModel on a backend chosen by device
// name. Kept apart from the session so the trainer core needs no model code.
#include "train/default_binding.h"

#include <algorithm>

#include "runtime/factory.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/model.h"

namespace mds::train {

namespace {

class DiffusionBinding final : public ModelBinding {
 public:
  nlohmann::json normalize(const nlohmann::json& model, uint64_t vocab_size) const override {
    const ModelConfig c = model_config_for_vocab(model, static_cast<int64_t>(vocab_size));
    validate_model_config(c);
    return model_config_to_json(c);
  }

  ModelShape shape(const nlohmann::json& normalized) const override {
    const ModelConfig c = model_config_from_json(normalized);
    return {c.diffusion_steps, c.max_src_len, c.max_trg_len};
  }

  void check_device(const std::string& device) const override { (void)make_backend(device, 1); }

  std::unique_ptr<TrainableModel> make(const nlohmann::json& normalized, const std::string& device, int threads,
                                       uint64_t init_seed) const override {
    const ModelConfig c = model_config_from_json(normalized);
    return make_model(c, make_backend(device, threads), init_seed);
  }

  // Sources and targets longer than the model's limits are cut to them (the
  // session warns about how many); the packer itself rejects over-long sides.
  Batch pack(const nlohmann::json& normalized, const Dataset& data, const std::vector<uint64_t>& ids) const override {
    const ModelConfig c = model_config_from_json(normalized);
    std::vector<PairIds> pairs(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const TokenSpan s = data.src(ids[i]), t = data.trg(ids[i]);
      const size_t ns = std::min<size_t>(s.size, static_cast<size_t>(c.max_src_len));
      const size_t nt = std::min<size_t>(t.size, static_cast<size_t>(c.max_trg_len));
      pairs[i].src.assign(s.data, s.data + ns);
      pairs[i].trg.assign(t.data, t.data + nt);
    }
    return pack_batch(pairs, c, ids);
  }
};

}  // namespace

std::unique_ptr<ModelBinding> default_model_binding() { return std::make_unique<DiffusionBinding>(); }

}  // namespace mds::train
