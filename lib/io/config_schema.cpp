// The non-template half of ConfigSchema (config_schema.h): the wording of
// every config message, integer reading, the did-you-mean suggestion and the
// Markdown tables of docs/config.md.
#include "io/config_schema.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace mds::schema {

using nlohmann::json;

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// An integral long double as digits (fmt would print 1e+19 for the largest).
std::string integer_text(long double x) {
  if (x < 0) return fmt::format("{}", static_cast<long long>(x));
  return fmt::format("{}", static_cast<unsigned long long>(x));
}

// A table cell: "|" would end it, a newline would end the row.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string default_text(const json& v) {
  return "`" + (v.is_string() ? "\"" + v.get<std::string>() + "\"" : v.dump()) + "`";
}

}  // namespace

std::string show(const json& v) {
  // Replace: a --set string or a key need not be UTF-8 by the time it is
  // shown, and a message must never fail to print.
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

void bad_value(const std::string& where, const std::string& name, const std::string& expected, const json& found) {
  const std::string at = name.empty() ? where : where + "." + name;
  throw BadValue(fmt::format("{}: expected {}, found {}", at, expected, show(found)), name, expected, found);
}

void unknown_key(const std::string& where, const std::string& key, const std::vector<FieldInfo>& fields) {
  std::string valid, best;
  size_t best_d = 3;  // suggest only a name within two edits
  for (const FieldInfo& f : fields) {
    valid += (valid.empty() ? "" : ", ") + f.name;
    const size_t d = edit_distance(key, f.name);
    if (d < best_d) best_d = d, best = f.name;
  }
  throw_usage("{}: unknown key {}{}; valid keys: {}", where, show(json(key)),
              best.empty() ? "" : " (did you mean \"" + best + "\"?)", valid);
}

bool as_integer(const json& v, long double* out) {
  if (v.is_number_unsigned()) {
    *out = static_cast<long double>(v.get<uint64_t>());
    return true;
  }
  if (v.is_number_integer()) {
    *out = static_cast<long double>(v.get<int64_t>());
    return true;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d) {
      *out = d;
      return true;
    }
  }
  return false;
}

std::string integer_range(long double lo, long double hi, bool hi_is_type_limit) {
  if (hi_is_type_limit) return "an integer >= " + integer_text(lo);
  return "an integer in [" + integer_text(lo) + ", " + integer_text(hi) + "]";
}

std::string number_range(double lo, bool lo_open, double hi, bool hi_open) {
  if (std::isinf(hi)) return fmt::format("a number {} {}", lo_open ? ">" : ">=", lo);
  return fmt::format("a number in {}{}, {}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
}

std::string markdown_tables(const std::vector<FieldInfo>& fields, const std::string& section) {
  bool any_source = false;
  for (const FieldInfo& f : fields)
    if (f.section == section && !f.source.empty()) any_source = true;
  std::string out = any_source ? "| key | type | default | accepts | meaning | source |\n|---|---|---|---|---|---|\n"
                               : "| key | type | default | accepts | meaning |\n|---|---|---|---|---|\n";
  for (const FieldInfo& f : fields) {
    if (f.section != section) continue;
    out += fmt::format("| `{}` | {} | {} | {} | {} |", f.name, cell(f.type), default_text(f.default_value),
                       cell(f.accepts), cell(f.doc));
    if (any_source) out += " " + cell(f.source) + " |";
    out += "\n";
  }
  return out;
}

}  // namespace mds::schema
