// JSON Lines input shared by every tool: parses one object per line and turns
// malformed lines into errors naming the file and the line (exit code 3), or,
// with skip_bad, counts and skips them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "io/stream.h"

namespace mds {

class JsonlReader {
 public:
  JsonlReader(const std::string& path, bool skip_bad);

  // Next well-formed JSON object. Blank lines are skipped silently (they carry
  // no record). Returns false at end of input.
  bool next(nlohmann::json& obj);

  // Returns field `key` of obj as a string, validating presence, type and
  // UTF-8. On failure: throws bad_input naming file:line, or returns false
  // (and counts the line as skipped) when skip_bad is set.
  bool get_string(const nlohmann::json& obj, const std::string& key, std::string& out);

  uint64_t line_number() const { return lines_.line_number(); }
  uint64_t skipped() const { return skipped_; }
  std::string display_name() const { return lines_.display_name(); }
  // Where the last line came from, "file:line", for messages.
  std::string where() const;
  // Reports a bad record found by the caller: throws, or counts it under skip_bad.
  // Returns normally only when skipping.
  void bad_record(const std::string& what);

 private:
  LineReader lines_;
  bool skip_bad_;
  uint64_t skipped_ = 0;
  std::string line_;
};

// What one line of JSON Lines holds.
enum class JsonlLine { blank, object, bad };

// The one reading of a JSON Lines line, behind every JSONL reader of mds
// (JsonlReader, the corpus reader of text/corpus.h, mds-sample's stream): a
// trailing "\r" is ignored; a line of only spaces and tabs is blank;
// anything else must be UTF-8 holding one JSON object, parsed into obj under
// the limits of io/json_text.h. On bad, *why says what is wrong without the
// "file:line: " prefix; `expected` names the object the reader wants in the
// message for a line that holds another JSON value.
JsonlLine parse_jsonl_line(std::string_view line, nlohmann::json& obj, std::string* why,
                           std::string_view expected = "a JSON object");

// Field `key` of a JSONL object as a string: its address, or nullptr with
// *why set when it is missing or not a string. `about` follows the field's
// name in the "missing field" message (" (the source text)").
const std::string* jsonl_string_field(const nlohmann::json& obj, const std::string& key, std::string* why,
                                      std::string_view about = "");

struct JsonParseError;
// The message for a JSONL line that parse_json (io/json_text.h) refused, in
// the words every JSONL reader uses; the caller prefixes "file:line: ".
std::string jsonl_parse_message(const JsonParseError& e);

// True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// On failure *bad_offset is the byte offset of the first invalid sequence.
bool is_valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

}  // namespace mds
