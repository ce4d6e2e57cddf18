// Checkpoint writing/reading and container embedding (see checkpoint.h).
#include "train/checkpoint.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace mds::train {

namespace {
template <typename T>
void check_values(const Section& s) {
  const size_t n = s.data.size() / sizeof(T);
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, s.data.data() + i * sizeof(T), sizeof(T));
    if (!std::isfinite(v))
      throw_runtime("refusing to write a checkpoint: section \"{}\" holds {} at element {}", s.name,
                    std::isnan(v) ? "NaN" : "an infinity", i);
  }
}
// bf16: the exponent bits all set means an infinity or a NaN.
void check_bf16_values(const Section& s) {
  const size_t n = s.data.size() / sizeof(uint16_t);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, s.data.data() + i * sizeof h, sizeof h);
    if ((h & 0x7f80u) == 0x7f80u)
      throw_runtime("refusing to write a checkpoint: section \"{}\" holds {} at element {}", s.name,
                    (h & 0x007fu) ? "NaN" : "an infinity", i);
  }
}
}  // namespace

void check_finite(const Container& c) {
  for (const Section& s : c.sections) {
    if (s.dtype == DType::f32) check_values<float>(s);
    if (s.dtype == DType::f64) check_values<double>(s);
    if (s.dtype == DType::bf16) check_bf16_values(s);
  }
}

void write_checkpoint(const std::string& path, const Container& c) {
  check_finite(c);
  write_container(path, c);
}

Container read_checkpoint(const std::string& path) { return read_container(path, kCheckpointKind); }

void embed_container(Container& dst, const Container& src, const std::string& prefix, const std::string& meta_key) {
  for (const Section& s : src.sections) {
    Section copy = s;
    copy.name = prefix + s.name;
    dst.add(std::move(copy));
  }
  dst.meta[meta_key] = {{"kind", src.kind}, {"meta", src.meta}, {"section_prefix", prefix}};
}

Container extract_embedded(const Container& from, const std::string& prefix, const std::string& meta_key) {
  const std::string where = from.source.empty() ? "checkpoint" : from.source;
  if (!from.meta.contains(meta_key) || !from.meta[meta_key].is_object() || !from.meta[meta_key].contains("kind"))
    throw_bad_input("{}: no embedded \"{}\" (meta key \"{}\" is missing)", where, meta_key, meta_key);
  Container out;
  const nlohmann::json& m = from.meta[meta_key];
  out.kind = m["kind"].get<std::string>();
  out.meta = m.value("meta", nlohmann::json::object());
  out.source = where + " (embedded " + meta_key + ")";
  for (const Section& s : from.sections)
    if (s.name.compare(0, prefix.size(), prefix) == 0) {
      Section copy = s;
      copy.name = s.name.substr(prefix.size());
      out.sections.push_back(std::move(copy));
    }
  return out;
}

}  // namespace mds::train
