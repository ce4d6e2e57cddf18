// Reading and writing .mds containers. Byte layout: docs/format.md.
// The reader validates everything before trusting it: frame bounds, magic,
// version, header checksum, then each field, then each section's size,
// decompressed size and checksum, so a damaged file always produces a message
// with the file name and byte offset instead of a crash.
#include "io/container.h"

#include <zstd.h>

#include "core/crc32.h"
#include "io/json_text.h"

namespace mds {

namespace {

constexpr uint32_t kUnitMagic = 0x184D2A5Eu;   // a zstd skippable-frame magic (0x184D2A50..5F)
constexpr uint32_t kZstdFrameMagic = 0xFD2FB528u;
constexpr char kHeaderMagic[4] = {'M', 'D', 'S', 'F'};
constexpr int kMaxDims = 8;

void put_u8(std::vector<uint8_t>& b, uint8_t v) { b.push_back(v); }
void put_u16(std::vector<uint8_t>& b, uint16_t v) {
  for (int i = 0; i < 2; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_bytes(std::vector<uint8_t>& b, const void* p, size_t n) {
  const auto* c = static_cast<const uint8_t*>(p);
  b.insert(b.end(), c, c + n);
}

uint64_t get_le(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt::format("{}{:02X}", i ? " " : "", p[i]);
  return s;
}

// Bounds-checked cursor over the header payload; offsets in messages are
// absolute file offsets.
class Cursor {
 public:
  Cursor(const std::string& file, const uint8_t* base, uint64_t size, uint64_t file_offset)
      : file_(file), base_(base), size_(size), file_offset_(file_offset) {}
  uint64_t get(int n, const char* field) {
    need(static_cast<uint64_t>(n), field);
    uint64_t v = get_le(base_ + pos_, n);
    pos_ += static_cast<uint64_t>(n);
    return v;
  }
  std::string get_string(uint64_t n, const char* field) {
    need(n, field);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), n);
    pos_ += n;
    return s;
  }
  uint64_t offset() const { return file_offset_ + pos_; }
  uint64_t pos() const { return pos_; }

 private:
  void need(uint64_t n, const char* field) {
    if (n > size_ - pos_)
      throw_bad_input("{}: offset {}: header field '{}' needs {} bytes but the header frame has only {} left "
                      "(corrupt or truncated header)",
                      file_, file_offset_ + pos_, field, n, size_ - pos_);
  }
  const std::string& file_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t file_offset_;
  uint64_t pos_ = 0;
};

}  // namespace

size_t dtype_size(DType t) {
  switch (t) {
    case DType::u8: return 1;
    case DType::bf16:
    case DType::f16: return 2;
    case DType::i32:
    case DType::u32:
    case DType::f32: return 4;
    case DType::i64:
    case DType::u64:
    case DType::f64: return 8;
  }
  return 1;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::u8: return "u8";
    case DType::i32: return "i32";
    case DType::u32: return "u32";
    case DType::i64: return "i64";
    case DType::u64: return "u64";
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
  }
  return "?";
}

bool dtype_from_code(uint8_t code, DType& out) {
  if (code < 1 || code > 9) return false;
  out = static_cast<DType>(code);
  return true;
}

void Section::check_dtype(DType expected) const {
  if (dtype != expected)
    throw_bad_input("section '{}': expected dtype {}, found {}", name, dtype_name(expected), dtype_name(dtype));
}

const Section* Container::find(const std::string& name) const {
  for (const auto& s : sections)
    if (s.name == name) return &s;
  return nullptr;
}

const Section& Container::section(const std::string& name) const {
  if (const Section* s = find(name)) return *s;
  throw_bad_input("{}: {} container has no section '{}' (found {} sections)", source.empty() ? "<memory>" : source,
                  kind, name, sections.size());
}

Section& Container::add(Section s) {
  if (find(s.name)) throw_runtime("container: duplicate section name '{}'", s.name);
  sections.push_back(std::move(s));
  return sections.back();
}

