// JSON Lines reading with file:line error messages; UTF-8 validation.
#include "io/jsonl.h"

#include "core/error.h"
#include "io/json_text.h"

namespace mds {

bool is_valid_utf8(std::string_view s, size_t* bad_offset) {
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

JsonlLine parse_jsonl_line(std::string_view line, nlohmann::json& obj, std::string* why, std::string_view expected) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return JsonlLine::blank;
  size_t bad = 0;
  if (!is_valid_utf8(line, &bad)) {
    *why = fmt::format("invalid UTF-8 at byte {} of the line; expected a UTF-8 JSON object", bad);
    return JsonlLine::bad;
  }
  JsonParseError e;
  if (!parse_json(line, obj, &e)) {
    *why = jsonl_parse_message(e);
    return JsonlLine::bad;
  }
  if (!obj.is_object()) {
    *why = fmt::format("expected {}, found {}", expected, obj.type_name());
    return JsonlLine::bad;
  }
  return JsonlLine::object;
}

const std::string* jsonl_string_field(const nlohmann::json& obj, const std::string& key, std::string* why,
                                      std::string_view about) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    *why = fmt::format("missing field \"{}\"{}", key, about);
    return nullptr;
  }
  if (!it->is_string()) {
    *why = fmt::format("field \"{}\" must be a string, found {}", key, it->type_name());
    return nullptr;
  }
  return &it->get_ref<const std::string&>();
}

JsonlReader::JsonlReader(const std::string& path, bool skip_bad) : lines_(path), skip_bad_(skip_bad) {}

std::string JsonlReader::where() const { return fmt::format("{}:{}", lines_.display_name(), lines_.line_number()); }

void JsonlReader::bad_record(const std::string& what) {
  if (!skip_bad_) throw_bad_input("{}: {}", where(), what);
  ++skipped_;
}

bool JsonlReader::next(nlohmann::json& obj) {
  std::string why;
  while (lines_.next(line_)) {
    switch (parse_jsonl_line(line_, obj, &why)) {
      case JsonlLine::blank: continue;
      case JsonlLine::bad: bad_record(why); continue;
      case JsonlLine::object: return true;
    }
  }
  return false;
}

bool JsonlReader::get_string(const nlohmann::json& obj, const std::string& key, std::string& out) {
  std::string why;
  const std::string* s = jsonl_string_field(obj, key, &why);
  if (!s) {
    bad_record(why);
    return false;
  }
  out = *s;
  return true;
}

}  // namespace mds
