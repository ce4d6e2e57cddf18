// The safetensors file format (Hugging Face), read and written by mds itself
// so that weights can leave and enter mds without Python: an 8-byte
// little-endian header length N, N bytes of JSON header (per tensor "dtype",
// "shape" and "data_offsets" into the data area; an optional "__metadata__"
// map of string to string), then the raw little-endian tensor bytes. Layout
// and checks: docs/format.md, "safetensors".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/container.h"

namespace mds {

// One tensor: mds dtype (the safetensors names are mapped by
// safetensors_dtype_name), shape and raw little-endian bytes.
struct SafeTensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

struct SafeTensorsFile {
  std::vector<SafeTensor> tensors;              // in data order
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::string source;                           // where it was read from, for messages

  const SafeTensor* find(const std::string& name) const;
};

// "F32", "BF16", ... for the dtypes safetensors shares with mds; throws usage
// for one it lacks (none today: every mds dtype has a safetensors name).
const char* safetensors_dtype_name(DType t);

// Serialises: header (tensors in the given order, data back to back, header
// padded with spaces to a multiple of 8 bytes so the data is aligned) + data.
// Throws usage for duplicate or empty names, a "__metadata__" tensor name, or
// a tensor whose byte count does not match its shape.
std::vector<uint8_t> encode_safetensors(const SafeTensorsFile& f);
// encode_safetensors written atomically to path ("-" = stdout).
void write_safetensors(const std::string& path, const SafeTensorsFile& f);

// Parses bytes read from `source`. Every malformation throws bad_input naming
// the source, the byte offset where it applies, what was expected and what
// was found: a file shorter than 8 bytes, a header length beyond the file or
// above 100 MB, header JSON that is not an object, an unknown dtype, a shape
// that is not a list of integers >= 0, data_offsets that do not match the
// shape's byte count, overlap, leave a hole or do not end at the file's end,
// and metadata values that are not strings.
SafeTensorsFile decode_safetensors(const std::vector<uint8_t>& bytes, const std::string& source);
// Reads a whole file ("-" = stdin) and decodes it.
SafeTensorsFile read_safetensors(const std::string& path);

}  // namespace mds
