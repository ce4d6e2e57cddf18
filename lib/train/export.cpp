// Training checkpoint -> sampling checkpoint (see export.h).
#include "train/export.h"

#include <cstring>

#include "core/bf16.h"
#include "backend/tensor.h"
#include "core/error.h"
#include "io/json_text.h"
#include "io/stream.h"
#include "train/checkpoint.h"

namespace mds::train {

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The EMA weights as a "param/" section of the requested type.
Section convert_weights(const Section& ema, const std::string& name, DType dtype) {
  const std::vector<float> values = ema.to_vector<float>();
  if (dtype == DType::f32) return Section::from<float>(name, values, ema.shape);
  Section s;
  s.name = name;
  s.dtype = DType::bf16;
  s.shape = ema.shape;
  s.data.resize(values.size() * sizeof(uint16_t));
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = float_to_bf16(values[i]);
    std::memcpy(s.data.data() + i * sizeof h, &h, sizeof h);
  }
  return s;
}

}  // namespace

Container export_sampling_checkpoint(const Container& ck, const ExportOptions& opt) {
  const std::string src = ck.source.empty() ? "checkpoint" : ck.source;
  if (opt.weight_dtype != DType::bf16 && opt.weight_dtype != DType::f32)
    throw_usage("export: weights can be stored as bf16 or f32, not {}", dtype_name(opt.weight_dtype));
  if (ck.kind != "checkpoint") throw_bad_input("{}: expected a checkpoint, found a {} file", src, ck.kind);
  if (ck.meta.contains(kExportMetaKey))
    throw_bad_input("{}: already a sampling checkpoint (exported weights only); export from the training checkpoint",
                    src);
  if (!ck.meta.contains("trainer") || !ck.meta["trainer"].is_object())
    throw_bad_input("{}: not a training checkpoint (no \"trainer\" metadata)", src);
  if (!ck.meta.contains("config") || !ck.meta["config"].is_object())
    throw_bad_input("{}: the checkpoint has no \"config\" object", src);

  Container out;
  out.kind = ck.kind;
  out.meta = ck.meta;
  const nlohmann::json& t = ck.meta["trainer"];
  out.meta.erase("trainer");
  int64_t weights = 0, parameters = 0;
  for (const Section& s : ck.sections) {
    if (starts_with(s.name, "param/")) {
      const std::string name = s.name.substr(std::strlen("param/"));
      const Section* ema = ck.find("ema/" + name);
      if (!ema)
        throw_bad_input("{}: section 'param/{}' has no EMA twin 'ema/{}': the exported weights are the EMA ones",
                        src, name, name);
      if (ema->dtype != DType::f32 || ema->shape != s.shape)
        throw_bad_input("{}: section 'ema/{}' is {} {}, expected f32 {}", src, name, dtype_name(ema->dtype),
                        shape_string(ema->shape), shape_string(s.shape));
      out.sections.push_back(convert_weights(*ema, s.name, opt.weight_dtype));
      ++weights;
      parameters += ema->element_count();
    } else if (starts_with(s.name, "ema/") || starts_with(s.name, "adam_m/") || starts_with(s.name, "adam_v/") ||
               starts_with(s.name, "sampler/")) {
      continue;  // training state: not needed to sample
    } else {
      out.sections.push_back(s);  // the embedded tokenizer and anything else the sampler may read
    }
  }
  if (weights == 0) throw_bad_input("{}: no 'param/' sections: nothing to export", src);
  out.meta[kExportMetaKey] = {{"weights", "ema"},
                              {"dtype", dtype_name(opt.weight_dtype)},
                              {"tensors", weights},
                              {"parameters", parameters},
                              {"from", {{"step", t.value("step", nlohmann::json())},
                                        {"seed", t.value("seed", nlohmann::json())},
                                        {"examples_seen", t.value("examples_seen", nlohmann::json())},
                                        {"tokens_seen", t.value("tokens_seen", nlohmann::json())}}},
                              {"about", opt.about.is_null() ? nlohmann::json::object() : opt.about}};
  return out;
}

nlohmann::json read_json_object(const std::string& path) {
  const std::vector<uint8_t> bytes = read_all_bytes(path);
  nlohmann::json doc;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  JsonParseError e;
  if (!parse_json(text, doc, &e)) {
    if (e.kind != JsonParseError::Kind::syntax)  // too deep, or a number beyond a double
      throw_bad_input("{}: {}", path, e.describe("at " + line_and_column(text, e.byte)));
    throw_bad_input("{}: invalid JSON at byte {}: expected a JSON object", path, e.byte);
  }
  if (!doc.is_object()) throw_bad_input("{}: expected a JSON object, found {}", path, doc.type_name());
  return doc;
}

nlohmann::json export_sampling_file(const std::string& in, const std::string& out, const ExportOptions& opt) {
  const Container ck = read_checkpoint(in);
  const Container exported = export_sampling_checkpoint(ck, opt);
  check_finite(exported);
  write_container(out, exported, /*zstd_level=*/19);
  return exported.meta[kExportMetaKey];
}

}  // namespace mds::train
