// 13a tokenizer (sacrebleu tokenizers/tokenizer_13a.py + tokenizer_re.py).
// Python re.sub scans left to right and never overlaps matches; each rule
// below is one such scan over bytes. Working on UTF-8 bytes gives the same
// result as on code points because every character a rule looks at is ASCII
// and continuation bytes can never start a match.
#include "metrics/tokenize_13a.h"

#include "metrics/unicode_py.h"

namespace mds {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (;;) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

// [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII symbols padded with spaces.
bool padded_symbol(unsigned char c) {
  return (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B) || c == 0x2F || (c >= 0x3A && c <= 0x40) ||
         (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_dot_comma(char c) { return c == '.' || c == ','; }

}  // namespace

std::string tokenize_13a(std::string_view line) {
  std::string s(line);
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replace_all(s, "&quot;", "\"");
    replace_all(s, "&amp;", "&");
    replace_all(s, "&lt;", "<");
    replace_all(s, "&gt;", ">");
  }
  // Rule 1 on " " + line + " ".
  std::string a;
  a.reserve(s.size() * 2 + 2);
  a.push_back(' ');
  for (char c : s) {
    if (padded_symbol(static_cast<unsigned char>(c))) {
      a.push_back(' ');
      a.push_back(c);
      a.push_back(' ');
    } else {
      a.push_back(c);
    }
  }
  a.push_back(' ');
  // Rule 2: ([^0-9])([\.,]) -> "\1 \2 "
  std::string b;
  b.reserve(a.size() + a.size() / 4);
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_dot_comma(a[i + 1])) {
      b.push_back(a[i]);
      b.push_back(' ');
      b.push_back(a[i + 1]);
      b.push_back(' ');
      i += 2;
    } else {
      b.push_back(a[i++]);
    }
  }
  // Rule 3: ([\.,])([^0-9]) -> " \1 \2"
  std::string c;
  c.reserve(b.size() + b.size() / 4);
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_dot_comma(b[i]) && !is_digit(b[i + 1])) {
      c.push_back(' ');
      c.push_back(b[i]);
      c.push_back(' ');
      c.push_back(b[i + 1]);
      i += 2;
    } else {
      c.push_back(b[i++]);
    }
  }
  // Rule 4: ([0-9])(-) -> "\1 \2 "
  std::string d;
  d.reserve(c.size() + 16);
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d.push_back(c[i]);
      d.push_back(' ');
      d.push_back('-');
      d.push_back(' ');
      i += 2;
    } else {
      d.push_back(c[i++]);
    }
  }
  // ' '.join(line.split())
  std::string out;
  out.reserve(d.size());
  for (std::string_view tok : py_split(d)) {
    if (!out.empty()) out.push_back(' ');
    out.append(tok);
  }
  return out;
}

std::string sacrebleu_preprocess(std::string_view segment, bool lowercase, BleuTokenizer tok) {
  std::string lowered;
  if (lowercase) {
    lowered = py_lower(segment);
    segment = lowered;
  }
  std::string_view stripped = py_rstrip(segment);
  if (tok == BleuTokenizer::none) return std::string(stripped);
  return tokenize_13a(stripped);
}

}  // namespace mds
