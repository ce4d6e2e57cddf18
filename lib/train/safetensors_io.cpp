// Checkpoint <-> safetensors conversion (see safetensors_io.h).
#include "train/safetensors_io.h"

#include <cmath>
#include <cstring>
#include <set>

#include "runtime/factory.h"
#include "backend/tensor.h"
#include "core/bf16.h"
#include "core/error.h"
#include "core/version.h"
#include "io/json_text.h"
#include "model/config.h"
#include "model/network.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/export.h"

namespace mds::train {

namespace {

constexpr const char* kFormatVersion = "1";  // metadata "mds.format": this mapping's version
constexpr const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string base64_encode(const std::vector<uint8_t>& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t b0 = in[i], b1 = i + 1 < in.size() ? in[i + 1] : 0, b2 = i + 2 < in.size() ? in[i + 2] : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kBase64[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kBase64[v & 63] : '=';
  }
  return out;
}

bool base64_decode(const std::string& in, std::vector<uint8_t>* out) {
  if (in.size() % 4) return false;
  out->clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = in[i + j];
      const char* p = c ? std::strchr(kBase64, c) : nullptr;
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (!p || pad) return false;
      v = (v << 6) | static_cast<uint32_t>(p - kBase64);
    }
    out->push_back(static_cast<uint8_t>(v >> 16));
    if (pad < 2) out->push_back(static_cast<uint8_t>(v >> 8));
    if (pad < 1) out->push_back(static_cast<uint8_t>(v));
  }
  return true;
}

// The tokenizer container as JSON: its metadata and sections, byte sections
// as base64, integer sections as lists (readable from Python as they are).
nlohmann::json tokenizer_json(const Container& tok) {
  nlohmann::json sections = nlohmann::json::array();
  for (const Section& s : tok.sections) {
    nlohmann::json j = {{"name", s.name}, {"dtype", dtype_name(s.dtype)}, {"shape", s.shape}};
    if (s.dtype == DType::u8)
      j["base64"] = base64_encode(s.data);
    else if (s.dtype == DType::u32)
      j["values"] = s.to_vector<uint32_t>();
    else if (s.dtype == DType::u64)
      j["values"] = s.to_vector<uint64_t>();
    else
      throw_runtime("safetensors export: tokenizer section '{}' has dtype {}, which the export does not map", s.name,
                    dtype_name(s.dtype));
    sections.push_back(std::move(j));
  }
  return {{"kind", tok.kind}, {"meta", tok.meta}, {"sections", std::move(sections)}};
}

Container tokenizer_from_json(const nlohmann::json& j, const std::string& src) {
  const std::string where = src + ": metadata \"mds.tokenizer\"";
  if (!j.is_object() || !j.contains("meta") || !j["meta"].is_object() || !j.contains("sections") ||
      !j["sections"].is_array())
    throw_bad_input("{}: expected an object with \"meta\" and \"sections\"", where);
  Container c;
  c.kind = "tokenizer";
  c.meta = j["meta"];
  c.source = where;
  for (const auto& s : j["sections"]) {
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() || !s.contains("dtype") ||
        !s["dtype"].is_string() || !s.contains("shape") || !s["shape"].is_array())
      throw_bad_input("{}: expected each section to have \"name\", \"dtype\" and \"shape\", found {}", where,
                      s.dump().substr(0, 80));
    const std::string name = s["name"].get<std::string>(), dt = s["dtype"].get<std::string>();
    std::vector<int64_t> shape;
    for (const auto& d : s["shape"]) {
      if (!d.is_number_unsigned()) throw_bad_input("{}: section '{}': shape {} is not a list of integers", where, name,
                                                   s["shape"].dump());
      shape.push_back(d.get<int64_t>());
    }
    Section sec;
    if (dt == "u8") {
      std::vector<uint8_t> bytes;
      if (!s.contains("base64") || !s["base64"].is_string() || !base64_decode(s["base64"].get<std::string>(), &bytes))
        throw_bad_input("{}: section '{}': expected its bytes as \"base64\" text", where, name);
      sec = Section::from<uint8_t>(name, bytes, shape);
    } else if (dt == "u32" || dt == "u64") {
      if (!s.contains("values") || !s["values"].is_array())
        throw_bad_input("{}: section '{}': expected its \"values\" as a list of integers", where, name);
      std::vector<uint64_t> v;
      for (const auto& x : s["values"]) {
        if (!x.is_number_unsigned() || (dt == "u32" && x.get<uint64_t>() > 0xffffffffull))
          throw_bad_input("{}: section '{}': expected {} values, found {}", where, name, dt, x.dump().substr(0, 40));
        v.push_back(x.get<uint64_t>());
      }
      if (dt == "u64") {
        sec = Section::from<uint64_t>(name, v, shape);
      } else {
        std::vector<uint32_t> w(v.begin(), v.end());
        sec = Section::from<uint32_t>(name, w, shape);
      }
    } else {
      throw_bad_input("{}: section '{}': dtype \"{}\" is not one of u8, u32, u64", where, name, dt);
    }
    int64_t n = 1;
    for (int64_t d : sec.shape) n *= d;
    if (n != sec.element_count())
      throw_bad_input("{}: section '{}': {} values do not fill shape {}", where, name, sec.element_count(),
                      shape_string(sec.shape));
    c.sections.push_back(std::move(sec));
  }
  return c;
}

