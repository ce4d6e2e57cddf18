// safetensors reading and writing (see safetensors.h).
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "core/error.h"
#include "io/json_text.h"
#include "io/stream.h"

namespace mds {

namespace {

// The header size the reference implementation accepts at most; a larger
// value is a damaged or hostile length field, not a real header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct DtypeName {
  DType dtype;
  const char* name;
};
constexpr DtypeName kDtypes[] = {{DType::u8, "U8"},   {DType::i32, "I32"}, {DType::u32, "U32"},
                                 {DType::i64, "I64"}, {DType::u64, "U64"}, {DType::f32, "F32"},
                                 {DType::f64, "F64"}, {DType::bf16, "BF16"}, {DType::f16, "F16"}};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Byte count of a shape, or false when it overflows 64 bits.
bool shape_bytes(const std::vector<int64_t>& shape, DType t, uint64_t* bytes) {
  uint64_t n = dtype_size(t);
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) return false;
    n *= static_cast<uint64_t>(d);
  }
  *bytes = n;
  return true;
}

}  // namespace

const SafeTensor* SafeTensorsFile::find(const std::string& name) const {
  for (const SafeTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const char* safetensors_dtype_name(DType t) {
  for (const DtypeName& d : kDtypes)
    if (d.dtype == t) return d.name;
  throw_usage("safetensors: no dtype name for mds dtype {}", dtype_name(t));
}

std::vector<uint8_t> encode_safetensors(const SafeTensorsFile& f) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!f.metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : f.metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const SafeTensor& t : f.tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      throw_usage("safetensors: invalid tensor name \"{}\"", t.name);
    if (!seen.insert(t.name).second) throw_usage("safetensors: duplicate tensor name \"{}\"", t.name);
    uint64_t bytes = 0;
    if (!shape_bytes(t.shape, t.dtype, &bytes) || bytes != t.data.size())
      throw_usage("safetensors: tensor \"{}\" holds {} bytes, its shape {} of {} needs {}", t.name, t.data.size(),
                  shape_text(t.shape), safetensors_dtype_name(t.dtype), bytes);
    header[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces (valid JSON whitespace) so the data starts 8-aligned,
  // as the reference writer does: a reader may then map tensors in place.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<uint8_t> out(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* p = out.data() + 8 + text.size();
  for (const SafeTensor& t : f.tensors) {
    if (!t.data.empty()) std::memcpy(p, t.data.data(), t.data.size());
    p += t.data.size();
  }
  return out;
}

void write_safetensors(const std::string& path, const SafeTensorsFile& f) {
  const std::vector<uint8_t> bytes = encode_safetensors(f);
  OutputFile out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

SafeTensorsFile decode_safetensors(const std::vector<uint8_t>& bytes, const std::string& source) {
  SafeTensorsFile f;
  f.source = source;
  if (bytes.size() < 8)
    throw_bad_input("{}: byte 0: expected a safetensors file (an 8-byte header length), found {} bytes", source,
                    bytes.size());
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  if (n > kMaxHeaderBytes || n > bytes.size() - 8)
    throw_bad_input("{}: byte 0: header length {} exceeds {} (expected at most {} bytes)", source, n,
                    n > kMaxHeaderBytes ? "the safetensors limit" : "the rest of the file",
                    std::min<uint64_t>(kMaxHeaderBytes, bytes.size() - 8));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, n);
  nlohmann::json header;
  JsonParseError e;
  if (!parse_json(text, header, &e))
    throw_bad_input("{}: header JSON (bytes 8 to {}): {}", source, 8 + n,
                    e.describe(fmt::format("at byte {}", 8 + e.byte - 1)));
  if (!header.is_object())
    throw_bad_input("{}: byte 8: expected the header to be a JSON object, found {}", source, header.type_name());
  const uint64_t data_start = 8 + n, data_size = bytes.size() - data_start;
  struct Entry {
    SafeTensor t;
    uint64_t begin = 0, end = 0;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object())
        throw_bad_input("{}: header: expected \"__metadata__\" to be an object of strings, found {}", source,
                        v.type_name());
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          throw_bad_input("{}: header: metadata \"{}\" is {}, expected a string", source, m.key(),
                          m.value().type_name());
        f.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw_bad_input("{}: header: tensor \"{}\": expected an object with \"dtype\", \"shape\" and \"data_offsets\"",
                      source, name);
    Entry en;
    en.t.name = name;
    const nlohmann::json& dt = v["dtype"];
    bool known = false;
    if (dt.is_string())
      for (const DtypeName& d : kDtypes)
        if (dt.get<std::string>() == d.name) en.t.dtype = d.dtype, known = true;
    if (!known)
      throw_bad_input("{}: header: tensor \"{}\": dtype {} is not one mds reads (U8, I32, U32, I64, U64, F16, BF16, "
                      "F32, F64)", source, name, dt.dump());
    const nlohmann::json& sh = v["shape"];
    if (!sh.is_array())
      throw_bad_input("{}: header: tensor \"{}\": expected \"shape\" to be a list of integers, found {}", source, name,
                      sh.dump());
    for (const auto& d : sh) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw_bad_input("{}: header: tensor \"{}\": expected \"shape\" to be a list of integers >= 0, found {}",
                        source, name, sh.dump());
      en.t.shape.push_back(d.get<int64_t>());
    }
    const nlohmann::json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw_bad_input("{}: header: tensor \"{}\": expected \"data_offsets\" to be [begin, end], found {}", source, name,
                      off.dump());
    en.begin = off[0].get<uint64_t>();
    en.end = off[1].get<uint64_t>();
    uint64_t need = 0;
    if (!shape_bytes(en.t.shape, en.t.dtype, &need))
      throw_bad_input("{}: header: tensor \"{}\": shape {} is too large", source, name, sh.dump());
    if (en.end < en.begin || en.end - en.begin != need)
      throw_bad_input("{}: header: tensor \"{}\": data_offsets [{}, {}] span {} bytes, expected {} for {} {}", source,
                      name, en.begin, en.end, en.end < en.begin ? 0 : en.end - en.begin, need, dt.get<std::string>(),
                      sh.dump());
    if (en.end > data_size)
      throw_bad_input("{}: byte {}: tensor \"{}\" ends {} bytes past the end of the file (truncated?)", source,
                      bytes.size(), name, en.end - data_size);
    entries.push_back(std::move(en));
  }
  // The data area must be covered exactly: tensors back to back, no overlap,
  // no hole, nothing after the last one (as the reference reader requires).
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const Entry& en : entries) {
    if (en.begin != at)
      throw_bad_input("{}: byte {}: tensor \"{}\" starts at data offset {}, expected {} ({})", source,
                      data_start + en.begin, en.t.name, en.begin, at,
                      en.begin < at ? "it overlaps the tensor before" : "a hole in the data");
    at = en.end;
  }
  if (at != data_size)
    throw_bad_input("{}: byte {}: the tensors end at data offset {}, expected the end of the file ({} more bytes)",
                    source, data_start + at, at, data_size - at);
  for (Entry& en : entries) {
    en.t.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start + en.begin),
                     bytes.begin() + static_cast<std::ptrdiff_t>(data_start + en.end));
    f.tensors.push_back(std::move(en.t));
  }
  return f;
}

SafeTensorsFile read_safetensors(const std::string& path) {
  return decode_safetensors(read_all_bytes(path), path == "-" ? "<stdin>" : path);
}

}  // namespace mds
