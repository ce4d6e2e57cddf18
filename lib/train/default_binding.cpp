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

// The model config, parsed once: every batch is packed from the typed struct.
class DiffusionModelConfig final : public BoundModel {
 public:
  explicit DiffusionModelConfig(ModelConfig c) : c_(std::move(c)) {}

  nlohmann::json config() const override { return model_config_to_json(c_); }
  ModelShape shape() const override { return {c_.diffusion_steps, c_.max_src_len, c_.max_trg_len}; }

  std::unique_ptr<TrainableModel> make(const std::string& device, int threads, uint64_t init_seed) const override {
    return make_model(c_, make_backend(device, threads), init_seed);
  }

  // Sources and targets longer than the model's limits are cut to them (the
  // session warns about how many); the packer itself rejects over-long sides.
  Batch pack(const Dataset& data, const std::vector<uint64_t>& ids) const override {
    std::vector<PairIds> pairs(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      const TokenSpan s = data.src(ids[i]), t = data.trg(ids[i]);
      const size_t ns = std::min<size_t>(s.size, static_cast<size_t>(c_.max_src_len));
      const size_t nt = std::min<size_t>(t.size, static_cast<size_t>(c_.max_trg_len));
      pairs[i].src.assign(s.data, s.data + ns);
      pairs[i].trg.assign(t.data, t.data + nt);
    }
    return pack_batch(pairs, c_, ids);
  }

 private:
  ModelConfig c_;
};

class DiffusionBinding final : public ModelBinding {
 public:
  std::unique_ptr<BoundModel> bind(const nlohmann::json& model, uint64_t vocab_size,
                                   const std::string& where) const override {
    return std::make_unique<DiffusionModelConfig>(
        model_config_for_vocab(model, static_cast<int64_t>(vocab_size), where));
  }

  void check_device(const std::string& device) const override { (void)make_backend(device, 1); }
};

}  // namespace

std::unique_ptr<ModelBinding> default_model_binding() { return std::make_unique<DiffusionBinding>(); }

}  // namespace mds::train