// A weight section (f32 or bf16) converted to the requested type.
SafeTensor convert(const Section& s, const std::string& name, DType to, const std::string& src) {
  if (s.dtype != DType::f32 && s.dtype != DType::bf16)
    throw_bad_input("{}: section '{}' has dtype {}, expected f32 or bf16", src, s.name, dtype_name(s.dtype));
  SafeTensor t;
  t.name = name;
  t.dtype = to;
  t.shape = s.shape;
  if (s.dtype == to) {
    t.data = s.data;
    return t;
  }
  const size_t n = static_cast<size_t>(s.element_count());
  t.data.resize(n * dtype_size(to));
  for (size_t i = 0; i < n; ++i) {
    if (to == DType::bf16) {  // f32 -> bf16, rounded to nearest even
      float f;
      std::memcpy(&f, s.data.data() + 4 * i, 4);
      const uint16_t h = float_to_bf16(f);
      std::memcpy(t.data.data() + 2 * i, &h, 2);
    } else {  // bf16 -> f32, exact
      uint16_t h;
      std::memcpy(&h, s.data.data() + 2 * i, 2);
      const float f = bf16_to_float(h);
      std::memcpy(t.data.data() + 4 * i, &f, 4);
    }
  }
  return t;
}

nlohmann::json parse_metadata_json(const SafeTensorsFile& f, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end())
    throw_bad_input("{}: no metadata \"{}\": only safetensors written by mds-inspect --export-safetensors (or "
                    "carrying its metadata) can be imported",
                    f.source, key);
  nlohmann::json j;
  JsonParseError e;
  if (!parse_json(it->second, j, &e))
    throw_bad_input("{}: metadata \"{}\": {}", f.source, key, e.describe(fmt::format("at byte {}", e.byte)));
  return j;
}

// Widens a weight tensor to f32 for the finiteness check.
void check_finite_tensor(const SafeTensor& t, const std::string& src) {
  const size_t n = t.data.size() / dtype_size(t.dtype);
  for (size_t i = 0; i < n; ++i) {
    float f;
    if (t.dtype == DType::f32) {
      std::memcpy(&f, t.data.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      f = bf16_to_float(h);
    }
    if (!std::isfinite(f))
      throw_bad_input("{}: tensor \"{}\" holds {} at element {}: mds refuses non-finite weights", src, t.name,
                      std::isnan(f) ? "NaN" : "an infinity", i);
  }
}

}  // namespace

