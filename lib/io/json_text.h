// Parsing one JSON text with the limits every reader in mds applies: JSONL
// records (lib/io/jsonl.cpp, lib/sample, lib/text/corpus.cpp), config files,
// --set values, --export-about files and .mds metadata all go through
// parse_json, so a hostile or broken input is refused with a position
// instead of crashing the tool or escaping as a raw nlohmann exception.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mds {

// Deepest nesting of arrays and objects accepted (docs/format.md). nlohmann
// parses any depth without recursion, but copying, dumping and comparing a
// value recurse once per level: 100,000 levels overflow the stack. Real
// records nest a handful of levels; 512 leaves room for any of them and keeps
// the recursion far from the end of even a small thread stack.
inline constexpr int kMaxJsonDepth = 512;

struct JsonParseError {
  enum class Kind {
    syntax,               // not JSON (nlohmann's parse error)
    too_deep,             // more than kMaxJsonDepth nested arrays/objects
    number_out_of_range,  // a number that does not fit a double (1e999)
  };
  Kind kind = Kind::syntax;
  size_t byte = 0;      // offset of the offending byte, counting from 1 as nlohmann does
  std::string detail;   // syntax: nlohmann's message; number_out_of_range: the number (shortened)

  // One sentence naming the problem, what was expected and what was found,
  // placed `at` ("at byte 12", "at line 2, column 5").
  std::string describe(const std::string& at) const;
};

// Parses `text` as exactly one JSON value into `out`. Bad text returns false
// with *error filled (out is then unspecified); it never throws for bad text.
bool parse_json(std::string_view text, nlohmann::json& out, JsonParseError* error);
bool parse_json(std::string_view text, nlohmann::ordered_json& out, JsonParseError* error);

// "line L, column C" of a 1-based byte offset, for messages about
// multi-line files (config files); columns count bytes.
std::string line_and_column(std::string_view text, size_t byte);

}  // namespace mds
