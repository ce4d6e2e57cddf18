// Escaping of byte strings and id lists for messages (display.h).
#include "text/display.h"

#include <fmt/format.h>

#include "text/pretokenizer.h"

namespace mds {

std::string escape_bytes(std::string_view s, size_t max_bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = (max_bytes > 0 && s.size() > max_bytes) ? max_bytes : s.size();
  std::string out;
  out.reserve(n + 8);
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    if (c >= 0x80) {
      size_t len = 1;
      char_class_at(p, s.size(), i, &len);
      if (len > 1 && i + len <= n) {  // well-formed multi-byte character
        out.append(s.substr(i, len));
        i += len;
        continue;
      }
      out += fmt::format("\\x{:02x}", c);
      ++i;
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      default:
        if (c < 0x20 || c == 0x7F)
          out += fmt::format("\\x{:02x}", c);
        else
          out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  if (n < s.size()) out += "...";
  return out;
}

std::string format_ids(const std::vector<uint32_t>& ids, size_t max_items) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i == max_items) {
      out += fmt::format(", ... ({} ids)", ids.size());
      break;
    }
    if (i) out += ", ";
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

}  // namespace mds
