// mds-inspect's library side: builds a JSON report of any .mds file (header,
// metadata, section table; shard statistics; tokenizer details) and renders
// it as text. Later issues add checkpoint views here.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace mds {

struct InspectOptions {
  std::string tokenizer;  // optional tokenizer file to decode shard tokens
  size_t top = 20;        // most frequent tokens listed for shards
  size_t samples = 5;     // tokenizer samples shown
};

// Reads every unit of `path` ("-" = stdin). Throws bad_input on malformed
// files (the container reader names file and offset).
nlohmann::json inspect_file(const std::string& path, const InspectOptions& opts);

// Human-readable rendering of an inspect_file() report.
std::string render_inspect_text(const nlohmann::json& report);

}  // namespace mds
