// JSON Lines reading with file:line error messages; UTF-8 validation.
#include "io/jsonl.h"

#include "core/error.h"
#include "io/json_text.h"

namespace mds {

bool is_valid_utf8(const std::string& s, size_t* bad_offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  auto fail = [&](size_t at) {
    if (bad_offset) *bad_offset = at;
    return false;
  };
  while (i < n) {
    unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return fail(i);
    if (i + len > n) return fail(i);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return fail(i);
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return fail(i);
    i += len;
  }
  return true;
}

std::string jsonl_parse_message(const JsonParseError& e) {
  if (e.kind == JsonParseError::Kind::syntax)
    return fmt::format("malformed JSON at byte {}: expected one JSON object per line ({})", e.byte, e.detail);
  return e.describe(fmt::format("at byte {} of the line", e.byte));
}

JsonlReader::JsonlReader(const std::string& path, bool skip_bad) : lines_(path), skip_bad_(skip_bad) {}

std::string JsonlReader::where() const { return fmt::format("{}:{}", lines_.display_name(), lines_.line_number()); }

void JsonlReader::bad_record(const std::string& what) {
  if (!skip_bad_) throw_bad_input("{}: {}", where(), what);
  ++skipped_;
}

bool JsonlReader::next(nlohmann::json& obj) {
  while (lines_.next(line_)) {
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.find_first_not_of(" \t") == std::string::npos) continue;
    size_t bad = 0;
    if (!is_valid_utf8(line_, &bad)) {
      bad_record(fmt::format("invalid UTF-8 at byte {} of the line; expected a UTF-8 JSON object", bad));
      continue;
    }
    JsonParseError e;
    if (!parse_json(line_, obj, &e)) {
      bad_record(jsonl_parse_message(e));
      continue;
    }
    if (!obj.is_object()) {
      bad_record(fmt::format("expected a JSON object, found {}", obj.type_name()));
      continue;
    }
    return true;
  }
  return false;
}

bool JsonlReader::get_string(const nlohmann::json& obj, const std::string& key, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    bad_record(fmt::format("missing field \"{}\"", key));
    return false;
  }
  if (!it->is_string()) {
    bad_record(fmt::format("field \"{}\" must be a string, found {}", key, it->type_name()));
    return false;
  }
  out = it->get<std::string>();
  return true;
}

}  // namespace mds
