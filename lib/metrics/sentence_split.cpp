// Sentence splitting for ROUGE-Lsum (see sentence_split.h).
#include "metrics/sentence_split.h"

#include <cctype>
#include <cstring>
#include <string>

#include "metrics/unicode_py.h"

namespace mds {

std::vector<std::string_view> split_newlines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    if (nl > start) out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

namespace {

// Abbreviations after which a period does not end a sentence (lower-case).
bool is_abbreviation(std::string_view word) {
  static const char* const kAbbrev[] = {
      "e.g", "i.e", "etc", "al", "fig", "figs", "dr", "mr", "mrs", "ms", "prof", "vs", "no", "nos", "vol",
      "approx", "eq", "eqs", "ref", "refs", "st", "jr", "sr", "inc", "ltd", "co", "cf", "pp", "ca", "resp",
      "sec", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
      "dec", "mt", "gen", "col", "lt", "sgt", "capt", "rev", "est", "viz", "ed", "eds", "ph.d", "u.s"};
  std::string w;
  for (char c : word) w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (w.size() == 1 && std::isalpha(static_cast<unsigned char>(w[0]))) return true;  // initials: "J. Smith"
  for (const char* a : kAbbrev)
    if (w == a) return true;
  return false;
}

bool is_closer(char32_t c) {
  return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x2019 || c == 0x201D || c == 0xBB;
}

bool is_cjk_stop(char32_t c) { return c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == 0xFF0E; }

}  // namespace

std::vector<std::string_view> split_sentences(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::string_view line : split_newlines(text)) {
    const char* base = line.data();
    const char* end = base + line.size();
    const char* p = base;
    size_t start = 0;
    auto cut = [&](size_t at) {
      if (at > start) out.push_back(line.substr(start, at - start));
      start = at;
    };
    while (p < end) {
      const char* here = p;
      char32_t c = utf8_next(p, end);
      if (is_cjk_stop(c)) {
        const char* q = p;
        while (q < end) {  // swallow further stops and closers
          const char* r = q;
          char32_t d = utf8_next(r, end);
          if (!is_cjk_stop(d) && !is_closer(d) && d != 0x300D && d != 0x300F) break;
          q = r;
        }
        cut(static_cast<size_t>(q - base));
        p = q;
        continue;
      }
      if (c != '.' && c != '!' && c != '?') continue;
      // Word before the punctuation (back to whitespace).
      const char* wb = here;
      while (wb > base + start && !std::isspace(static_cast<unsigned char>(wb[-1]))) --wb;
      std::string_view before(wb, static_cast<size_t>(here - wb));
      // Run of further punctuation and closing quotes/brackets.
      const char* q = p;
      while (q < end) {
        const char* r = q;
        char32_t d = utf8_next(r, end);
        if (d != '.' && d != '!' && d != '?' && !is_closer(d)) break;
        q = r;
      }
      if (q >= end) break;  // end of line: the line ends the sentence anyway
      const char* s = q;
      char32_t d = utf8_next(s, end);
      if (!py_isspace(d)) {
        p = q;
        continue;
      }
      // Next word must not start with a lower-case letter.
      const char* nw = s;
      while (nw < end) {
        const char* r = nw;
        if (!py_isspace(utf8_next(r, end))) break;
        nw = r;
      }
      if (nw >= end) break;
      bool lower_next = *nw >= 'a' && *nw <= 'z';
      if (c == '.' && is_abbreviation(before)) {
        p = q;
        continue;
      }
      if (!lower_next) cut(static_cast<size_t>(q - base));
      p = q;
    }
    cut(line.size());
  }
  return out;
}

}  // namespace mds
