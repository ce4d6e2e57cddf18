// The .mds container: one binary format for tokenizers, token shards and
// checkpoints (docs/design.md §3, byte layout in docs/format.md).
//
// A file is a sequence of one or more *units*. Each unit is a zstd skippable
// frame holding the header (magic, version, kind, JSON metadata, section
// table, header checksum) followed by one ordinary zstd frame per section.
// So a file is a valid stream of zstd frames: units written one after another
// (or files concatenated with cat) form a longer valid file, and shards can be
// streamed through pipes.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/stream.h"

namespace mds {

enum class DType : uint8_t { u8 = 1, i32 = 2, u32 = 3, i64 = 4, u64 = 5, f32 = 6, f64 = 7, bf16 = 8, f16 = 9 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_from_code(uint8_t code, DType& out);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::u32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::u64; }
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }

// A named, typed, shaped array stored little-endian.
struct Section {
  std::string name;
  DType dtype = DType::u8;
  std::vector<int64_t> shape;  // empty shape = 1-D of data.size()/dtype_size
  std::vector<uint8_t> data;

  int64_t element_count() const { return static_cast<int64_t>(data.size() / dtype_size(dtype)); }

  template <typename T>
  static Section from(const std::string& name, const T* values, size_t count, std::vector<int64_t> shape = {}) {
    Section s;
    s.name = name;
    s.dtype = dtype_of<T>();
    s.shape = shape.empty() ? std::vector<int64_t>{static_cast<int64_t>(count)} : std::move(shape);
    s.data.resize(count * sizeof(T));
    if (count) std::memcpy(s.data.data(), values, count * sizeof(T));
    return s;
  }
  template <typename T>
  static Section from(const std::string& name, const std::vector<T>& values, std::vector<int64_t> shape = {}) {
    return from<T>(name, values.data(), values.size(), std::move(shape));
  }
  static Section from_string(const std::string& name, const std::string& bytes) {
    return from<uint8_t>(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  // Copies the data out as T; throws bad_input if the dtype differs.
  template <typename T>
  std::vector<T> to_vector() const {
    check_dtype(dtype_of<T>());
    std::vector<T> out(data.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
    return out;
  }
  std::string to_string() const { return std::string(data.begin(), data.end()); }
  void check_dtype(DType expected) const;
};

struct Container {
  std::string kind;  // "tokenizer", "shard", "checkpoint", ...
  nlohmann::json meta = nlohmann::json::object();
  std::vector<Section> sections;
  std::string source;  // where it was read from, for messages ("" if built in memory)

  const Section* find(const std::string& name) const;
  // Throws bad_input naming the source and the missing section.
  const Section& section(const std::string& name) const;
  Section& add(Section s);
};

constexpr uint16_t kContainerFormatVersion = 1;

// Serialises one unit (header frame + section frames).
std::vector<uint8_t> encode_container(const Container& c, int zstd_level = 3);

// Writes a stream of units to a file (atomically, on commit()) or "-" (stdout).
class ContainerWriter {
 public:
  explicit ContainerWriter(const std::string& path, int zstd_level = 3);
  void write(const Container& c);
  void commit();
  bool is_stdout() const { return out_.is_stdout(); }

 private:
  OutputFile out_;
  int level_;
};

// Convenience: one unit to a file, atomically.
void write_container(const std::string& path, const Container& c, int zstd_level = 3);

// Reads the units of a file or "-" (stdin) one by one. Every malformation
// (wrong magic, newer version, truncation, bad checksum, unknown dtype, a size
// larger than what remains) throws bad_input naming the file, the byte
// offset, what was expected and what was found.
class ContainerReader {
 public:
  explicit ContainerReader(const std::string& path);
  // Next unit; false at a clean end of input.
  bool next(Container& c);
  uint64_t offset() const { return offset_; }
  bool at_end() const { return offset_ >= bytes_.size(); }
  uint64_t remaining() const { return at_end() ? 0 : bytes_.size() - offset_; }
  std::string display_name() const { return name_; }

 private:
  std::string name_;
  std::vector<uint8_t> bytes_;
  uint64_t offset_ = 0;
};

// Reads a single-unit file (tokenizer, checkpoint) and checks its kind (if
// expected_kind is not empty); bytes after the unit are refused (bad_input
// with their offset). Shards are streams: read them with ContainerReader.
Container read_container(const std::string& path, const std::string& expected_kind = "");

}  // namespace mds