SafeTensorsFile checkpoint_to_safetensors(const Container& ck, const SafetensorsExportOptions& opt) {
  const std::string src = ck.source.empty() ? "checkpoint" : ck.source;
  if (opt.weight_dtype != DType::bf16 && opt.weight_dtype != DType::f32)
    throw_usage("export: weights can be stored as bf16 or f32, not {}", dtype_name(opt.weight_dtype));
  if (ck.kind != kCheckpointKind) throw_bad_input("{}: expected a checkpoint, found a {} file", src, ck.kind);
  if (!ck.meta.contains("config") || !ck.meta["config"].is_object() || !ck.meta["config"].contains("model"))
    throw_bad_input("{}: the checkpoint has no \"config\".\"model\" object", src);
  const bool sampling = ck.meta.contains(kExportMetaKey) && ck.meta[kExportMetaKey].is_object();
  if (sampling && opt.ema)
    throw_bad_input("{}: a sampling checkpoint holds only the EMA weights, which are exported as the weights; drop "
                    "--export-ema", src);
  const Tokenizer tok = Tokenizer::from_embedded(ck);

  SafeTensorsFile f;
  std::vector<SafeTensor> ema;
  for (const Section& s : ck.sections) {
    if (!starts_with(s.name, "param/")) continue;
    const std::string name = s.name.substr(std::strlen("param/"));
    f.tensors.push_back(convert(s, name, opt.weight_dtype, src));
    if (opt.ema) {
      const Section* e = ck.find("ema/" + name);
      if (!e) throw_bad_input("{}: section 'param/{}' has no EMA twin 'ema/{}' to export", src, name, name);
      if (e->shape != s.shape)
        throw_bad_input("{}: section 'ema/{}' has shape {}, its weight {}", src, name, shape_string(e->shape),
                        shape_string(s.shape));
      ema.push_back(convert(*e, kSafetensorsEmaPrefix + name, opt.weight_dtype, src));
    }
  }
  if (f.tensors.empty()) throw_bad_input("{}: no 'param/' sections: nothing to export", src);
  for (SafeTensor& t : ema) f.tensors.push_back(std::move(t));

  nlohmann::json from = nlohmann::json::object();
  if (ck.meta.contains("trainer") && ck.meta["trainer"].is_object()) {
    const auto& t = ck.meta["trainer"];
    from = {{"step", t.value("step", nlohmann::json())}, {"seed", t.value("seed", nlohmann::json())}};
  } else if (sampling) {
    from = ck.meta[kExportMetaKey].value("from", nlohmann::json::object());
  }
  f.metadata["format"] = "pt";  // what Hugging Face loaders expect of a PyTorch-layout file
  f.metadata["mds.format"] = kFormatVersion;
  f.metadata["mds.version"] = MDS_VERSION;
  f.metadata["mds.weights"] = sampling ? "ema" : "weights";
  f.metadata["mds.ema"] = opt.ema ? kSafetensorsEmaPrefix : "";
  f.metadata["mds.config"] = ck.meta["config"].dump();
  f.metadata["mds.tokenizer"] = tokenizer_json(tok.to_container()).dump();
  f.metadata["mds.from"] = from.dump();
  if (ck.meta.contains("provenance")) f.metadata["mds.provenance"] = ck.meta["provenance"].dump();
  if (!opt.about.is_null() && !opt.about.empty()) f.metadata["mds.about"] = opt.about.dump();
  return f;
}