std::vector<uint8_t> encode_container(const Container& c, int zstd_level) {
  if (c.kind.empty() || c.kind.size() > 255) throw_runtime("container: kind must be 1..255 bytes, got {}", c.kind.size());
  std::vector<std::vector<uint8_t>> frames;
  frames.reserve(c.sections.size());
  std::vector<uint8_t> header;
  put_bytes(header, kHeaderMagic, 4);
  put_u16(header, kContainerFormatVersion);
  put_u16(header, 0);  // flags, reserved
  put_u16(header, static_cast<uint16_t>(c.kind.size()));
  put_bytes(header, c.kind.data(), c.kind.size());
  // Metadata strings come from outside too (file names in provenance, which
  // Linux lets be any bytes): bytes that are not UTF-8 are written as U+FFFD
  // rather than making the file unwritable (nlohmann would throw).
  const std::string meta = c.meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  put_u64(header, meta.size());
  put_bytes(header, meta.data(), meta.size());
  put_u32(header, static_cast<uint32_t>(c.sections.size()));
  for (const Section& s : c.sections) {
    if (s.name.empty() || s.name.size() > 65535) throw_runtime("container: bad section name length {}", s.name.size());
    if (s.shape.size() > kMaxDims) throw_runtime("section '{}': more than {} dimensions", s.name, kMaxDims);
    int64_t count = 1;
    for (int64_t d : s.shape) count *= d;
    if (static_cast<uint64_t>(count) * dtype_size(s.dtype) != s.data.size())
      throw_runtime("section '{}': shape holds {} elements of {} but data has {} bytes", s.name, count,
                    dtype_name(s.dtype), s.data.size());
    std::vector<uint8_t> frame(ZSTD_compressBound(s.data.size()));
    size_t got = ZSTD_compress(frame.data(), frame.size(), s.data.data(), s.data.size(), zstd_level);
    if (ZSTD_isError(got)) throw_runtime("section '{}': zstd compression failed: {}", s.name, ZSTD_getErrorName(got));
    frame.resize(got);
    put_u16(header, static_cast<uint16_t>(s.name.size()));
    put_bytes(header, s.name.data(), s.name.size());
    put_u8(header, static_cast<uint8_t>(s.dtype));
    put_u8(header, static_cast<uint8_t>(s.shape.size()));
    for (int64_t d : s.shape) put_u64(header, static_cast<uint64_t>(d));
    put_u64(header, s.data.size());
    put_u64(header, frame.size());
    put_u32(header, crc32(s.data.data(), s.data.size()));
    frames.push_back(std::move(frame));
  }
  put_u32(header, crc32(header.data(), header.size()));
  if (header.size() > 0xFFFFFFFFull) throw_runtime("container: header larger than 4 GiB");

  std::vector<uint8_t> out;
  size_t total = 8 + header.size();
  for (const auto& f : frames) total += f.size();
  out.reserve(total);
  put_u32(out, kUnitMagic);
  put_u32(out, static_cast<uint32_t>(header.size()));
  put_bytes(out, header.data(), header.size());
  for (const auto& f : frames) put_bytes(out, f.data(), f.size());
  return out;
}

ContainerWriter::ContainerWriter(const std::string& path, int zstd_level) : out_(path), level_(zstd_level) {}

void ContainerWriter::write(const Container& c) {
  std::vector<uint8_t> bytes = encode_container(c, level_);
  out_.write(bytes.data(), bytes.size());
  if (out_.is_stdout()) out_.flush();  // let a downstream pipe start early
}

void ContainerWriter::commit() { out_.commit(); }

void write_container(const std::string& path, const Container& c, int zstd_level) {
  ContainerWriter w(path, zstd_level);
  w.write(c);
  w.commit();
}

ContainerReader::ContainerReader(const std::string& path)
    : name_(path == "-" || path.empty() ? "<stdin>" : path), bytes_(read_all_bytes(path)) {}

