// Checkpoint -> (ModelDenoiser, tokenizer codec, identity).
#include "sample/checkpoint_loader.h"

#include "runtime/factory.h"
#include "core/error.h"
#include "model/config.h"
#include "model/model.h"
#include "sample/model_denoiser.h"
#include "sample/tokenizer_codec.h"

namespace mds {

LoadedModel load_sampling_model(const ModelLoadOptions& opt) {
  if (opt.path.empty()) throw_usage("--model is required: the checkpoint to sample from");
  const Container ck = read_container(opt.path, "checkpoint");
  const nlohmann::json& meta = ck.meta;
  if (!meta.contains("config") || !meta["config"].is_object() || !meta["config"].contains("model"))
    throw_bad_input("{}: the checkpoint has no \"config\".\"model\" object (was it written by mds-train?)", opt.path);
  LoadedModel out;
  std::string tok_hash;
  size_t vocab = 0;
  out.codec = embedded_tokenizer_codec(ck, &tok_hash, &vocab);
  ModelConfig config;
  try {
    config = model_config_from_json(meta["config"]["model"]);
  } catch (const Error& e) {
    // The config travels inside the checkpoint: a bad one is bad input data.
    if (e.code() != ExitCode::usage) throw;
    throw_bad_input("{}: the checkpoint's model config is invalid: {}", opt.path, e.what());
  }
  if (config.vocab_size != static_cast<int64_t>(vocab))
    throw_bad_input("{}: the model has {} vocabulary entries but its tokenizer {}", opt.path, config.vocab_size, vocab);
  auto model = make_model(config, make_backend(opt.device, opt.threads), /*seed=*/0);
  model->load_state(ck);
  out.denoiser = std::make_unique<ModelDenoiser>(std::move(model));
  out.identity = {{"path", opt.path},
                  {"model", meta["config"]["model"]},
                  {"tokenizer_hash", tok_hash}};
  if (meta.contains("trainer") && meta["trainer"].is_object()) {
    const auto& t = meta["trainer"];
    out.identity["step"] = t.value("step", nlohmann::json());
    out.identity["seed"] = t.value("seed", nlohmann::json());
  }
  if (meta.contains("export") && meta["export"].is_object()) {
    const auto& e = meta["export"];
    const auto from = e.value("from", nlohmann::json::object());
    out.identity["step"] = from.value("step", nlohmann::json());
    out.identity["seed"] = from.value("seed", nlohmann::json());
    out.identity["weights"] = e.value("dtype", std::string()) + " EMA weights (sampling checkpoint)";
  }
  if (meta.contains("provenance")) out.identity["provenance"] = meta["provenance"];
  return out;
}

}  // namespace mds