Container safetensors_to_checkpoint(const SafeTensorsFile& f) {
  const std::string& src = f.source.empty() ? std::string("safetensors") : f.source;
  auto fmt_it = f.metadata.find("mds.format");
  if (fmt_it != f.metadata.end() && fmt_it->second != kFormatVersion)
    throw_bad_input("{}: metadata \"mds.format\" is \"{}\", this build reads \"{}\"; upgrade mds", src,
                    fmt_it->second, kFormatVersion);
  const nlohmann::json config = parse_metadata_json(f, "mds.config");
  if (!config.is_object() || !config.contains("model") || !config["model"].is_object())
    throw_bad_input("{}: metadata \"mds.config\" has no \"model\" object", src);
  ModelConfig mc;
  try {
    mc = model_config_from_json(config["model"]);
  } catch (const Error& e) {
    if (e.code() != ExitCode::usage) throw;
    throw_bad_input("{}: metadata \"mds.config\": the model config is invalid: {}", src, e.what());
  }
  const Tokenizer tok = Tokenizer::from_container(tokenizer_from_json(parse_metadata_json(f, "mds.tokenizer"), src));
  if (mc.vocab_size != static_cast<int64_t>(tok.vocab_size()))
    throw_bad_input("{}: the model config has {} vocabulary entries but the tokenizer {}", src, mc.vocab_size,
                    tok.vocab_size());

  // The parameter names and shapes come from the same code that builds the
  // model, so the check cannot drift from what load_state expects.
  auto backend = make_backend("cpu", 1);
  ParamStore store(*backend);
  build_parameters(store, mc);

  bool has_ema = false;
  for (const SafeTensor& t : f.tensors) has_ema = has_ema || starts_with(t.name, kSafetensorsEmaPrefix);
  std::set<std::string> expected;
  for (const Param& p : store.all()) {
    expected.insert(p.name);
    if (has_ema) expected.insert(kSafetensorsEmaPrefix + p.name);
  }
  for (const SafeTensor& t : f.tensors)
    if (!expected.count(t.name))
      throw_bad_input("{}: tensor \"{}\" is not a parameter of the model its metadata configures{}", src, t.name,
                      starts_with(t.name, kSafetensorsEmaPrefix) ? "" : " (see docs/model.md for the names)");

  Container c;
  c.kind = kCheckpointKind;
  c.source = src;
  c.meta["config"] = config;
  int64_t parameters = 0;
  DType dtype = DType::f32;
  for (const Param& p : store.all()) {
    for (int twin = 0; twin < (has_ema ? 2 : 1); ++twin) {
      const std::string name = twin ? kSafetensorsEmaPrefix + p.name : p.name;
      const SafeTensor* t = f.find(name);
      if (!t)
        throw_bad_input("{}: tensor \"{}\" is missing{}", src, name,
                        twin ? " (the file holds EMA tensors, so every weight needs one)" : "");
      if (t->dtype != DType::f32 && t->dtype != DType::bf16)
        throw_bad_input("{}: tensor \"{}\" is {}, expected F32 or BF16 (convert it first, e.g. tensor.float())", src,
                        name, safetensors_dtype_name(t->dtype));
      if (t->shape != p.shape)
        throw_bad_input("{}: tensor \"{}\" has shape {}, the model its metadata configures expects {}", src, name,
                        shape_string(t->shape), shape_string(p.shape));
      check_finite_tensor(*t, src);
      Section s;
      s.name = (twin ? "ema/" : "param/") + p.name;
      s.dtype = t->dtype;
      s.shape = t->shape;
      s.data = t->data;
      c.sections.push_back(std::move(s));
      if (!twin) parameters += p.value.numel();
      dtype = t->dtype;
    }
  }
  nlohmann::json from = nlohmann::json::object();
  if (f.metadata.count("mds.from")) {
    from = parse_metadata_json(f, "mds.from");
    if (!from.is_object()) from = nlohmann::json::object();
  }
  from["safetensors"] = src;
  if (!has_ema) {
    // The imported weights are the ones to sample with: recorded as a
    // sampling checkpoint, which the model loader takes without EMA sections.
    c.meta[kExportMetaKey] = {{"weights", "ema"},        {"dtype", dtype_name(dtype)},
                              {"tensors", store.size()}, {"parameters", parameters},
                              {"from", from},            {"about", nlohmann::json::object()}};
  } else {
    c.meta["imported"] = {{"from", from}, {"tensors", store.size()}, {"parameters", parameters}};
  }
  if (f.metadata.count("mds.provenance")) c.meta["provenance"] = parse_metadata_json(f, "mds.provenance");
  tok.add_to(c, "tokenizer/");
  return c;
}

nlohmann::json export_safetensors_file(const std::string& in, const std::string& out,
                                       const SafetensorsExportOptions& opt) {
  const Container ck = read_checkpoint(in);
  const SafeTensorsFile f = checkpoint_to_safetensors(ck, opt);
  int64_t parameters = 0, weights = 0;
  for (const SafeTensor& t : f.tensors)
    if (!starts_with(t.name, kSafetensorsEmaPrefix)) {
      ++weights;
      parameters += static_cast<int64_t>(t.data.size() / dtype_size(t.dtype));
    }
  write_safetensors(out, f);
  return {{"tensors", f.tensors.size()}, {"parameters", parameters}, {"weights", f.metadata.at("mds.weights")},
          {"ema", opt.ema}, {"weight_tensors", weights}};
}

nlohmann::json import_safetensors_file(const std::string& in, const std::string& out) {
  const Container c = safetensors_to_checkpoint(read_safetensors(in));
  write_checkpoint(out, c);
  const bool ema = !c.meta.contains(kExportMetaKey);
  const nlohmann::json& info = ema ? c.meta["imported"] : c.meta[kExportMetaKey];
  return {{"tensors", info["tensors"]}, {"parameters", info["parameters"]}, {"ema", ema}};
}

}  // namespace mds::train