bool ContainerReader::next(Container& c) {
  const uint64_t size = bytes_.size();
  if (offset_ == size) {
    if (size == 0) throw_bad_input("{}: empty file: expected an .mds container", name_);
    return false;
  }
  const uint8_t* p = bytes_.data();
  const uint64_t start = offset_;
  if (size - start < 8)
    throw_bad_input("{}: offset {}: truncated: expected an 8-byte unit header, found only {} bytes", name_, start,
                    size - start);
  const uint32_t magic = static_cast<uint32_t>(get_le(p + start, 4));
  if (magic != kUnitMagic) {
    const char* hint = magic == kZstdFrameMagic ? " (this is a plain zstd stream, not an .mds container)" : "";
    throw_bad_input("{}: offset {}: wrong magic: expected 5E 2A 4D 18 (.mds unit), found {}{}", name_, start,
                    hex_bytes(p + start, 4), hint);
  }
  const uint64_t header_size = get_le(p + start + 4, 4);
  if (header_size > size - start - 8)
    throw_bad_input("{}: offset {}: header frame declares {} bytes but only {} remain (truncated file)", name_,
                    start + 4, header_size, size - start - 8);
  const uint8_t* h = p + start + 8;
  const uint64_t h_off = start + 8;
  if (header_size < 12 || std::memcmp(h, kHeaderMagic, 4) != 0)
    throw_bad_input("{}: offset {}: wrong header magic: expected 4D 44 53 46 (\"MDSF\"), found {}", name_, h_off,
                    hex_bytes(h, std::min<uint64_t>(4, header_size)));
  const uint64_t version = get_le(h + 4, 2);
  if (version > kContainerFormatVersion)
    throw_bad_input("{}: offset {}: format version {} is newer than this mds understands (up to {}): "
                    "upgrade mds to read this file",
                    name_, h_off + 4, version, kContainerFormatVersion);
  if (version == 0) throw_bad_input("{}: offset {}: invalid format version 0 (expected 1..{})", name_, h_off + 4,
                                    kContainerFormatVersion);
  const uint32_t stored_crc = static_cast<uint32_t>(get_le(h + header_size - 4, 4));
  const uint32_t actual_crc = crc32(h, header_size - 4);
  if (stored_crc != actual_crc)
    throw_bad_input("{}: offset {}: header checksum mismatch: expected {:08X} (stored), found {:08X} (computed): "
                    "the file is corrupt",
                    name_, h_off + header_size - 4, stored_crc, actual_crc);

  Cursor cur(name_, h, header_size - 4, h_off);
  cur.get(4, "magic");
  cur.get(2, "version");
  // No flag is defined yet: a set bit means a writer this reader predates.
  const uint64_t flags = cur.get(2, "flags");
  if (flags != 0)
    throw_bad_input("{}: offset {}: reserved header flags: expected 0000, found {:04X} (written by a newer mds?)",
                    name_, h_off + 6, flags);
  const uint64_t kind_len = cur.get(2, "kind length");
  c = Container();
  c.source = name_;
  c.kind = cur.get_string(kind_len, "kind");
  const uint64_t meta_off = cur.offset();
  const uint64_t meta_len = cur.get(8, "metadata length");
  const std::string meta = cur.get_string(meta_len, "metadata");
  JsonParseError e;
  if (!parse_json(meta, c.meta, &e)) {
    if (e.kind != JsonParseError::Kind::syntax)  // too deep, or a number beyond a double
      throw_bad_input("{}: offset {}: metadata: {}", name_, meta_off + 8 + e.byte - 1,
                      e.describe(fmt::format("at byte {} of the metadata", e.byte)));
    throw_bad_input("{}: offset {}: metadata is not valid JSON: {}", name_, meta_off + 8, e.detail);
  }
  const uint64_t count = cur.get(4, "section count");
  // Each section entry needs at least 30 bytes: a count beyond that cannot fit.
  if (count > (header_size - cur.pos()) / 30 + 1)
    throw_bad_input("{}: offset {}: section count {} is larger than the header can hold", name_, cur.offset() - 4,
                    count);

  uint64_t data_off = start + 8 + header_size;
  std::vector<uint8_t> payload_crcs;
  c.sections.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    Section s;
    const uint64_t entry_off = cur.offset();
    const uint64_t name_len = cur.get(2, "section name length");
    s.name = cur.get_string(name_len, "section name");
    const uint64_t dtype_off = cur.offset();
    const auto code = static_cast<uint8_t>(cur.get(1, "dtype"));
    if (!dtype_from_code(code, s.dtype))
      throw_bad_input("{}: offset {}: section '{}' has unknown dtype code {} (expected 1..9: u8 i32 u32 i64 u64 "
                      "f32 f64 bf16 f16)",
                      name_, dtype_off, s.name, code);
    const uint64_t ndim = cur.get(1, "ndim");
    if (ndim > kMaxDims)
      throw_bad_input("{}: offset {}: section '{}' has {} dimensions (at most {})", name_, dtype_off + 1, s.name, ndim,
                      kMaxDims);
    uint64_t elements = 1;
    for (uint64_t d = 0; d < ndim; ++d) {
      const uint64_t dim = cur.get(8, "dimension");
      if (dim > (1ull << 40) || (dim && elements > (1ull << 50) / dim))
        throw_bad_input("{}: offset {}: section '{}' dimension {} = {} is implausibly large", name_,
                        cur.offset() - 8, s.name, d, dim);
      elements *= dim;
      s.shape.push_back(static_cast<int64_t>(dim));
    }
    const uint64_t raw_size = cur.get(8, "raw size");
    const uint64_t stored_size = cur.get(8, "stored size");
    const uint32_t want_crc = static_cast<uint32_t>(cur.get(4, "checksum"));
    if (raw_size != elements * dtype_size(s.dtype))
      throw_bad_input("{}: offset {}: section '{}' shape holds {} {} elements ({} bytes) but declares {} bytes", name_,
                      entry_off, s.name, elements, dtype_name(s.dtype), elements * dtype_size(s.dtype), raw_size);
    if (stored_size > size - data_off)
      throw_bad_input("{}: offset {}: section '{}' declares {} stored bytes but only {} remain (truncated file)",
                      name_, data_off, s.name, stored_size, size - data_off);
    const uint8_t* frame = p + data_off;
    const unsigned long long content = ZSTD_getFrameContentSize(frame, stored_size);
    if (content == ZSTD_CONTENTSIZE_ERROR || content != raw_size)
      throw_bad_input("{}: offset {}: section '{}': expected a zstd frame of {} bytes, found {}", name_, data_off,
                      s.name, raw_size,
                      content == ZSTD_CONTENTSIZE_ERROR ? std::string("no valid zstd frame")
                                                        : fmt::format("a frame of {} bytes", content));
    s.data.resize(raw_size);
    const size_t got = ZSTD_decompress(s.data.data(), s.data.size(), frame, stored_size);
    if (ZSTD_isError(got) || got != raw_size)
      throw_bad_input("{}: offset {}: section '{}': zstd data is corrupt ({})", name_, data_off, s.name,
                      ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
    const uint32_t have_crc = crc32(s.data.data(), s.data.size());
    if (have_crc != want_crc)
      throw_bad_input("{}: offset {}: section '{}' checksum mismatch: expected {:08X}, found {:08X}: the file is "
                      "corrupt",
                      name_, data_off, s.name, want_crc, have_crc);
    data_off += stored_size;
    for (const auto& prev : c.sections)
      if (prev.name == s.name)
        throw_bad_input("{}: offset {}: duplicate section name '{}'", name_, entry_off, s.name);
    c.sections.push_back(std::move(s));
  }
  if (cur.pos() != header_size - 4)
    throw_bad_input("{}: offset {}: {} unexpected bytes at the end of the header", name_, cur.offset(),
                    header_size - 4 - cur.pos());
  offset_ = data_off;
  return true;
}

Container read_container(const std::string& path, const std::string& expected_kind) {
  ContainerReader reader(path);
  Container c;
  reader.next(c);
  if (!expected_kind.empty() && c.kind != expected_kind)
    throw_bad_input("{}: expected an .mds file of kind '{}', found kind '{}'", reader.display_name(), expected_kind,
                    c.kind);
  // A tokenizer or checkpoint is one unit: anything after it is a second
  // file appended by mistake or garbage, never something to ignore.
  if (!reader.at_end())
    throw_bad_input("{}: offset {}: expected the end of the file after the {} unit, found {} more bytes",
                    reader.display_name(), reader.offset(), c.kind, reader.remaining());
  return c;
}

}  // namespace mds
