// libFuzzer target: mds-train's configuration: the JSON parser with its
// limits (io/json_text.h), the "model" and "train" objects
// (model/config.h, train/train_config.h) and --set assignments. The input's
// first line is a --set value, the rest the config file. Bad configs must be
// mds::Error (exit 2 in mds-train).
#include <string>

#include "core/error.h"
#include "io/json_text.h"
#include "model/config.h"
#include "train/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  const std::string assignment = nl == std::string::npos ? text : text.substr(0, nl);
  const std::string file = nl == std::string::npos ? std::string() : text.substr(nl + 1);
  nlohmann::json doc;
  mds::JsonParseError e;
  if (!mds::parse_json(file, doc, &e)) {
    (void)e.describe("at the fuzz input");
    doc = nlohmann::json::object();
  }
  if (!doc.is_object()) return 0;
  try {
    mds::train::apply_override(doc, assignment);
  } catch (const mds::Error&) {
  }
  try {
    if (doc.contains("model")) {
      const mds::ModelConfig c = mds::model_config_for_vocab(doc["model"], 300);
      (void)mds::model_config_to_json(c);
    }
  } catch (const mds::Error&) {
  }
  try {
    const mds::train::TrainConfig tc = mds::train::train_config_from_json(
        doc.contains("train") ? doc["train"] : nlohmann::json::object(), "fuzz: train");
    mds::train::validate(tc);
    (void)mds::train::train_config_to_json(tc);
  } catch (const mds::Error&) {
  }
  return 0;
}
