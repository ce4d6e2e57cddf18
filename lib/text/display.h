// Printable renderings of raw token bytes for logs, errors and mds-inspect:
// C-style escapes for control bytes, backslash and invalid UTF-8, so any byte
// string shows unambiguously on one line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mds {

// Escapes s: "\n", "\t", "\r", "\\", "\"" and other control bytes or bytes of
// invalid UTF-8 as "\xNN"; valid non-ASCII UTF-8 is kept. If max_bytes > 0 and
// s is longer, only its first max_bytes are shown, followed by "...".
std::string escape_bytes(std::string_view s, size_t max_bytes = 0);

// "[1, 2, 3]" with at most max_items shown ("..." after).
std::string format_ids(const std::vector<uint32_t>& ids, size_t max_items = 16);

}  // namespace mds
