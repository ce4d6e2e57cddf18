// Batched corpus input (corpus.h).
#include "text/corpus.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_text.h"
#include "io/jsonl.h"

namespace mds {

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

InputFormat resolve_input_format(const std::string& flag, const std::string& path) {
  if (flag == "text") return InputFormat::text;
  if (flag == "jsonl") return InputFormat::jsonl;
  if (flag != "auto") throw_usage("unknown input format \"{}\": expected text, jsonl or auto", flag);
  return (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.zst")) ? InputFormat::jsonl : InputFormat::text;
}

BatchReader::BatchReader(const std::string& path, size_t batch_bytes) : lines_(path), batch_bytes_(batch_bytes) {}

bool BatchReader::next(LineBatch& batch) {
  batch.source = lines_.display_name();
  batch.lines.clear();
  batch.bytes = 0;
  std::string line;
  while (batch.bytes < batch_bytes_ && lines_.next(line)) {
    if (batch.lines.empty()) batch.first_line = lines_.line_number();
    batch.bytes += line.size();
    batch.lines.push_back(std::move(line));
    line.clear();
  }
  return !batch.lines.empty();
}

LineStatus parse_jsonl_fields(std::string_view line, const std::vector<std::string>& fields,
                              std::vector<std::string>& out, std::string* error) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == std::string_view::npos) return LineStatus::blank;
  std::string owned(line);
  size_t bad = 0;
  if (!is_valid_utf8(owned, &bad)) {
    *error = fmt::format("invalid UTF-8 at byte {} of the line; expected a UTF-8 JSON object", bad);
    return LineStatus::bad;
  }
  nlohmann::json obj;
  JsonParseError e;
  if (!parse_json(owned, obj, &e)) {
    *error = jsonl_parse_message(e);
    return LineStatus::bad;
  }
  if (!obj.is_object()) {
    *error = fmt::format("expected a JSON object, found {}", obj.type_name());
    return LineStatus::bad;
  }
  out.resize(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    auto it = obj.find(fields[i]);
    if (it == obj.end()) {
      *error = fmt::format("missing field \"{}\"", fields[i]);
      return LineStatus::bad;
    }
    if (!it->is_string()) {
      *error = fmt::format("field \"{}\" must be a string, found {}", fields[i], it->type_name());
      return LineStatus::bad;
    }
    out[i] = it->get_ref<const std::string&>();
  }
  return LineStatus::ok;
}

}  // namespace mds
