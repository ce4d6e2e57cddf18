// Pre-tokenizer implementation: character classes over bytes/UTF-8 and the
// GPT-2-like split rule documented in docs/tokenizer.md.
#include "text/pretokenizer.h"

#include <array>

namespace mds {

namespace {

// ASCII classes, built once at compile time.
constexpr std::array<CharClass, 128> make_ascii_table() {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
      t[c] = CharClass::space;
    else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
      t[c] = CharClass::letter;
    else if (c >= '0' && c <= '9')
      t[c] = CharClass::digit;
    else
      t[c] = CharClass::other;
  }
  return t;
}
constexpr std::array<CharClass, 128> kAscii = make_ascii_table();

// Non-ASCII code points that count as punctuation/symbols ("other"); every
// other well-formed non-ASCII code point is a letter. Ranges are Unicode
// blocks chosen to keep quotes, dashes, spaces, arrows, maths and emoji out of
// words without carrying the full Unicode property tables.
bool is_symbol_code_point(uint32_t cp) {
  return cp <= 0xBF                          // C1 controls, Latin-1 punctuation (incl. U+00A0)
         || cp == 0xD7 || cp == 0xF7         // multiplication and division signs
         || (cp >= 0x2000 && cp <= 0x2BFF)   // general punctuation .. misc symbols and arrows
         || (cp >= 0x3000 && cp <= 0x303F)   // CJK symbols and punctuation
         || (cp >= 0xFE10 && cp <= 0xFE1F)   // vertical forms
         || (cp >= 0xFE30 && cp <= 0xFE6F)   // CJK compatibility and small forms
         || cp == 0xFEFF                     // byte order mark
         || (cp >= 0xFF00 && cp <= 0xFF20)   // fullwidth punctuation and digits
         || (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65)
         || (cp >= 0x1F000 && cp <= 0x1FAFF);  // emoji and pictographs
}

// Decodes a well-formed UTF-8 multi-byte sequence at s[i] (s[i] >= 0x80).
// Returns its length, or 0 when it is not well formed.
size_t decode_utf8(const uint8_t* s, size_t n, size_t i, uint32_t* cp_out) {
  unsigned c = s[i];
  size_t len;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
  else return 0;
  if (i + len > n) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((s[i + k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i + k] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  *cp_out = cp;
  return len;
}

inline CharClass class_at(const uint8_t* s, size_t n, size_t i, size_t* len) {
  uint8_t c = s[i];
  if (c < 0x80) {
    *len = 1;
    return kAscii[c];
  }
  uint32_t cp = 0;
  size_t l = decode_utf8(s, n, i, &cp);
  if (l == 0) {
    *len = 1;  // an invalid byte stands alone
    return CharClass::other;
  }
  *len = l;
  return is_symbol_code_point(cp) ? CharClass::other : CharClass::letter;
}

}  // namespace

CharClass char_class_at(const uint8_t* s, size_t n, size_t i, size_t* len) { return class_at(s, n, i, len); }

size_t pretoken_end(const uint8_t* s, size_t n, size_t i) {
  const uint8_t c = s[i];
  // English contractions, as GPT-2: 's 't 'm 'd 're 've 'll (lower case only).
  if (c == '\'' && i + 1 < n) {
    uint8_t d = s[i + 1];
    if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
    if (i + 2 < n) {
      uint8_t e = s[i + 2];
      if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) return i + 3;
    }
  }
  size_t len = 0;
  CharClass cls = class_at(s, n, i, &len);
  size_t start_of_run = i;
  if (cls == CharClass::space) {
    // A single ' ' before a non-space character prefixes the following run.
    if (c == ' ' && i + 1 < n) {
      size_t len2 = 0;
      CharClass next = class_at(s, n, i + 1, &len2);
      if (next != CharClass::space) {
        cls = next;
        len = len2;
        start_of_run = i + 1;
      }
    }
    if (cls == CharClass::space) {
      // Whitespace run (all one-byte characters). If it is followed by a
      // non-space and ends in ' ', that last ' ' is left to prefix the next run.
      size_t k = i + 1;
      while (k < n && s[k] < 0x80 && kAscii[s[k]] == CharClass::space && k - i < kMaxPretokenBytes) ++k;
      if (k < n && k - i >= 2 && s[k - 1] == ' ' && !(s[k] < 0x80 && kAscii[s[k]] == CharClass::space)) --k;
      return k;
    }
  }
  size_t k = start_of_run + len;
  const size_t limit = i + kMaxPretokenBytes;
  while (k < n) {
    uint8_t b = s[k];
    size_t l2;
    CharClass c2;
    if (b < 0x80) {
      l2 = 1;
      c2 = kAscii[b];
    } else {
      c2 = class_at(s, n, k, &l2);
    }
    if (c2 != cls || k + l2 > limit) break;
    k += l2;
  }
  return k;
}

}  // namespace mds
