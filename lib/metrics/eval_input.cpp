// mds-eval input readers (see eval_input.h).
#include "metrics/eval_input.h"

#include <fmt/format.h>

#include <memory>

#include "core/error.h"
#include "io/jsonl.h"
#include "io/stream.h"

namespace mds {

namespace {

std::string display(const std::string& path) { return path == "-" ? std::string("<stdin>") : path; }

// What a field holds, for messages: "an empty array" or its JSON type.
std::string found(const nlohmann::json& v) {
  return v.is_array() && v.empty() ? std::string("an empty array") : std::string(v.type_name());
}

// Copies the elements of the array `arr` (field `field`) to out; false (after
// reporting) when one is not a string.
bool read_strings(JsonlReader& reader, const nlohmann::json& arr, const std::string& field, std::vector<std::string>& out) {
  for (const auto& v : arr) {
    if (!v.is_string()) {
      reader.bad_record(fmt::format("field \"{}\" must hold strings, found an element of type {}", field, v.type_name()));
      return false;
    }
    out.push_back(v.get<std::string>());
  }
  return true;
}

// Reads a string or an array of strings; false (after reporting) when malformed.
bool read_refs(JsonlReader& reader, const nlohmann::json& obj, const std::string& field, std::vector<std::string>& out) {
  out.clear();
  auto it = obj.find(field);
  if (it == obj.end()) {
    reader.bad_record(fmt::format("missing field \"{}\" (the reference; set another name with --ref-field)", field));
    return false;
  }
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
    return true;
  }
  if (it->is_array() && !it->empty()) return read_strings(reader, *it, field, out);
  reader.bad_record(
      fmt::format("field \"{}\" must be a string or a non-empty array of strings, found {}", field, found(*it)));
  return false;
}

bool read_candidates(JsonlReader& reader, const nlohmann::json& obj, const std::string& field, bool& present,
                     std::vector<std::string>& out) {
  out.clear();
  auto it = obj.find(field);
  present = it != obj.end();
  if (!present) return true;
  if (!it->is_array() || it->empty()) {
    reader.bad_record(fmt::format("field \"{}\" must be a non-empty array of strings, found {}", field, found(*it)));
    return false;
  }
  return read_strings(reader, *it, field, out);
}

EvalInput read_jsonl(const EvalInputOptions& opt) {
  EvalInput in;
  in.has_hyp = !opt.hyp_field.empty();
  in.source = "jsonl:" + display(opt.input);
  JsonlReader reader(opt.input, opt.skip_bad);
  nlohmann::json obj;
  uint64_t first_without = 0, first_with = 0;
  size_t with = 0;
  while (reader.next(obj)) {
    EvalExample e;
    e.line = reader.line_number();
    if (in.has_hyp && !reader.get_string(obj, opt.hyp_field, e.hyp)) continue;
    if (!read_refs(reader, obj, opt.ref_field, e.refs)) continue;
    if (!opt.candidates_field.empty()) {
      bool present = false;
      if (!read_candidates(reader, obj, opt.candidates_field, present, e.candidates)) continue;
      if (!present && (opt.candidates_required || !in.has_hyp)) {
        reader.bad_record(fmt::format("missing field \"{}\" (the candidates)", opt.candidates_field));
        continue;
      }
      if (present) {
        if (with == 0) {
          first_with = e.line;
          in.candidates_per_example = e.candidates.size();
        } else if (e.candidates.size() != in.candidates_per_example) {
          reader.bad_record(fmt::format("field \"{}\" has {} candidates; expected {} like line {}", opt.candidates_field,
                                        e.candidates.size(), in.candidates_per_example, first_with));
          continue;
        }
        ++with;
      } else if (first_without == 0) {
        first_without = e.line;
      }
    }
    in.examples.push_back(std::move(e));
  }
  in.skipped = reader.skipped();
  if (with > 0 && with < in.examples.size())
    throw_bad_input("{}:{}: missing field \"{}\" although line {} has candidates; give them on every line or on none",
                    display(opt.input), first_without, opt.candidates_field, first_with);
  if (with == 0) in.candidates_per_example = 0;
  return in;
}

// Reads one line of a text file; false at end. Strips a trailing "\r".
bool text_line(LineReader& r, std::string& line) {
  if (!r.next(line)) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

EvalInput read_text(const EvalInputOptions& opt) {
  if (opt.ref_files.empty()) throw_usage("--hyp needs at least one --ref file");
  EvalInput in;
  in.source = "text:" + display(opt.hyp_file);
  for (const auto& r : opt.ref_files) in.source += " vs " + display(r);
  LineReader hyp(opt.hyp_file);
  std::vector<std::unique_ptr<LineReader>> refs;
  for (const auto& r : opt.ref_files) refs.push_back(std::make_unique<LineReader>(r));
  std::string line;
  for (;;) {
    bool got_hyp = text_line(hyp, line);
    EvalExample e;
    e.hyp = line;
    e.line = hyp.line_number();
    size_t ended = 0;
    for (auto& r : refs) {
      if (text_line(*r, line))
        e.refs.push_back(line);
      else
        ++ended;
    }
    if (!got_hyp && ended == refs.size()) break;
    if (!got_hyp || ended > 0) {  // some file ended early: count every file's lines
      while (text_line(hyp, line)) {
      }
      std::string counts = fmt::format("{} has {} lines", display(opt.hyp_file), hyp.line_number());
      for (size_t k = 0; k < refs.size(); ++k) {
        while (text_line(*refs[k], line)) {
        }
        counts += fmt::format(", {} has {} lines", display(opt.ref_files[k]), refs[k]->line_number());
      }
      throw_bad_input("unequal line counts: {}; the hypothesis and reference files must be line-aligned", counts);
    }
    // UTF-8 check of every text of this line.
    std::string bad;
    size_t off = 0;
    if (!is_valid_utf8(e.hyp, &off)) bad = fmt::format("{}:{}: invalid UTF-8 at byte {}", display(opt.hyp_file), e.line, off);
    for (size_t k = 0; bad.empty() && k < refs.size(); ++k)
      if (!is_valid_utf8(e.refs[k], &off))
        bad = fmt::format("{}:{}: invalid UTF-8 at byte {}", display(opt.ref_files[k]), e.line, off);
    if (!bad.empty()) {
      if (!opt.skip_bad) throw_bad_input("{}; expected UTF-8 text (or pass --skip-bad)", bad);
      ++in.skipped;
      continue;
    }
    in.examples.push_back(std::move(e));
  }
  return in;
}

}  // namespace

EvalInput read_eval_input(const EvalInputOptions& opt) {
  if (!opt.hyp_file.empty()) return read_text(opt);
  if (!opt.ref_files.empty()) throw_usage("--ref needs --hyp (plain-text mode)");
  return read_jsonl(opt);
}

}  // namespace mds
