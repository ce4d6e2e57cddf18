// Python str semantics on UTF-8 (see unicode_py.h); tables come from the
// generated unicode_tables.cpp.
#include "metrics/unicode_py.h"

#include <algorithm>

#include "metrics/unicode_tables.h"

namespace mds {

namespace ut = unicode_tables;

char32_t utf8_next(const char*& p, const char* end) {
  auto c = static_cast<unsigned char>(*p);
  if (c < 0x80) {
    ++p;
    return c;
  }
  int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || end - p < len) {
    ++p;
    return 0xFFFD;
  }
  char32_t cp = c & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(p[k]);
    if ((cc & 0xC0) != 0x80) {
      ++p;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  p += len;
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) out.push_back(utf8_next(p, end));
  return out;
}

bool py_isspace(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
  for (size_t i = 0; i < ut::kSpaceCount; ++i)
    if (ut::kSpaces[i] == cp) return true;
  return false;
}

namespace {

bool in_ranges(const ut::CodeRange* r, size_t n, char32_t cp) {
  const ut::CodeRange* end = r + n;
  const ut::CodeRange* it =
      std::upper_bound(r, end, cp, [](char32_t c, const ut::CodeRange& x) { return c < x.first; });
  if (it == r) return false;
  --it;
  return cp <= it->last;
}

bool case_ignorable(char32_t cp) { return in_ranges(ut::kCaseIgnorable, ut::kCaseIgnorableCount, cp); }
bool cased(char32_t cp) { return in_ranges(ut::kCased, ut::kCasedCount, cp); }

// Simple (one code point) lower-case mapping; returns cp itself when unmapped.
char32_t lower_simple(char32_t cp) {
  const ut::LowerRun* begin = ut::kLowerRuns;
  const ut::LowerRun* end = begin + ut::kLowerRunCount;
  const ut::LowerRun* it =
      std::upper_bound(begin, end, cp, [](char32_t c, const ut::LowerRun& x) { return c < x.first; });
  if (it == begin) return cp;
  --it;
  if (cp > it->last || (cp - it->first) % it->step != 0) return cp;
  return static_cast<char32_t>(static_cast<int64_t>(cp) + it->delta);
}

void append_lower(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    return;
  }
  for (size_t i = 0; i < ut::kLowerSpecialCount; ++i) {
    if (ut::kLowerSpecial[i].cp == cp) {
      for (int k = 0; k < ut::kLowerSpecial[i].len; ++k) utf8_append(out, ut::kLowerSpecial[i].out[k]);
      return;
    }
  }
  utf8_append(out, lower_simple(cp));
}

// CPython's handle_capital_sigma: U+03A3 at index i lowers to final sigma
// U+03C2 when preceded by a cased letter (skipping case-ignorables) and not
// followed by one.
char32_t lower_sigma(const std::u32string& s, size_t i) {
  size_t j = i;
  char32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = s[--j];
    if (!case_ignorable(c)) {
      found = true;
      break;
    }
  }
  bool final_sigma = found && cased(c);
  if (final_sigma && i + 1 < s.size()) {
    size_t k = i + 1;
    for (; k < s.size(); ++k) {
      c = s[k];
      if (!case_ignorable(c)) break;
    }
    final_sigma = k == s.size() || !cased(c);
  }
  return final_sigma ? 0x3C2 : 0x3C3;
}

}  // namespace

std::string py_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  // Capital sigma (UTF-8 CE A3) needs context; only then decode the whole string.
  if (s.find("\xCE\xA3") != std::string_view::npos) {
    std::u32string u = utf8_to_u32(s);
    for (size_t i = 0; i < u.size(); ++i) {
      if (u[i] == 0x3A3)
        utf8_append(out, lower_sigma(u, i));
      else
        append_lower(out, u[i]);
    }
    return out;
  }
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    auto c = static_cast<unsigned char>(*p);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++p;
      continue;
    }
    const char* start = p;
    char32_t cp = utf8_next(p, end);
    if (cp == 0xFFFD && p - start == 1) {
      out.push_back(static_cast<char>(c));  // keep a stray byte as it is
      continue;
    }
    append_lower(out, cp);
  }
  return out;
}

namespace {

// Length in bytes of the whitespace code point at p, or 0 if none.
size_t space_len(const char* p, const char* end) {
  auto c = static_cast<unsigned char>(*p);
  if (c < 0x80) return ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) ? 1 : 0;
  if (c != 0xC2 && c != 0xE1 && c != 0xE2 && c != 0xE3) return 0;  // lead bytes of all non-ASCII spaces
  const char* q = p;
  char32_t cp = utf8_next(q, end);
  return py_isspace(cp) ? static_cast<size_t>(q - p) : 0;
}

size_t char_len(const char* p, const char* end) {
  const char* q = p;
  utf8_next(q, end);
  return static_cast<size_t>(q - p);
}

// str.split() with no separator: calls token(t) for each maximal run of
// non-whitespace characters t, in order.
template <typename Token>
void for_each_py_token(std::string_view s, Token token) {
  const char* p = s.data();
  const char* end = p + s.size();
  const char* tok = nullptr;
  while (p < end) {
    size_t sl = space_len(p, end);
    if (sl) {
      if (tok) token(std::string_view(tok, static_cast<size_t>(p - tok)));
      tok = nullptr;
      p += sl;
    } else {
      if (!tok) tok = p;
      p += char_len(p, end);
    }
  }
  if (tok) token(std::string_view(tok, static_cast<size_t>(end - tok)));
}

}  // namespace

std::vector<std::string_view> py_split(std::string_view s) {
  std::vector<std::string_view> out;
  for_each_py_token(s, [&](std::string_view t) { out.push_back(t); });
  return out;
}

size_t py_split_count(std::string_view s) {
  size_t n = 0;
  for_each_py_token(s, [&](std::string_view) { ++n; });
  return n;
}

std::string_view py_rstrip(std::string_view s) {
  // Everything up to the end of the last token: the trailing whitespace run goes.
  size_t keep = 0;
  for_each_py_token(s, [&](std::string_view t) { keep = static_cast<size_t>(t.data() + t.size() - s.data()); });
  return std::string_view(s.data(), keep);
}

std::string_view py_strip(std::string_view s) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p < end) {
    size_t sl = space_len(p, end);
    if (!sl) break;
    p += sl;
  }
  return py_rstrip(std::string_view(p, static_cast<size_t>(end - p)));
}

int unicode_word_class(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) return 1;
    return 0;
  }
  const ut::ClassRange* begin = ut::kWordClasses;
  const ut::ClassRange* end = begin + ut::kWordClassCount;
  const ut::ClassRange* it =
      std::upper_bound(begin, end, cp, [](char32_t c, const ut::ClassRange& x) { return c < x.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->cls : 0;
}

const char* unicode_tables_version() { return ut::kUnicodeVersion; }

}  // namespace mds
