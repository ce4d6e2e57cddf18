// Batched corpus input (corpus.h).
#include "text/corpus.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
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
  nlohmann::json obj;
  switch (parse_jsonl_line(line, obj, error)) {
    case JsonlLine::blank: return LineStatus::blank;
    case JsonlLine::bad: return LineStatus::bad;
    case JsonlLine::object: break;
  }
  out.resize(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string* s = jsonl_string_field(obj, fields[i], error);
    if (!s) return LineStatus::bad;
    out[i] = *s;
  }
  return LineStatus::ok;
}

}  // namespace mds
